"""Container probes (HTTP GET, TCP socket, exec) with kubelet's timing and thresholds.

A :class:`ProbeWorker` runs one probe of one container instance: it waits
``initialDelaySeconds``, then checks every ``periodSeconds`` with ``timeoutSeconds`` per
check, and reports a *result change* once ``successThreshold`` consecutive successes or
``failureThreshold`` consecutive failures are seen (as kubelet's prober workers do).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["ExecRunner", "ProbeResult", "ProbeSpec", "ProbeWorker", "check_once"]

ExecRunner = Callable[[Sequence[str], float], Awaitable[tuple[int, str]]]
"""Runs a command in the container's namespace with a timeout; returns (exit code, output)."""


@dataclass(frozen=True)
class ProbeResult:
    """One probe check: success and a message saying why not."""

    ok: bool
    message: str = ""


@dataclass(frozen=True)
class ProbeSpec:
    """A ``v1.Probe`` with Kubernetes' defaults applied."""

    handler: Mapping[str, Any]
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_dict(cls, probe: Mapping[str, Any]) -> ProbeSpec:
        """Parse a probe from a pod spec (defaults as the API server would set them)."""
        return cls(
            handler=probe,
            initial_delay=float(probe.get("initialDelaySeconds") or 0),
            period=float(probe.get("periodSeconds") or 10),
            timeout=float(probe.get("timeoutSeconds") or 1),
            success_threshold=int(probe.get("successThreshold") or 1),
            failure_threshold=int(probe.get("failureThreshold") or 3),
        )


def _port(value: Any, ports: Mapping[str, int]) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str) and value in ports:
        return ports[value]
    raise ValueError(f"probe port {value!r} is neither a number nor a named container port")


async def check_once(
    spec: ProbeSpec, *, pod_ip: str, ports: Mapping[str, int], run_exec: ExecRunner
) -> ProbeResult:
    """Run the probe's handler once and report success (HTTP 2xx/3xx, TCP connect, exit 0)."""
    h = spec.handler
    try:
        async with asyncio.timeout(spec.timeout):
            if "httpGet" in h:
                get = h["httpGet"]
                scheme = str(get.get("scheme") or "HTTP").lower()
                host = get.get("host") or pod_ip
                url = f"{scheme}://{host}:{_port(get.get('port'), ports)}{get.get('path') or '/'}"
                headers = {x["name"]: x["value"] for x in get.get("httpHeaders") or []}
                headers.setdefault("User-Agent", "kube-probe/1.36")
                ctx: ssl.SSLContext | bool = False if scheme == "https" else True
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(url, headers=headers, ssl=ctx, allow_redirects=False) as resp,
                ):
                    body = await resp.text(errors="replace")
                    if 200 <= resp.status < 400:
                        return ProbeResult(True)
                    return ProbeResult(
                        False,
                        f"HTTP probe failed with statuscode: {resp.status}"
                        + (f" body: {body[:200]}" if body else ""),
                    )
            if "tcpSocket" in h:
                tcp = h["tcpSocket"]
                port = _port(tcp.get("port"), ports)
                _, writer = await asyncio.open_connection(tcp.get("host") or pod_ip, port)
                writer.close()
                return ProbeResult(True)
            if "exec" in h:
                command = list(h["exec"].get("command") or [])
                code, output = await run_exec(command, spec.timeout)
                if code == 0:
                    return ProbeResult(True)
                return ProbeResult(False, f"command {command!r} exited with {code}: {output}")
            return ProbeResult(False, "probe has no supported handler (httpGet, tcpSocket, exec)")
    except TimeoutError:
        return ProbeResult(False, f"probe timed out after {spec.timeout:g}s")
    except (OSError, aiohttp.ClientError, ValueError) as exc:
        return ProbeResult(False, f"{type(exc).__name__}: {exc}")


class ProbeWorker:
    """Runs one probe until cancelled, calling ``on_change`` when its result flips.

    ``initial`` is the result before any check: False for readiness, True for liveness (a
    container is alive until proven otherwise), None (unknown) for startup: the first
    threshold reached, either way, is a change.
    """

    def __init__(
        self,
        spec: ProbeSpec,
        *,
        initial: bool | None,
        check: Callable[[], Awaitable[ProbeResult]],
        on_change: Callable[[ProbeResult], Awaitable[None]],
        on_failure: Callable[[ProbeResult], Awaitable[None]] | None = None,
    ) -> None:
        self.spec = spec
        self.result = initial
        self._check = check
        self._on_change = on_change
        self._on_failure = on_failure

    async def run(self) -> None:
        """Probe forever (cancel to stop)."""
        await asyncio.sleep(self.spec.initial_delay)
        successes = failures = 0
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            outcome = await self._check()
            if outcome.ok:
                successes, failures = successes + 1, 0
                if self.result is not True and successes >= self.spec.success_threshold:
                    self.result = True
                    await self._on_change(outcome)
            else:
                successes, failures = 0, failures + 1
                if self._on_failure is not None:
                    await self._on_failure(outcome)
                if self.result is not False and failures >= self.spec.failure_threshold:
                    self.result = False
                    await self._on_change(outcome)
            # The period runs from the start of one check to the start of the next.
            await asyncio.sleep(max(0.0, self.spec.period - (loop.time() - started)))
