"""Replays conformance transcripts (tests/conformance/*.json) against an API server.

Our own reading of the rules in tests/conformance's README: values that change from run to
run (resourceVersions, uids, generated names, cluster IPs, continue tokens, timestamps, the
per-run namespace suffix) become numbered placeholders, in the recorded responses as in ours,
so the two can be compared; placeholders in later requests are filled in with the values our
server produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

__all__ = ["Replay", "StepFailure"]

_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TOKEN_VOLUME = re.compile(r"^kube-api-access-[a-z0-9]{5}$")
_PLACEHOLDER = re.compile(r"<(?:(rv|rv-list|rv-bookmark|uid|continue|genname|ip):\d+|run)>")
_TIME_FIELDS = {
    "creationTimestamp", "deletionTimestamp", "lastTransitionTime", "time", "renewTime",
    "acquireTime", "eventTime", "firstTimestamp", "lastTimestamp", "lastUpdateTime",
    "lastProbeTime", "lastHeartbeatTime", "startTime", "startedAt", "finishedAt",
    "lastScaleTime", "lastObservedTime",
}  # fmt: skip
_SHARED = ("rv", "uid", "continue", "genname", "ip")  # numbered per distinct value


class StepFailure(AssertionError):
    """A step answered differently from the recording."""


class Placeholders:
    """Numbered placeholders of one transcript run, both ways (value <-> placeholder)."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.numbers: dict[str, int] = {}
        self.by_value: dict[str, dict[str, str]] = {}
        self.values: dict[str, str] = {}

    def copy(self) -> Placeholders:
        other = Placeholders(self.run)
        other.numbers = dict(self.numbers)
        other.by_value = {k: dict(v) for k, v in self.by_value.items()}
        other.values = dict(self.values)
        return other

    def name(self, family: str, value: str) -> str:
        known = self.by_value.setdefault(family, {})
        if family in _SHARED and value in known:
            return known[value]
        self.numbers[family] = self.numbers.get(family, 0) + 1
        ph = f"<{family}:{self.numbers[family]}>"
        known[value] = ph
        self.values[ph] = value
        return ph

    def lookup(self, value: str, *families: str) -> str | None:
        for fam in families:
            ph = self.by_value.get(fam, {}).get(value)
            if ph is not None:
                return ph
        return None

    # -- requests --------------------------------------------------------------------------

    def fill(self, node: Any) -> Any:
        """A recorded request with our run's values in place of its placeholders."""
        if isinstance(node, dict):
            return {self.fill(k): self.fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.fill(v) for v in node]
        if isinstance(node, str):
            return _PLACEHOLDER.sub(self._value_of, node)
        return node

    def _value_of(self, m: re.Match[str]) -> str:
        if m.group(0) == "<run>":
            return self.run
        if m.group(0) not in self.values:
            raise StepFailure(f"{m.group(0)} was never produced by our server")
        return self.values[m.group(0)]

    # -- responses -------------------------------------------------------------------------

    def normalise(self, body: Any, *, bookmark: bool = False) -> Any:
        """Give placeholders to new values (sorted key order), then rewrite ``body``."""
        self._collect(body, "rv-bookmark" if bookmark else "rv", None)
        return self._rewrite(body, "rv-bookmark" if bookmark else "rv", None)

    @staticmethod
    def _is_list(node: dict[str, Any]) -> bool:
        kind = node.get("kind")
        if isinstance(node.get("items"), list) or kind == "Table":
            return True
        return (
            isinstance(kind, str)
            and kind.endswith("List")
            and isinstance(node.get("metadata"), dict)
        )

    def _collect(self, node: Any, family: str, meta_family: str | None) -> None:
        if isinstance(node, list):
            for item in node:
                self._collect(item, family, None)
            return
        if not isinstance(node, dict):
            return
        if meta_family is not None:
            rv = node.get("resourceVersion")
            if isinstance(rv, str) and rv:
                self.name(meta_family, rv)
            token = node.get("continue")
            if meta_family == "rv-list" and isinstance(token, str) and token:
                self.name("continue", token)
            prefix, name = node.get("generateName"), node.get("name")
            if isinstance(prefix, str) and prefix and isinstance(name, str):
                if name.startswith(prefix) and len(name) > len(prefix):
                    self.name("genname", name)
        for key in sorted(node):
            value = node[key]
            if key == "metadata" and isinstance(value, dict):
                self._collect(value, family, "rv-list" if self._is_list(node) else family)
                continue
            if isinstance(value, str) and value:
                if key == "uid":
                    self.name("uid", value)
                elif key == "resourceVersion" and meta_family is None:
                    self.name("rv", value)
                elif key == "clusterIP" and value != "None":
                    self.name("ip", value)
                elif key == "name" and _TOKEN_VOLUME.match(value):
                    self.name("genname", value)
            elif key == "clusterIPs" and isinstance(value, list):
                for ip in value:
                    if isinstance(ip, str) and ip and ip != "None":
                        self.name("ip", ip)
            self._collect(value, "rv" if key in ("items", "rows") else family, None)

    def _rewrite(self, node: Any, family: str, meta_family: str | None) -> Any:
        if isinstance(node, list):
            return [self._rewrite(item, family, None) for item in node]
        if isinstance(node, str):
            return "<time>" if _RFC3339.match(node) else self.text(node)
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            new_key = self.text(key)
            if key == "metadata" and isinstance(value, dict):
                meta = "rv-list" if self._is_list(node) else family
                out[new_key] = self._rewrite(value, family, meta)
            elif key == "resourceVersion" and isinstance(value, str) and value:
                first = meta_family or "rv"
                order = [first] + [f for f in ("rv", "rv-list", "rv-bookmark") if f != first]
                out[new_key] = self.lookup(value, *order) or value
            elif key in _TIME_FIELDS and isinstance(value, str) and value:
                out[new_key] = "<time>"
            elif key == "managedFields" and isinstance(value, list):
                entries = self._rewrite(value, family, None)
                out[new_key] = sorted(entries, key=_managed_order)
            else:
                child = "rv" if key in ("items", "rows") else family
                out[new_key] = self._rewrite(value, child, None)
        if node.get("kind") == "Table":
            _mask_ages(out)
        return out

    def text(self, s: str) -> str:
        """A string with known values replaced by their placeholders."""
        whole = self.lookup(s, "uid", "genname", "continue", "ip")
        if whole is not None:
            return whole
        inner = [
            (value, ph)
            for fam in ("uid", "genname")
            for value, ph in self.by_value.get(fam, {}).items()
            if value in s
        ]
        for value, ph in sorted(inner, key=lambda pair: -len(pair[0])):
            s = s.replace(value, ph)
        return s.replace(self.run, "<run>") if self.run in s else s


def _managed_order(entry: Any) -> tuple[str, ...]:
    if not isinstance(entry, dict):
        return ("",)
    keys = ("operation", "manager", "apiVersion", "subresource")
    return tuple(str(entry.get(k, "")) for k in keys)


def _mask_ages(table: dict[str, Any]) -> None:
    columns = table.get("columnDefinitions") or []
    ages = [
        i
        for i, c in enumerate(columns)
        if isinstance(c, dict) and (c.get("type") == "date" or c.get("name") == "Age")
    ]
    for row in table.get("rows") or []:
        cells = row.get("cells") if isinstance(row, dict) else None
        for i in ages:
            if isinstance(cells, list) and i < len(cells) and isinstance(cells[i], str):
                cells[i] = "<age>"


# -- comparison -------------------------------------------------------------------------------


def _masked(message: Any) -> Any:
    if not isinstance(message, str):
        return message
    return re.sub(r"\d+", "#", _UUID.sub("<uuid>", message))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def differences(want: Any, got: Any, *, contains: bool, path: str = "body") -> list[str]:
    """How ``got`` differs from ``want`` (exact, or ``want`` as a subset of ``got``)."""
    if isinstance(want, dict) and isinstance(got, dict):
        status = want.get("kind") == "Status" and got.get("kind") == "Status"
        out: list[str] = []
        for key, value in want.items():
            if key not in got:
                out.append(f"{path}.{key}: missing, recorded {json.dumps(value)[:200]}")
            elif status and key == "message":
                if _masked(value) != _masked(got[key]):
                    out.append(f"{path}.message: recorded {value!r}, got {got[key]!r}")
            else:
                out.extend(differences(value, got[key], contains=contains, path=f"{path}.{key}"))
        if not contains:
            out.extend(
                f"{path}.{key}: unexpected {json.dumps(got[key])[:200]}"
                for key in got
                if key not in want
            )
        return out
    if isinstance(want, list) and isinstance(got, list):
        if contains:
            return [
                f"{path}[{i}]: nothing in our list contains {json.dumps(item)[:200]}"
                for i, item in enumerate(want)
                if not any(not differences(item, g, contains=True) for g in got)
            ]
        out = (
            [f"{path}: {len(want)} items recorded, {len(got)} ours"]
            if len(want) != len(got)
            else []
        )
        for i, (w, g) in enumerate(zip(want, got, strict=False)):
            out.extend(differences(w, g, contains=False, path=f"{path}[{i}]"))
        return out
    if _same(want, got):
        return []
    return [f"{path}: recorded {json.dumps(want)[:200]}, got {json.dumps(got)[:200]}"]


def compare(want: dict[str, Any], got: dict[str, Any], mode: str) -> list[str]:
    """Differences between a recorded response and ours under a compare mode."""
    out = []
    if want.get("status") != got.get("status"):
        out.append(f"status: recorded {want.get('status')}, got {got.get('status')}")
    if mode == "status":
        return out
    for header in ("Content-Type", "Warning"):
        recorded = (want.get("headers") or {}).get(header)
        if mode == "contains" and recorded is None:
            continue
        if recorded != (got.get("headers") or {}).get(header):
            out.append(
                f"header {header}: recorded {recorded!r}, got {got['headers'].get(header)!r}"
            )
    if want.get("body_text") is not None or got.get("body_text") is not None:
        if want.get("body_text") != got.get("body_text") and mode == "exact":
            out.append(
                f"text body: recorded {want.get('body_text')!r}, got {got.get('body_text')!r}"
            )
        elif (want.get("body_text") is None) != (got.get("body_text") is None):
            out.append("one body is text, the other JSON")
        return out
    if want.get("body") is None:
        if got.get("body") is not None:
            out.append("body: recorded none")
        return out
    out.extend(differences(want["body"], got.get("body"), contains=mode == "contains"))
    return out


# -- running ----------------------------------------------------------------------------------


@dataclass
class _Stream:
    events: list[Any] = field(default_factory=list)
    taken: int = 0
    closed: bool = False
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    start: dict[str, Any] | None = None
    task: asyncio.Task[None] | None = None


class Replay:
    """Runs one transcript against a server; ``run()`` returns the failures per step."""

    def __init__(self, session: aiohttp.ClientSession, url: str, transcript: dict[str, Any]):
        self.session = session
        self.url = url.rstrip("/")
        self.t = transcript
        alphabet = string.ascii_lowercase + string.digits
        self.names = Placeholders("zq" + "".join(secrets.choice(alphabet) for _ in range(6)))
        self.defaults: dict[str, str] = dict(transcript.get("default_headers") or {})
        self.streams: dict[str, _Stream] = {}

    def _headers(self, extra: dict[str, Any] | None) -> dict[str, str]:
        headers = dict(self.defaults)
        for k, v in (extra or {}).items():
            for existing in [h for h in headers if h.lower() == k.lower()]:
                del headers[existing]
            if v is not None:
                headers[k] = v
        return headers

    def _target(self, req: dict[str, Any]) -> tuple[str, dict[str, str], bytes | None]:
        url = self.url + quote(req["path"], safe="/:@!$&'()*+,;=-._~")
        data = None
        if req.get("body_text") is not None:
            data = req["body_text"].encode()
        elif req.get("body") is not None:
            data = json.dumps(req["body"]).encode()
        return url, dict(req.get("query") or {}), data

    async def _send(self, req: dict[str, Any]) -> dict[str, Any]:
        url, query, data = self._target(req)
        async with self.session.request(
            req["method"],
            url,
            params=query,
            data=data,
            headers=self._headers(req.get("headers")),
            # A Content-Type only when the step sends one (aiohttp would add its own).
            skip_auto_headers=("Content-Type",),
        ) as resp:
            raw = await resp.read()
            return _captured(resp, raw)

    async def run(self, *, first_failure: bool = False) -> list[str]:
        """Every failing step, with its differences (only the first with ``first_failure``)."""
        failures: list[str] = []
        for path in self.t.get("cleanup", []):
            await self._send({"method": "DELETE", "path": self.names.fill(path)})
        try:
            for step in self.t["steps"]:
                try:
                    diffs = await self._step(step)
                except StepFailure as e:
                    diffs = [str(e)]
                if diffs:
                    failures.append(f"{step['id']}: " + "\n    ".join(diffs))
                    if first_failure:
                        break
        finally:
            for stream in self.streams.values():
                if stream.task is not None:
                    stream.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                        await stream.task
        return failures

    async def _step(self, step: dict[str, Any]) -> list[str]:
        kind = step["kind"]
        if kind == "request":
            return await self._request(step)
        if kind == "watch_start":
            return await self._watch_start(step)
        return await self._watch_collect(step)

    async def _request(self, step: dict[str, Any]) -> list[str]:
        req = self.names.fill(step["request"])
        poll = step.get("poll") or {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(poll.get("timeout", 0))
        while True:
            captured = await self._send(req)
            trial = self.names.copy()
            ours = _normalised(trial, captured)
            diffs = compare(step["response"], ours, step.get("compare", "exact"))
            if not diffs or not poll or loop.time() >= deadline:
                break
            await asyncio.sleep(float(poll.get("interval", 0.25)))
        self.names = trial
        return diffs

    async def _watch_start(self, step: dict[str, Any]) -> list[str]:
        req = self.names.fill(step["request"])
        stream = self.streams[step["watch"]] = _Stream()
        stream.task = asyncio.create_task(self._read(req, stream))
        async with stream.changed:
            await asyncio.wait_for(
                stream.changed.wait_for(lambda: stream.start is not None), timeout=30
            )
        assert stream.start is not None
        ours = _normalised(self.names, stream.start)
        return compare(step["response"], ours, step.get("compare", "exact"))

    async def _read(self, req: dict[str, Any], stream: _Stream) -> None:
        url, query, _ = self._target(req)
        try:
            async with self.session.get(
                url, params=query, headers=self._headers(req.get("headers")), timeout=None
            ) as resp:
                if resp.status != 200:
                    start = _captured(resp, await resp.read())
                    async with stream.changed:
                        stream.start, stream.closed = start, True
                        stream.changed.notify_all()
                    return
                async with stream.changed:
                    stream.start = _captured(resp, b"")
                    stream.changed.notify_all()
                async for line in resp.content:
                    if line.strip():
                        async with stream.changed:
                            stream.events.append(json.loads(line))
                            stream.changed.notify_all()
        finally:
            async with stream.changed:
                stream.closed = True
                stream.changed.notify_all()

    async def _watch_collect(self, step: dict[str, Any]) -> list[str]:
        stream = self.streams[step["watch"]]
        want = step["response"]
        count = len(want.get("events", []))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(step.get("timeout", 10))

        async def until(pred: Any, seconds: float) -> None:
            with contextlib.suppress(TimeoutError):
                async with stream.changed:
                    await asyncio.wait_for(stream.changed.wait_for(pred), max(0.0, seconds))

        await until(lambda: len(stream.events) - stream.taken >= count or stream.closed,
                    deadline - loop.time())  # fmt: skip
        if want.get("closed"):
            await until(lambda: stream.closed, deadline - loop.time())
        quiet = float(step.get("quiet", 0))
        if quiet and not stream.closed:
            await until(lambda: len(stream.events) - stream.taken > count or stream.closed, quiet)
            count = len(stream.events) - stream.taken
        got = stream.events[stream.taken : stream.taken + count]
        stream.taken += len(got)
        ours = []
        for event in got:
            bookmark = isinstance(event, dict) and event.get("type") == "BOOKMARK"
            ours.append(self.names.normalise(event, bookmark=bookmark))
        diffs = []
        if len(ours) != len(want.get("events", [])):
            diffs.append(f"events: recorded {len(want.get('events', []))}, got {len(ours)}")
        for i, (w, g) in enumerate(zip(want.get("events", []), ours, strict=False)):
            diffs.extend(
                differences(w, g, contains=step.get("compare") == "contains", path=f"events[{i}]")
            )
        if "closed" in want and want["closed"] != stream.closed:
            diffs.append(f"stream closed: recorded {want['closed']}, got {stream.closed}")
        return diffs


def _captured(resp: aiohttp.ClientResponse, raw: bytes) -> dict[str, Any]:
    headers = {}
    for name in ("Content-Type", "Warning"):
        values = resp.headers.getall(name, [])
        if values:
            headers[name] = ", ".join(values)
    out: dict[str, Any] = {"status": resp.status, "headers": headers, "body": None}
    if raw:
        try:
            out["body"] = json.loads(raw)
        except ValueError:
            out["body_text"] = raw.decode("utf-8", "replace")
    return out


def _normalised(names: Placeholders, captured: dict[str, Any]) -> dict[str, Any]:
    out = {
        "status": captured["status"],
        "headers": {k: names.text(v) for k, v in captured["headers"].items()},
        "body": names.normalise(captured.get("body")),
    }
    if "body_text" in captured:
        out["body_text"] = names.text(captured["body_text"])
    return out
