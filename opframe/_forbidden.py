"""What a reconcile refused by RBAC (a 403 from the API server) tells the user.

An operator dies in production on a missing verb more than on anything else, and the API
server's answer (``services is forbidden: User "system:serviceaccount:ns:sa" cannot create
resource "services" in API group "" in the namespace "default"``) lands in a log nobody reads.
So the worker turns it into one line a user can act on::

    Forbidden: cannot create services in namespace "default": add the verb to the
    operator's Role or ClusterRole (Controller.permits, then opframe rbac generate)

and reports it where ``kubectl describe`` shows it: a ``Warning`` Event (reason ``Forbidden``)
and a ``Forbidden`` condition (status ``True``) in the object's ``status.conditions``, set
back to ``False`` by the next reconcile that succeeds. The wording parsed is the authorization
filter's (``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go``
``forbiddenMessage``); a 403 worded otherwise (a terminating namespace) is passed on as is.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from opframe.conditions import get_condition, set_condition
from opframe.errors import ApiError, Forbidden
from opframe.fencing import NotLeader
from opframe.resource import Condition, Resource

if TYPE_CHECKING:
    from opframe._logging import ContextLogger
    from opframe.client import Client
    from opframe.events import EventRecorder

__all__ = ["CONDITION", "clear_forbidden", "describe_forbidden", "report_forbidden"]

CONDITION = "Forbidden"
"""The condition type that says the last reconcile was refused by RBAC."""

_DENIED = re.compile(
    r'cannot (?P<verb>\S+) (?:resource "(?P<resource>[^"]*)" in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]*)"| at the cluster scope)?'
    r'|path "(?P<path>[^"]*)")'
)


def describe_forbidden(error: Forbidden) -> str:
    """One line naming the verb, resource (with its group) and namespace refused, and the fix."""
    found = _DENIED.search(error.message)
    if found is None:
        return f"Forbidden: {error.message}"
    verb = found["verb"]
    if found["path"] is not None:
        what = f'cannot {verb} path "{found["path"]}"'
    else:
        resource = found["resource"] + (f".{found['group']}" if found["group"] else "")
        where = (
            f' in namespace "{found["namespace"]}"'
            if found["namespace"]
            else " at the cluster scope"
        )
        what = f"cannot {verb} {resource}{where}"
    return (
        f"Forbidden: {what}: add the verb to the operator's Role or ClusterRole "
        "(Controller.permits, then opframe rbac generate)"
    )


async def report_forbidden(
    obj: Resource,
    error: Forbidden,
    *,
    client: Client,
    recorder: EventRecorder,
    logger: ContextLogger,
) -> None:
    """Record the refusal as a Warning Event and a ``Forbidden`` condition on ``obj``.

    Either write may itself be refused (the missing verb may be ``create events`` or
    ``patch .../status``) or fenced (the replica is stepping down); that is logged at debug
    level, the reconcile's own error line having said what matters.
    """
    message = describe_forbidden(error)
    try:
        await recorder.warning(obj, CONDITION, message)
    except NotLeader as exc:  # stepping down: the new leader reconciles (and reports) it
        logger.debug("could not record the %s event: %s", CONDITION, exc)
    await _set(obj, True, "MissingPermission", message, client=client, logger=logger)


async def clear_forbidden(obj: Resource, *, client: Client, logger: ContextLogger) -> None:
    """After a reconcile succeeded: set a ``Forbidden`` condition of ``obj`` back to False."""
    current = get_condition(_conditions(obj), CONDITION)
    if current is not None and current.status == "True":
        await _set(obj, False, "Permitted", "the last reconcile was allowed", client=client,
                   logger=logger)  # fmt: skip


def _conditions(obj: Resource) -> list[Condition] | None:
    conditions = getattr(getattr(obj, "status", None), "conditions", None)
    return conditions if isinstance(conditions, list) else None


async def _set(
    obj: Resource, status: bool, reason: str, message: str, *, client: Client,
    logger: ContextLogger,
) -> None:  # fmt: skip
    # A merge patch replaces a list whole: send every condition the object has now (the
    # reconcile may have written some since the cache's copy), with ours set.
    namespace = obj.metadata.namespace
    try:
        fresh = await client.get(type(obj), obj.name, namespace)
        conditions = [c.model_copy() for c in _conditions(fresh) or []]
        if not set_condition(conditions, CONDITION, status, reason, message,
                             fresh.metadata.generation):  # fmt: skip
            return
        patch: dict[str, Any] = {"status": {"conditions": [c.to_dict() for c in conditions]}}
        await client.patch_status(type(obj), obj.name, patch, namespace=namespace)
    except (ApiError, NotLeader) as exc:  # no status subresource or conditions, refused too,
        # or this replica is stepping down
        logger.debug("could not set the %s condition: %s", CONDITION, exc)
    except Exception as exc:  # the API server unreachable: the report must not stop the worker
        logger.warning("could not set the %s condition: %s: %s", CONDITION,
                       type(exc).__name__, exc)  # fmt: skip
