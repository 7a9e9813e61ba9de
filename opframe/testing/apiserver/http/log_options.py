"""``PodLogOptions`` of ``GET .../pods/NAME/log``: decoded from the query and validated.

Rules of ``pkg/apis/core/validation`` ``ValidatePodLogOptions`` (answered as
``pkg/registry/core/pod/rest/log.go`` does, 422 ``PodLogOptions "NAME" is invalid``):
``tailLines`` >= 0, ``limitBytes`` > 0, ``sinceSeconds`` > 0, and at most one of
``sinceTime`` and ``sinceSeconds``. Applying them is the log provider's job (the kubelet).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opframe.testing.apiserver.errors import Cause, bad_request, invalid
from opframe.testing.apiserver.fielderrors import forbidden
from opframe.testing.apiserver.fielderrors import invalid as field_invalid
from opframe.testing.apiserver.http.request import flag, integer

__all__ = ["log_options"]


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_request(
            f'invalid value for sinceTime: "{value}" is not an RFC3339 time'
        ) from None


def log_options(query: Mapping[str, str], name: str) -> dict[str, Any]:
    """The provider's keyword arguments for the log request ``query`` of pod ``name``.

    Raises:
        StatusError: 400 for a value that does not parse, 422 for one that is out of range.
    """
    tail = integer(query.get("tailLines"), "tailLines")
    limit = integer(query.get("limitBytes"), "limitBytes")
    since_seconds = integer(query.get("sinceSeconds"), "sinceSeconds")
    since_time = _time(query.get("sinceTime"))
    causes: list[Cause] = []
    if tail is not None and tail < 0:
        causes.append(field_invalid("tailLines", tail, "must be greater than or equal to 0"))
    if limit is not None and limit < 1:
        causes.append(field_invalid("limitBytes", limit, "must be greater than 0"))
    if since_seconds is not None and since_time is not None:
        message = "at most one of `sinceTime` or `sinceSeconds` may be specified"
        causes.append(forbidden("", message))
    elif since_seconds is not None and since_seconds < 1:
        causes.append(field_invalid("sinceSeconds", since_seconds, "must be greater than 0"))
    if causes:
        raise invalid("PodLogOptions", name, causes)
    return {
        "follow": flag(query.get("follow")),
        "tail_lines": tail,
        "previous": flag(query.get("previous")),
        "since_seconds": since_seconds,
        "since_time": since_time,
        "timestamps": flag(query.get("timestamps")),
        "limit_bytes": limit,
    }
