"""Helpers for ``metav1.Condition`` lists in a resource's status.

The rules are apimachinery's ``meta.SetStatusCondition``: one condition per ``type``;
``lastTransitionTime`` moves only when ``status`` changes; ``reason``, ``message`` and
``observedGeneration`` are updated in place::

    status.conditions = status.conditions or []
    changed = set_condition(
        status.conditions, "Available", True, reason="QuorumHealthy",
        message="3/3 members healthy", observed_generation=cluster.metadata.generation,
    )
    if changed:
        await client.replace_status(cluster)

``changed`` tells whether a status write is needed at all, so an idle reconcile writes
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from opframe.resource import Condition

__all__ = [
    "ConditionStatus",
    "get_condition",
    "is_false",
    "is_true",
    "remove_condition",
    "set_condition",
]

ConditionStatus = Literal["True", "False", "Unknown"]
"""The three values of ``Condition.status``."""


def _status(value: bool | ConditionStatus) -> ConditionStatus:
    if value is True:
        return "True"
    if value is False:
        return "False"
    if value not in ("True", "False", "Unknown"):
        raise ValueError(f"condition status must be True, False or Unknown, not {value!r}")
    return value


def _now() -> datetime:
    # metav1.Time has whole seconds on the wire; keep the same precision in memory so a
    # condition read back from the server compares equal to the one we set.
    return datetime.now(UTC).replace(microsecond=0)


def get_condition(conditions: Sequence[Condition] | None, type: str) -> Condition | None:
    """The condition of ``type``, or ``None``."""
    for condition in conditions or ():
        if condition.type == type:
            return condition
    return None


def is_true(conditions: Sequence[Condition] | None, type: str) -> bool:
    """Whether the condition of ``type`` exists with status ``True``."""
    condition = get_condition(conditions, type)
    return condition is not None and condition.status == "True"


def is_false(conditions: Sequence[Condition] | None, type: str) -> bool:
    """Whether the condition of ``type`` exists with status ``False``."""
    condition = get_condition(conditions, type)
    return condition is not None and condition.status == "False"


def set_condition(
    conditions: list[Condition],
    type: str,
    status: bool | ConditionStatus,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    *,
    now: datetime | None = None,
) -> bool:
    """Add or update the condition of ``type`` in place; return whether anything changed.

    ``status`` may be a bool. ``lastTransitionTime`` is set to ``now`` (default: the current
    time) for a new condition or a status change, and kept otherwise.
    """
    value = _status(status)
    existing = get_condition(conditions, type)
    if existing is None:
        conditions.append(
            Condition(
                type=type,
                status=value,
                reason=reason,
                message=message,
                observed_generation=observed_generation,
                last_transition_time=now or _now(),
            )
        )
        return True
    changed = False
    if existing.status != value:
        existing.status = value
        existing.last_transition_time = now or _now()
        changed = True
    if existing.reason != reason:
        existing.reason = reason
        changed = True
    if existing.message != message:
        existing.message = message
        changed = True
    if observed_generation is not None and existing.observed_generation != observed_generation:
        existing.observed_generation = observed_generation
        changed = True
    return changed


def remove_condition(conditions: list[Condition], type: str) -> bool:
    """Remove the condition of ``type``; return whether there was one."""
    for index, condition in enumerate(conditions):
        if condition.type == type:
            del conditions[index]
            return True
    return False
