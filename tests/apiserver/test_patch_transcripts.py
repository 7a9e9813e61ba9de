"""Every recorded PATCH of the transcripts, applied by our patch functions to the recorded
previous object, gives the recorded result (before the server's defaulting) or error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opframe.testing.apiserver.errors import StatusError
from opframe.testing.apiserver.merge.patch import json_patch, merge_patch, strategic_merge_patch
from opframe.testing.apiserver.schema.builtin_decoding import decode, drop_unknown
from tests.apiserver._pending import param

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"
PATCH_TYPES = (
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
)
SERVER_META = {"resourceVersion", "generation", "managedFields"}


def _patches() -> Iterator[Any]:
    for file in sorted(CONFORMANCE.glob("*.json")):
        state: dict[str, Any] = {}
        for step in json.loads(file.read_text())["steps"]:
            if step["kind"] != "request":
                continue
            request, response = step["request"], step["response"]
            body = response.get("body")
            path = request["path"]
            content_type = (request.get("headers") or {}).get("Content-Type") or ""
            is_object = isinstance(body, dict) and body.get("kind") not in ("Status", "Scale")
            if (
                request["method"] == "PATCH"
                and content_type in PATCH_TYPES
                and path in state
                and not path.endswith(("/status", "/scale"))
                # 415 for custom resources is the server core's answer, not a patch error.
                and response["status"] != 415
            ):
                yield f"{file.stem}:{step['id']}", content_type, state[path], step
            if request["method"] == "POST" and is_object and response["status"] == 201:
                if not (body.get("metadata") or {}).get("name"):  # reviews store nothing
                    continue
                path = f"{path}/{body['metadata']['name']}"
            dry_run = bool((request.get("query") or {}).get("dryRun"))
            if is_object and "items" not in body and not dry_run and request["method"] != "DELETE":
                state[path] = body


PATCHES = list(_patches())


def _group_kind(obj: dict[str, Any]) -> tuple[str, str]:
    api_version = obj["apiVersion"]
    return (api_version.split("/")[0] if "/" in api_version else ""), obj["kind"]


def _patch(content_type: str, live: dict[str, Any], patch: Any) -> Any:
    if content_type == "application/merge-patch+json":
        return merge_patch(live, patch)
    if content_type == "application/json-patch+json":
        return json_patch(live, patch)
    return strategic_merge_patch(live, patch, *_group_kind(live))


def _contained(ours: Any, recorded: Any) -> bool:
    """``ours`` is ``recorded`` without the values the server defaulted afterwards."""
    if isinstance(ours, dict):
        return isinstance(recorded, dict) and all(
            k in recorded and _contained(v, recorded[k]) for k, v in ours.items()
        )
    if isinstance(ours, list):
        return (
            isinstance(recorded, list)
            and len(ours) == len(recorded)
            and all(map(_contained, ours, recorded))
        )
    # Timestamps are normalised in the recordings (but not in the requests that set them).
    return bool(ours == recorded) or (recorded == "<time>" and isinstance(ours, str))


def _without_server_meta(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop what the server core sets after patching: metadata it owns, and ``status``, which
    the main endpoint of a kind with a status subresource ignores."""
    meta = {k: v for k, v in obj["metadata"].items() if k not in SERVER_META}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


@pytest.mark.parametrize(
    ("content_type", "live", "step"),
    [param(tuple(p[1:]), p[0].split(":")[0], p[0]) for p in PATCHES],
)
def test_recorded_patch_gives_the_recorded_answer(
    content_type: str, live: dict[str, Any], step: dict[str, Any]
) -> None:
    response = step["response"]
    expected = response["body"]
    if (
        response["status"] >= 400
        and expected.get("reason") in ("Invalid", "BadRequest")
        and ("causes" not in (expected.get("details") or {}))
    ):
        with pytest.raises(StatusError) as caught:
            _patch(content_type, live, step["request"]["body"])
        answer = caught.value.body()
        if step["compare"] == "exact":
            assert answer == expected
        else:
            assert (answer["code"], answer["reason"]) == (expected["code"], expected["reason"])
        return
    result = _patch(content_type, live, step["request"]["body"])
    if isinstance(result, dict) and "." not in result.get("apiVersion", "").partition("/")[0]:
        # The server decodes a built-in after patching it, dropping unknown fields.
        group, _, version = str(result.get("apiVersion", "")).rpartition("/")
        drop_unknown(result, decode(group, version, str(result.get("kind")), result))
    if response["status"] >= 400:
        # Refused after patching (validation, resourceVersion precondition): the patch itself
        # applied, and the server core's later steps answer.
        assert isinstance(result, dict)
        return
    assert _contained(_without_server_meta(result), _without_server_meta(expected))
