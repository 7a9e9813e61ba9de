"""Condition helpers follow apimachinery's SetStatusCondition semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opframe.conditions import (
    get_condition,
    is_false,
    is_true,
    remove_condition,
    set_condition,
)
from opframe.resource import Condition

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def available(
    conditions: list[Condition], status: bool | str, *, now: datetime, **kw: object
) -> bool:
    return set_condition(
        conditions,
        "Available",
        status,  # type: ignore[arg-type]
        reason=str(kw.get("reason", "Quorum")),
        message=str(kw.get("message", "ok")),
        observed_generation=kw.get("generation", 1),  # type: ignore[arg-type]
        now=now,
    )


def test_new_condition_is_added_with_transition_time() -> None:
    conditions: list[Condition] = []
    assert available(conditions, True, now=T0)
    assert conditions[0].status == "True"
    assert conditions[0].last_transition_time == T0
    assert conditions[0].observed_generation == 1


def test_setting_the_same_condition_again_reports_no_change() -> None:
    conditions: list[Condition] = []
    available(conditions, True, now=T0)
    assert not available(conditions, True, now=T1)
    assert conditions[0].last_transition_time == T0


def test_status_change_moves_transition_time() -> None:
    conditions: list[Condition] = []
    available(conditions, True, now=T0)
    assert available(conditions, False, now=T1)
    assert conditions[0].status == "False"
    assert conditions[0].last_transition_time == T1


def test_reason_message_and_generation_change_keep_transition_time() -> None:
    conditions: list[Condition] = []
    available(conditions, True, now=T0)
    assert available(conditions, True, now=T1, reason="Scaled", message="5/5", generation=2)
    condition = conditions[0]
    assert (condition.reason, condition.message, condition.observed_generation) == (
        "Scaled",
        "5/5",
        2,
    )
    assert condition.last_transition_time == T0


def test_one_condition_per_type() -> None:
    conditions: list[Condition] = []
    available(conditions, True, now=T0)
    available(conditions, "Unknown", now=T1)
    set_condition(conditions, "Degraded", False, reason="Healthy", now=T0)
    assert [c.type for c in conditions] == ["Available", "Degraded"]


def test_predicates_read_status() -> None:
    conditions: list[Condition] = []
    available(conditions, True, now=T0)
    set_condition(conditions, "Degraded", False, reason="Healthy", now=T0)
    assert is_true(conditions, "Available")
    assert is_false(conditions, "Degraded")
    assert not is_true(conditions, "Degraded")
    assert not is_true(conditions, "Missing") and not is_false(conditions, "Missing")
    assert not is_true(None, "Available")
    assert get_condition(conditions, "Missing") is None


def test_remove_condition() -> None:
    conditions: list[Condition] = []
    available(conditions, True, now=T0)
    assert remove_condition(conditions, "Available")
    assert not remove_condition(conditions, "Available")
    assert conditions == []


def test_invalid_status_is_rejected() -> None:
    with pytest.raises(ValueError, match="True, False or Unknown"):
        set_condition([], "Available", "yes", reason="x")  # type: ignore[arg-type]


def test_default_transition_time_has_whole_seconds() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", True, reason="Up")
    assert conditions[0].last_transition_time.microsecond == 0
