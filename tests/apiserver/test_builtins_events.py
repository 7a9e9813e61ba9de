"""Events (event-create.json) and Leases (lease.json)."""

from __future__ import annotations

import pytest
from apiserver._builtins_transcripts import (
    RUN,
    FakeContext,
    assert_matches,
    request_body,
    response_body,
    strip_system_meta,
)

from opframe.testing.apiserver.builtins import (
    builtin_type,
    convert_event,
    prepare_create,
    prepare_update,
)
from opframe.testing.apiserver.errors import StatusError

CORE = builtin_type("", "events")
EVENTS_V1 = builtin_type("events.k8s.io", "events")
LEASES = builtin_type("coordination.k8s.io", "leases")
NS = f"event-{RUN}"
T = "event-create"
assert CORE is not None and EVENTS_V1 is not None and LEASES is not None


def _create_core(step_id: str) -> dict:
    body = request_body(T, step_id)
    body["metadata"]["namespace"] = NS
    prepare_create(CORE, body, FakeContext())
    return body


def test_core_event_is_stored_with_the_fields_go_always_writes() -> None:
    assert_matches(strip_system_meta(response_body(T, "create")), _create_core("create"))


def test_count_update_keeps_the_event_valid() -> None:
    old = _create_core("create")
    new = {**old, "count": 2, "lastTimestamp": "2024-01-01T00:01:00Z"}
    new["metadata"] = {**old["metadata"], "resourceVersion": "5"}
    prepare_update(CORE, new, old, FakeContext())
    assert_matches(strip_system_meta(response_body(T, "bump-count")), strip_system_meta(new))


def test_core_event_seen_through_events_k8s_io() -> None:
    stored = strip_system_meta(response_body(T, "bump-count"))
    stored.update(firstTimestamp="2024-01-01T00:00:00Z", lastTimestamp="2024-01-01T00:01:00Z")
    expected = strip_system_meta(response_body(T, "events-k8s-io-view"))
    assert_matches(expected, convert_event(stored, "events.k8s.io/v1"))


def test_involved_object_in_another_namespace_is_invalid() -> None:
    with pytest.raises(StatusError) as err:
        _create_core("invalid-event")
    assert err.value.body() == response_body(T, "invalid-event")


def test_events_v1_create_and_its_core_view() -> None:
    body = request_body(T, "create-events-v1")
    body["metadata"]["namespace"] = NS
    prepare_create(EVENTS_V1, body, FakeContext())
    assert_matches(strip_system_meta(response_body(T, "create-events-v1")), body)
    core = convert_event(body, "v1")
    assert_matches(strip_system_meta(response_body(T, "core-view-of-events-v1")), core)


def test_events_v1_requires_reporting_fields_with_their_v1_names() -> None:
    body = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e", "namespace": NS},
        "eventTime": "2024-01-01T00:00:00Z",
        "type": "Normal",
        "regarding": {"namespace": NS},
    }
    with pytest.raises(StatusError) as err:
        prepare_create(EVENTS_V1, body, FakeContext())
    assert err.value.details is not None
    fields = [c["field"] for c in err.value.details["causes"]]
    assert fields == ["reportingController", "reportingInstance", "action", "reason"]


def test_lease_create_keeps_the_recorded_spec() -> None:
    body = request_body("lease", "create")
    body["metadata"]["namespace"] = f"lease-{RUN}"
    prepare_create(LEASES, body, FakeContext())
    assert_matches(strip_system_meta(response_body("lease", "create")), body)


def test_lease_with_zero_duration_is_invalid() -> None:
    body = request_body("lease", "invalid-duration")
    body["metadata"]["namespace"] = f"lease-{RUN}"
    with pytest.raises(StatusError) as err:
        prepare_create(LEASES, body, FakeContext())
    assert err.value.body() == response_body("lease", "invalid-duration")


def test_decoding_adds_no_zero_fields_a_writer_would_own() -> None:
    from opframe.testing.apiserver.builtins import default_object

    body = request_body(T, "create")
    default_object(CORE, body)
    assert "reportingComponent" not in body and "eventTime" not in body
    assert body["firstTimestamp"] == "2024-01-01T00:00:00Z"


def _new_event(**fields: object) -> dict:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e1", "namespace": NS},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "example.com/ctl",
        "reportingInstance": "ctl-1",
        "action": "Sync",
        "reason": "Synced",
        "type": "Normal",
        "regarding": {"kind": "Pod", "name": "p", "namespace": NS},
        **fields,
    }


def _refusal(fn: object, *args: object) -> list[tuple[str, str]]:
    with pytest.raises(StatusError) as caught:
        fn(*args)  # type: ignore[operator]
    return [(c["field"], c["message"]) for c in caught.value.details["causes"]]  # type: ignore[index]


def test_an_event_series_counts_at_least_two() -> None:
    """pkg/apis/core/validation/events.go validateEventSeries (events.k8s.io create)."""
    event = _new_event(series={"count": 1, "lastObservedTime": "2026-01-01T00:00:00.000000Z"})
    assert _refusal(prepare_create, EVENTS_V1, event, FakeContext()) == [
        ("series.count", 'Invalid value: "": should be at least 2')
    ]


def test_what_an_event_reports_is_immutable_through_events_v1() -> None:
    """pkg/apis/core/validation/events.go ValidateEventUpdate: reason, type... are immutable."""
    old = _new_event()
    prepare_create(EVENTS_V1, old, FakeContext())
    new = {**old, "reason": "Changed"}
    assert _refusal(prepare_update, EVENTS_V1, new, old, FakeContext()) == [
        ("reason", 'Invalid value: "Changed": field is immutable')
    ]


def test_a_new_series_is_validated_on_update() -> None:
    """pkg/apis/core/validation/events.go ValidateEventUpdate: a changed series is checked."""
    old = _new_event()
    prepare_create(EVENTS_V1, old, FakeContext())
    new = {**old, "series": {"count": 2}}
    assert _refusal(prepare_update, EVENTS_V1, new, old, FakeContext()) == [
        ("series.lastObservedTime", "Required value")
    ]
