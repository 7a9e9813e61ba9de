"""managedFields and server-side apply checked against every recorded write of a real server.

Each transcript is walked in order, keeping the last recorded state of every object. For each
successful write, the recorded response (minus its managedFields) is the object the write
produced; ``update_managed_fields`` (or ``server_side_apply`` for apply patches) on the
previous state must give exactly the recorded managedFields. Fields the real server adds *after*
its field manager ran (namespace finalizers, a pod's service-account token volume, a Service's
allocated IP) are taken out first, since the server core adds them after calling us.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opframe.testing.apiserver.errors import StatusError
from opframe.testing.apiserver.merge.field_manager import (
    decode_apply_body,
    server_side_apply,
    update_managed_fields,
)
from tests.apiserver._pending import param

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"
MANAGER = "conformance-transcript"

# Fields the real server sets after the field manager (strategy PrepareForCreate, admission,
# allocators). A field the request itself carried stays.
ADDED_AFTER_FIELD_MANAGER: dict[str, list[tuple[str, ...]]] = {
    "Namespace": [("spec",), ("status",)],
    "CustomResourceDefinition": [("status",)],
    "Pod": [
        ("spec", "serviceAccount"),
        ("spec", "serviceAccountName"),
        ("spec", "volumes"),
        ("spec", "tolerations"),
        ("spec", "priority"),
        ("spec", "preemptionPolicy"),
        ("spec", "containers", "*", "volumeMounts"),
        ("status",),
    ],
    "ReplicaSet": [("status",)],
    "DaemonSet": [("status",)],
    "ReplicationController": [("status",)],
    "Job": [
        ("spec", "selector"),
        *[
            (*prefix, "labels", label)
            for prefix in (("metadata",), ("spec", "template", "metadata"))
            for label in (
                "batch.kubernetes.io/controller-uid",
                "batch.kubernetes.io/job-name",
                "controller-uid",
                "job-name",
            )
        ],
        ("status",),
    ],
    "CronJob": [("status",)],
    "Ingress": [("status",)],
    "ResourceQuota": [("status",)],
    "HorizontalPodAutoscaler": [("status",)],
    "Event": [
        ("eventTime",),
        ("reportingComponent",),
        ("reportingInstance",),
        ("deprecatedFirstTimestamp",),
        ("deprecatedLastTimestamp",),
    ],
    # The review APIs answer in status; TokenRequest defaults its audiences after recording.
    **{
        kind: [("status",)]
        for kind in (
            "SelfSubjectAccessReview",
            "SubjectAccessReview",
            "LocalSubjectAccessReview",
            "SelfSubjectRulesReview",
            "TokenReview",
            "SelfSubjectReview",
        )
    },
    "TokenRequest": [("status",), ("spec", "audiences"), ("spec", "boundObjectRef")],
    "Service": [
        ("spec", "clusterIP"),
        ("spec", "clusterIPs"),
        ("spec", "ipFamilies"),
        ("spec", "ipFamilyPolicy"),
        ("status",),
    ],
}


def _drop(obj: Any, path: tuple[str, ...], sent: Any) -> None:
    if not isinstance(obj, dict):
        return
    key = path[0]
    sent_value = sent.get(key) if isinstance(sent, dict) else None
    if len(path) == 1:
        if not (isinstance(sent, dict) and key in sent):
            obj.pop(key, None)
        return
    if path[1] == "*":
        for i, item in enumerate(obj.get(key) or []):
            sent_item = (
                sent_value[i] if isinstance(sent_value, list) and i < len(sent_value) else None
            )
            _drop(item, path[2:], sent_item)
        return
    _drop(obj.get(key), path[1:], sent_value)


# The LimitRanger admission plugin (after the field manager) sets what it says it set.
_LIMIT_RANGER = "kubernetes.io/limit-ranger"
ADDED_BY_LIMIT_RANGER = [
    ("spec", "containers", "*", "resources", "limits"),
    ("spec", "containers", "*", "resources", "requests"),
    ("metadata", "annotations"),
]


def _as_seen_by_field_manager(obj: dict[str, Any], sent: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].pop("managedFields", None)
    paths = list(ADDED_AFTER_FIELD_MANAGER.get(out.get("kind", ""), []))
    if _LIMIT_RANGER in (out["metadata"].get("annotations") or {}):
        paths.extend(ADDED_BY_LIMIT_RANGER)
    for path in paths:
        _drop(out, path, sent)
    return out


def _normalised(entries: Any) -> list[dict[str, Any]]:
    # Times differ from run to run, but whether an entry has one is compared.
    out = [{**e, "time": "<time>"} if "time" in e else e for e in entries or []]
    return sorted(
        out, key=lambda e: (e["operation"], e["manager"], e["apiVersion"], e.get("subresource", ""))
    )


def _object_path(path: str) -> tuple[str, str]:
    parts = path.rstrip("/").split("/")
    if parts[-1] in ("status", "scale", "token"):
        return "/".join(parts[:-1]), parts[-1]
    return "/".join(parts), ""


def _writes() -> Iterator[Any]:
    """(transcript, step, previous state, recorded response, CRD schema) for each write."""
    for file in sorted(CONFORMANCE.glob("*.json")):
        transcript = json.loads(file.read_text())
        state: dict[str, dict[str, Any]] = {}
        schemas: dict[str, dict[str, Any]] = {}
        for step in transcript["steps"]:
            if step["kind"] != "request":
                continue
            request, response = step["request"], step["response"]
            body = response.get("body")
            path, _sub = _object_path(request["path"])
            if not isinstance(body, dict) or "metadata" not in body or "items" in body:
                continue
            if not body["metadata"].get("name"):  # reviews (access, token) store nothing
                continue
            if body.get("kind") in ("Status", "Scale"):
                if body.get("kind") == "Status" and request["method"] == "PATCH":
                    yield file.stem, step, state.get(path), None, schemas
                continue
            if body.get("kind") == "CustomResourceDefinition":
                version = body["spec"]["versions"][0]
                schemas[body["spec"]["group"]] = version["schema"]["openAPIV3Schema"]
            if request["method"] == "POST":
                # Reviews (TokenReview, SubjectAccessReview...) are created without a name.
                name = (body.get("metadata") or {}).get("name")
                path = f"{path}/{name}" if name else path
            dry_run = bool((request.get("query") or {}).get("dryRun"))
            if request["method"] in ("POST", "PUT", "PATCH"):
                yield file.stem, step, state.get(path), body, schemas
            if not dry_run and request["method"] != "DELETE":
                state[path] = body


WRITES = [w for w in _writes() if w[3] is not None]
FAILED_APPLIES = [
    w
    for w in _writes()
    if w[3] is None
    and "apply-patch" in ((w[1]["request"].get("headers") or {}).get("Content-Type") or "")
    # Schema validation of the result is the server core's step, not apply's.
    and w[1]["response"]["body"].get("details", {}).get("kind") in (None, "PatchOptions")
]
APPLIES = [
    w
    for w in WRITES
    if "apply-patch" in ((w[1]["request"].get("headers") or {}).get("Content-Type") or "")
]


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _applied(request: dict[str, Any]) -> Any:
    if request.get("body") is not None:
        return request["body"]
    return decode_apply_body(request["body_text"])


def _apply(step: dict[str, Any], old: Any, api_version: str, kind: str, schemas: Any) -> Any:
    request = step["request"]
    query = request.get("query") or {}
    group = _group(api_version)
    return server_side_apply(
        copy.deepcopy(old),
        _applied(request),
        manager=query.get("fieldManager", ""),
        force=query.get("force") == "true",
        api_version=api_version,
        schema=schemas.get(group),
        group=group,
        kind=kind,
        resource="widgets",
        name=_object_path(request["path"])[0].rsplit("/", 1)[-1],
        time="2026-01-01T00:00:00Z",
    )


@pytest.mark.parametrize(
    ("transcript", "step", "old", "recorded", "schemas"),
    [param(tuple(w), w[0], f"{w[0]}:{w[1]['id']}") for w in WRITES],
)
def test_write_records_the_managed_fields_the_real_server_recorded(
    transcript: str, step: Any, old: Any, recorded: Any, schemas: Any
) -> None:
    request = step["request"]
    content_type = (request.get("headers") or {}).get("Content-Type") or ""
    api_version, kind = recorded["apiVersion"], recorded["kind"]
    if "apply-patch" in content_type:
        result = _apply(step, old, api_version, kind, schemas)
    else:
        result = _as_seen_by_field_manager(recorded, request.get("body"))
        update_managed_fields(
            copy.deepcopy(old),
            result,
            manager=(request.get("query") or {}).get("fieldManager", MANAGER),
            operation="Update",
            api_version=api_version,
            subresource=_object_path(request["path"])[1],
            time="2026-01-01T00:00:00Z",
            schema=schemas.get(_group(api_version)),
            group=_group(api_version),
            kind=kind,
        )
    assert _normalised(result["metadata"].get("managedFields")) == _normalised(
        recorded["metadata"].get("managedFields")
    )


@pytest.mark.parametrize(
    ("transcript", "step", "old", "recorded", "schemas"),
    [param(tuple(w), w[0], f"{w[0]}:{w[1]['id']}") for w in FAILED_APPLIES],
)
def test_refused_apply_answers_the_recorded_status(
    transcript: str, step: Any, old: Any, recorded: Any, schemas: Any
) -> None:
    body = step["request"]["body"]
    expected = step["response"]["body"]
    with pytest.raises(StatusError) as caught:
        _apply(step, old, body["apiVersion"], body["kind"], schemas)
    assert caught.value.body() == expected


# Defaults of the transcripts' Widget schema: the server core fills them after apply.
WIDGET_DEFAULTS = {"color", "nested", "replicas"}
SERVER_META = {
    "namespace",
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "managedFields",
}


def _subset(small: Any, big: Any) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(
            k in big and _subset(v, big[k]) for k, v in small.items()
        )
    return bool(small == big)


@pytest.mark.parametrize(
    ("transcript", "step", "old", "recorded", "schemas"),
    [param(tuple(w), w[0], f"{w[0]}:{w[1]['id']}") for w in APPLIES],
)
def test_apply_gives_the_recorded_object_before_defaulting(
    transcript: str, step: Any, old: Any, recorded: Any, schemas: Any
) -> None:
    result = _apply(step, old, recorded["apiVersion"], recorded["kind"], schemas)
    result_meta, recorded_meta = (
        {k: v for k, v in obj["metadata"].items() if k not in SERVER_META}
        for obj in (result, recorded)
    )
    assert result_meta == recorded_meta
    assert _subset(result["spec"], recorded["spec"])
    assert set(recorded["spec"]) - set(result["spec"]) <= WIDGET_DEFAULTS
