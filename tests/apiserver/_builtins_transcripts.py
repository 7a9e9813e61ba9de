"""Helpers for checking pure built-in functions against the recorded conformance transcripts."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

CONFORMANCE = Path(__file__).resolve().parent.parent / "conformance"
RUN = "t1"
_PLACEHOLDER = re.compile(r"<(?P<family>[a-z-]+)(?::\d+)?>")
_SYSTEM_META = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "deletionTimestamp")


def _substitute(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("<run>", RUN)
    if isinstance(value, list):
        return [_substitute(v) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v) for k, v in value.items()}
    return value


def step(transcript: str, step_id: str) -> dict[str, Any]:
    """One step of a transcript, with ``<run>`` replaced by this suite's run id."""
    data = json.loads((CONFORMANCE / f"{transcript}.json").read_text())
    for s in data["steps"]:
        if s["id"] == step_id:
            return _substitute(s)  # type: ignore[no-any-return]
    raise KeyError(step_id)


def request_body(transcript: str, step_id: str) -> dict[str, Any]:
    """A deep copy of a step's request body."""
    return copy.deepcopy(step(transcript, step_id)["request"]["body"])


def response_body(transcript: str, step_id: str) -> Any:
    """The recorded response body of a step."""
    return step(transcript, step_id)["response"]["body"]


def strip_system_meta(obj: Any) -> Any:
    """``obj`` without the metadata the storage layer sets (uid, resourceVersion, times)."""
    out = copy.deepcopy(obj)
    meta = out.get("metadata") if isinstance(out, dict) else None
    if isinstance(meta, dict):
        for key in _SYSTEM_META:
            meta.pop(key, None)
    return out


def assert_matches(
    expected: Any, actual: Any, bindings: dict[str, Any] | None = None, path: str = ""
) -> None:
    """Structural equality where recorded placeholders (``<genname:1>``, ``<ip:1>``, ``<time>``)
    match any value, consistently for numbered ones."""
    bindings = {} if bindings is None else bindings
    if isinstance(expected, str) and _PLACEHOLDER.fullmatch(expected):
        if ":" in expected:
            bound = bindings.setdefault(expected, actual)
            assert bound == actual, f"{path}: {expected} was {bound!r}, now {actual!r}"
        else:
            assert actual is not None, f"{path}: {expected} missing"
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected object, got {actual!r}"
        assert set(expected) == set(actual), (
            f"{path}: keys differ: missing {sorted(set(expected) - set(actual))}, "
            f"extra {sorted(set(actual) - set(expected))}"
        )
        for key in expected:
            assert_matches(expected[key], actual[key], bindings, f"{path}.{key}")
        return
    if isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (
            f"{path}: expected {expected!r}, got {actual!r}"
        )
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_matches(e, a, bindings, f"{path}[{i}]")
        return
    assert type(expected) is type(actual) and expected == actual, (
        f"{path}: expected {expected!r}, got {actual!r}"
    )


class FakeContext:
    """An in-memory :class:`BuiltinContext`: objects by (plural, namespace, name), and a
    cluster-IP pool of 10.0.0.0/24 with 10.0.0.1 taken by the ``kubernetes`` service."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.allocated = {"10.0.0.1"}

    def add(self, plural: str, namespace: str, name: str, obj: dict[str, Any]) -> None:
        self.objects[(plural, namespace, name)] = obj

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, namespace, name))

    def allocate_cluster_ip(self) -> str:
        for last in range(2, 255):
            ip = f"10.0.0.{last}"
            if ip not in self.allocated:
                self.allocated.add(ip)
                return ip
        raise RuntimeError("service range exhausted")

    def release_cluster_ip(self, ip: str) -> None:
        self.allocated.discard(ip)
