"""Day-2 settings of the members: backend quota and auto-compaction, and the probe paths.

Every member runs the same settings, new and replacement members included, because they come
from one function of the spec (:func:`member_flags`) that the pod builder calls. A member whose
pod carries other settings than the spec asks for is rolled by the planner, one at a time
(see ``_plan_settings`` in :mod:`etcd_operator.planner`); :func:`settings_of_args` reads back
what a pod runs from its container args.

etcd refuses every write once its backend reaches the quota (the ``NOSPACE`` alarm): a member
joined with a smaller quota than the rest raises the alarm for the whole cluster, which is why
the settings must be identical everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from etcd_operator.versions import Version

if TYPE_CHECKING:
    from etcd_operator.models import EtcdClusterSpec

__all__ = [
    "DEFAULT_QUOTA_BYTES",
    "member_flags",
    "parse_quantity",
    "quota_bytes",
    "readiness_path",
    "settings_of_args",
]

DEFAULT_QUOTA_BYTES = 2 * 1024**3
"""etcd's own default backend quota (2 GiB) when ``--quota-backend-bytes`` is 0 or unset."""

_FLAGS = ("--quota-backend-bytes=", "--auto-compaction-mode=", "--auto-compaction-retention=")
_SUFFIXES = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([0-9]+)(|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)$")
QUANTITY_PATTERN = r"^[0-9]+(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
"""The byte quantities the spec accepts: an integer with an optional SI or binary suffix."""


def parse_quantity(value: int | str, field: str) -> int:
    """Bytes of a Kubernetes quantity such as ``16Mi`` or ``8G``; ``field`` names it in errors.

    >>> parse_quantity("16Mi", "spec.quotaBackendBytes")
    16777216
    """
    if isinstance(value, int):
        return value
    m = _QUANTITY.match(value.strip())
    if m is None:
        raise ValueError(
            f"{field}: {value!r} is not a byte quantity; use an integer with an optional "
            "suffix such as 8Gi, 512Mi or 2G"
        )
    return int(m.group(1)) * _SUFFIXES[m.group(2)]


def quota_bytes(spec: EtcdClusterSpec) -> int:
    """The backend quota members run with: ``spec.quotaBackendBytes`` or etcd's default."""
    if spec.quota_backend_bytes is None:
        return DEFAULT_QUOTA_BYTES
    return parse_quantity(spec.quota_backend_bytes, "spec.quotaBackendBytes") or (
        DEFAULT_QUOTA_BYTES
    )


def member_flags(spec: EtcdClusterSpec) -> list[str]:
    """The day-2 flags every member runs with, in a fixed order (compared as a whole)."""
    flags: list[str] = []
    if spec.quota_backend_bytes is not None:
        flags.append(f"--quota-backend-bytes={quota_bytes(spec)}")
    compaction = spec.auto_compaction
    if compaction is not None:
        flags.append(f"--auto-compaction-mode={compaction.mode}")
        flags.append(f"--auto-compaction-retention={compaction.retention}")
    return flags


def settings_of_args(args: Sequence[str]) -> str:
    """The day-2 settings a member pod runs with, as one comparable string."""
    return " ".join(a for a in args if a.startswith(_FLAGS))


def readiness_path(version: str) -> str:
    """The HTTP path of the readiness probe: healthy with a NOSPACE alarm raised.

    ``/health`` answers 503 while any alarm is raised (etcd's ``etcdhttp`` health handler), so
    a full database would turn every member not ready and empty the client Service, although
    reads still work and the operator is recovering. ``/health?exclude=NOSPACE`` leaves that
    alarm out; etcd 3.4.23 and 3.5.1 honour it (checked against both binaries, see
    tests/test_day2_settings.py). ``/readyz`` (etcd 3.6) does not fail on NOSPACE either.
    There is no liveness probe at all: restarting a member fixes neither an election nor a
    full database.
    """
    if Version.parse(version) >= Version.parse("3.6.0"):
        return "/readyz"
    return "/health?exclude=NOSPACE"
