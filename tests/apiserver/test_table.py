"""Table output against table-output.json and pod-defaulting.json."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apiserver._builtins_transcripts import assert_matches, request_body, response_body

from opframe.testing.apiserver.builtins import builtin_type
from opframe.testing.apiserver.builtins.printers import human_duration
from opframe.testing.apiserver.http.table import evaluate_jsonpath, to_table
from opframe.testing.apiserver.registry.resource_type import ResourceType

T = "table-output"


def _widgets() -> ResourceType:
    crd = request_body(T, "create-crd")
    version = crd["spec"]["versions"][0]
    return ResourceType(
        group=crd["spec"]["group"],
        version="v1",
        kind="Widget",
        plural="widgets",
        singular="widget",
        namespaced=True,
        custom=True,
        printer_columns=tuple(version["additionalPrinterColumns"]),
    )


def _check(step_id: str, rt: ResourceType, objs: list[dict[str, Any]], **kw: Any) -> None:
    expected = response_body(T, step_id)
    table = to_table(rt, objs, list_meta=expected["metadata"], **kw)
    assert_matches(expected, table)


def test_custom_resource_list_uses_printer_columns_and_null_for_missing() -> None:
    objs = [response_body(T, "create-a"), response_body(T, "status-b")]
    _check("table-cr-list", _widgets(), objs)


def test_custom_resource_single_object() -> None:
    _check("table-cr-single", _widgets(), [response_body(T, "create-a")])


def test_include_object_none_gives_null_objects() -> None:
    objs = [response_body(T, "create-a"), response_body(T, "status-b")]
    _check("table-cr-no-object", _widgets(), objs, include_object="None")


def test_paged_table_keeps_list_metadata() -> None:
    _check("table-cr-paged", _widgets(), [response_body(T, "create-a")])


def test_empty_selection_has_columns_and_no_rows() -> None:
    _check("table-empty-selector", _widgets(), [])


@pytest.mark.parametrize(
    ("step_id", "plural", "create_step"),
    [
        ("table-pods", "pods", "create-pod"),
        ("table-configmaps", "configmaps", "create-configmap"),
        ("table-namespace", "namespaces", "create-namespace"),
    ],
)
def test_builtin_tables_match_the_recording(step_id: str, plural: str, create_step: str) -> None:
    rt = builtin_type("", plural)
    assert rt is not None
    _check(step_id, rt, [response_body(T, create_step)])


def test_pod_table_of_the_defaulting_transcript() -> None:
    rt = builtin_type("", "pods")
    assert rt is not None
    expected = response_body("pod-defaulting", "table")
    objs = [
        response_body("pod-defaulting", "create-guaranteed"),
        response_body("pod-defaulting", "change-image-allowed"),
    ]
    assert_matches(expected, to_table(rt, objs, list_meta=expected["metadata"]))


def test_include_object_returns_the_whole_object() -> None:
    obj = response_body(T, "create-configmap")
    rt = builtin_type("", "configmaps")
    assert rt is not None
    table = to_table(rt, [obj], include_object="Object", list_meta={})
    assert table["rows"][0]["object"] is obj


def test_kinds_without_printer_show_name_and_created_at() -> None:
    rt = builtin_type("rbac.authorization.k8s.io", "roles")
    assert rt is not None
    obj = {"metadata": {"name": "r", "creationTimestamp": "2024-01-01T00:00:00Z"}}
    table = to_table(rt, [obj], list_meta={})
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"] == ["r", "2024-01-01T00:00:00Z"]


def test_date_column_renders_the_age() -> None:
    created = (datetime.now(UTC) - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj = {"metadata": {"name": "a", "creationTimestamp": created}, "spec": {"size": "small"}}
    table = to_table(_widgets(), [obj], list_meta={})
    assert table["rows"][0]["cells"][-1] == "3m"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (200, "3m20s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (2 * 86400 + 5 * 3600, "2d5h"),
        (30 * 86400, "30d"),
        (800 * 86400, "2y70d"),
    ],
)
def test_human_durations(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_jsonpath_filter_selects_a_condition() -> None:
    obj = {
        "status": {
            "conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]
        }
    }
    assert evaluate_jsonpath(obj, '.status.conditions[?(@.type=="Ready")].status') == ["True"]


def test_jsonpath_escaped_dots_and_indexes() -> None:
    obj = {"metadata": {"labels": {"app.kubernetes.io/name": "x"}}, "items": [1, 2]}
    assert evaluate_jsonpath(obj, r".metadata.labels.app\.kubernetes\.io/name") == ["x"]
    assert evaluate_jsonpath(obj, ".items[1]") == [2]
    assert evaluate_jsonpath(obj, ".items[*]") == [1, 2]


def test_events_print_the_same_through_both_apis() -> None:
    from opframe.testing.apiserver.builtins import convert_event

    core_rt, v1_rt = builtin_type("", "events"), builtin_type("events.k8s.io", "events")
    assert core_rt is not None and v1_rt is not None
    core = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "e"},
        "involvedObject": {"kind": "Pod", "name": "p"},
        "reason": "Started",
        "message": " hi ",
        "type": "Normal",
        "source": {"component": "kubelet", "host": "node-1"},
        "count": 2,
        "firstTimestamp": "2024-01-01T00:00:00Z",
        "lastTimestamp": "2024-01-01T00:00:00Z",
    }
    via_core = to_table(core_rt, [core], list_meta={})["rows"][0]["cells"]
    via_v1 = to_table(v1_rt, [convert_event(core, "events.k8s.io/v1")], list_meta={})
    assert via_v1["rows"][0]["cells"] == via_core
    assert via_core[1:7] == ["Normal", "Started", "pod/p", "", "kubelet, node-1", "hi"]
    assert via_core[8:] == [2, "e"]
