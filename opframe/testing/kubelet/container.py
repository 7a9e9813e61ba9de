"""One container of a pod: start, probe, restart with CrashLoopBackOff, report status.

A :class:`ContainerRunner` is the kubelet's per-container loop. It resolves the image, starts
the process, runs its startup, liveness and readiness probes, and after an exit decides by
the pod's ``restartPolicy`` whether and when to start it again. Restart delays follow
kubelet's back-off: the first restart is immediate, then ``base`` doubling to ``cap``
(10 s → 5 min by default), reset after a run longer than twice the cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opframe.testing.kubelet.env import EnvError, expand_all, resolve_env
from opframe.testing.kubelet.images import ImageNotFound, ImageResolver
from opframe.testing.kubelet.logs import LogFile
from opframe.testing.kubelet.probes import ProbeResult, ProbeSpec, ProbeWorker, check_once
from opframe.testing.kubelet.runtime import (
    ContainerProcess,
    Mount,
    Sandbox,
    run_in_sandbox,
)

__all__ = ["Backoff", "ContainerRunner", "PodContext", "now_rfc3339", "should_restart"]

log = logging.getLogger("opframe.kubelet")
Obj = dict[str, Any]


def now_rfc3339() -> str:
    """The current time as Kubernetes writes it (seconds, UTC, ``Z``)."""
    import datetime

    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def should_restart(policy: str, exit_code: int, init: bool = False) -> bool:
    """Whether a container that exited with ``exit_code`` is started again.

    ``Always`` restarts regular containers whatever the code; ``OnFailure`` (and ``Always``
    for init containers, which must complete) restarts on a non-zero code; ``Never`` never.
    """
    if policy == "Never":
        return False
    if policy == "Always" and not init:
        return True
    return exit_code != 0


class Backoff:
    """kubelet's restart back-off: 0, base, 2·base, ... up to cap."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap = base, cap
        self._current = 0.0
        self._used = False

    def next_delay(self, ran_for: float) -> float:
        """The delay before the next start, given how long the last run lasted."""
        if ran_for > 2 * self.cap:
            self._current, self._used = 0.0, False
        if not self._used:
            self._used = True
            return 0.0
        self._current = self.base if self._current == 0 else min(self._current * 2, self.cap)
        return self._current


@dataclass
class PodContext:
    """What a container needs from its pod (filled in by the pod worker)."""

    pod: Obj
    ip: str
    host_ip: str
    hosts_file: Path
    volumes: Mapping[str, Path]
    log_dir: Path
    resolver: ImageResolver
    fetch: Callable[[str, str, str], Awaitable[Obj | None]]
    event: Callable[[str, str, str, str], Awaitable[None]]
    changed: Callable[[], None]
    backoff_base: float
    backoff_cap: float
    service_env: Mapping[str, str] = field(default_factory=dict)

    def pod_view(self) -> Obj:
        """The pod as the downward API sees it: with the addresses the kubelet assigned."""
        status = {
            **(self.pod.get("status") or {}),
            "podIP": self.ip,
            "hostIP": self.host_ip,
            "podIPs": [{"ip": self.ip}],
            "hostIPs": [{"ip": self.host_ip}],
        }
        return {**self.pod, "status": status}

    @property
    def restart_policy(self) -> str:
        """``spec.restartPolicy`` (default Always)."""
        return str(self.pod.get("spec", {}).get("restartPolicy") or "Always")

    @property
    def grace(self) -> float:
        """``spec.terminationGracePeriodSeconds`` (default 30)."""
        value = self.pod.get("spec", {}).get("terminationGracePeriodSeconds")
        return 30.0 if value is None else float(value)


# Probe results before the first check, as kubelet's prober sets them: a container is not
# ready, is alive, and has an unknown startup result until checked.
_PROBE_INITIAL: dict[str, bool | None] = {
    "readinessProbe": False,
    "livenessProbe": True,
    "startupProbe": None,
}
_PROBE_LABELS = {
    "readinessProbe": "Readiness",
    "livenessProbe": "Liveness",
    "startupProbe": "Startup",
}


class ContainerRunner:
    """Runs one container (regular or init) for the lifetime of its pod."""

    def __init__(self, ctx: PodContext, spec: Obj, *, init: bool = False) -> None:
        self.ctx = ctx
        self.spec = spec
        self.name = str(spec["name"])
        self.init = init
        self.state: Obj = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: Obj = {}
        self.restart_count = 0
        self.ready = False
        self.started = False
        self.container_id = ""
        self.image_id = ""
        self.process: ContainerProcess | None = None
        self.logs: list[LogFile] = []
        self.finished = False
        self.succeeded = False
        self._stopping = False
        self._kill_requested = asyncio.Event()
        self._kill_reason = ""
        self._wake = asyncio.Event()
        self._image_changed = False
        self._running_image = ""
        self._backoff = Backoff(ctx.backoff_base, ctx.backoff_cap)
        self._pull_backoff = Backoff(ctx.backoff_base, ctx.backoff_cap)
        ports = {p["name"]: int(p["containerPort"]) for p in spec.get("ports") or [] if "name" in p}
        self._ports = ports
        self._env: dict[str, str] = {}
        self._sandbox: Sandbox | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment the running instance was started with."""
        return dict(self._env)

    def host_argv(self, command: list[str]) -> list[str]:
        """``command`` as the image plays it on the host (``kubectl exec``, exec probes).

        Raises:
            ImageNotFound: the image does not provide the program.
        """
        image = self.ctx.resolver.resolve(str(self.spec.get("image", "")))
        return image.argv(command, [])

    @property
    def field_path(self) -> str:
        """The event ``involvedObject.fieldPath`` of this container."""
        return f"spec.{'initContainers' if self.init else 'containers'}{{{self.name}}}"

    def status(self) -> Obj:
        """This container's ``containerStatuses`` entry."""
        out: Obj = {
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self._running_image or self.spec.get("image", ""),
            "imageID": self.image_id,
            "started": self.started,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out

    def _set(self, state: Obj, *, ready: bool | None = None) -> None:
        self.state = state
        if ready is not None:
            self.ready = ready
        self.ctx.changed()

    async def _wait_or_stop(self, delay: float) -> bool:
        """Wait ``delay`` (a back-off) or until woken; False if the container is stopping."""
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()
        return not self._stopping

    def respec(self, spec: Obj) -> None:
        """The pod's container spec changed: a new image restarts the container with it.

        (Only ``image`` of a pod's containers may change; kubelet restarts the container,
        keeping the pod, its address and its volumes, as the in-place upgrade of etcd
        operators relies on.)
        """
        changed = spec.get("image") != self.spec.get("image")
        self.spec = spec
        if not changed or self.finished:
            return
        self._image_changed = True
        if self.process is not None:
            self._kill_reason = f"Container {self.name} definition changed, will be restarted"
            self._kill_requested.set()
        self._wake.set()

    async def run(self) -> None:
        """Start, watch and restart the container until it is finished or stopped."""
        try:
            await self._run()
        finally:
            # Cancelled (kubelet shutdown) or failed: the process must not outlive us.
            if self.process is not None:
                self.process.kill_group()
                await asyncio.shield(self.process.wait())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            argv = await self._prepare()
            if argv is None:
                continue
            if self.container_id:
                self.restart_count += 1
            proc = await self._start(argv)
            started_at = loop.time()
            code = await self._supervise(proc)
            ran_for = loop.time() - started_at
            if self.finished:
                return  # terminate() already recorded the exit
            terminated = self._terminated(code)
            self.process = None
            self.started = False
            if self._image_changed and not self._stopping:
                self._image_changed = False
                self.last_state = {"terminated": terminated}
                continue
            if self._stopping or not should_restart(self.ctx.restart_policy, code, self.init):
                self.finished, self.succeeded = True, code == 0
                self._set({"terminated": terminated}, ready=False)
                return
            self.last_state = {"terminated": terminated}
            delay = self._backoff.next_delay(ran_for)
            if delay > 0:
                message = (
                    f"back-off {delay:g}s restarting failed container={self.name} "
                    f"pod={self.ctx.pod['metadata']['name']}_{self.ctx.pod['metadata']['namespace']}"
                    f"({self.ctx.pod['metadata']['uid']})"
                )
                self._set(
                    {"waiting": {"reason": "CrashLoopBackOff", "message": message}}, ready=False
                )
                await self.ctx.event(
                    "Warning",
                    "BackOff",
                    "Back-off restarting failed container "
                    f"{self.name} in pod {self.ctx.pod['metadata']['name']}",
                    self.field_path,
                )
            else:
                self._set({"terminated": terminated}, ready=False)
            if not await self._wait_or_stop(delay):
                return

    async def _prepare(self) -> list[str] | None:
        """Resolve image, env and argv; on failure report it, back off, return None."""
        image = str(self.spec.get("image", ""))
        try:
            local = self.ctx.resolver.resolve(image)
        except ImageNotFound as exc:
            await self.ctx.event("Normal", "Pulling", f'Pulling image "{image}"', self.field_path)
            await self.ctx.event(
                "Warning", "Failed", f'Failed to pull image "{image}": {exc}', self.field_path
            )
            await self.ctx.event("Warning", "Failed", "Error: ErrImagePull", self.field_path)
            self._set({"waiting": {"reason": "ErrImagePull", "message": str(exc)}}, ready=False)
            if not await self._wait_or_stop(min(1.0, self.ctx.backoff_base)):
                return None
            message = f'Back-off pulling image "{image}"'
            self._set({"waiting": {"reason": "ImagePullBackOff", "message": message}})
            await self.ctx.event("Normal", "BackOff", message, self.field_path)
            await self.ctx.event("Warning", "Failed", "Error: ImagePullBackOff", self.field_path)
            await self._wait_or_stop(self._pull_backoff.next_delay(0.0) or self.ctx.backoff_base)
            return None
        if not self.image_id:
            await self.ctx.event(
                "Normal",
                "Pulled",
                f'Container image "{image}" already present on machine',
                self.field_path,
            )
        self.image_id = f"local://{image}"
        # The `kubernetes` service's variables (where in-cluster clients find the API
        # server), then the container's own env over them, as kubelet's makeEnvironmentVariables.
        base = {**self.ctx.service_env, "HOSTNAME": self._hostname(), "HOME": "/root"}
        try:
            self._env = await resolve_env(self.spec, self.ctx.pod_view(), self.ctx.fetch, base)
            argv = local.argv(
                expand_all(self.spec.get("command") or [], self._env),
                expand_all(self.spec.get("args") or [], self._env),
            )
        except (EnvError, ImageNotFound) as exc:
            reason = (
                "CreateContainerConfigError" if isinstance(exc, EnvError) else "RunContainerError"
            )
            await self.ctx.event("Warning", "Failed", f"Error: {exc}", self.field_path)
            self._set({"waiting": {"reason": reason, "message": str(exc)}}, ready=False)
            await self._wait_or_stop(max(self._backoff.next_delay(0.0), 0.1))
            return None
        self._sandbox = Sandbox(
            hosts_file=self.ctx.hosts_file,
            hostname=self._hostname(),
            mounts=tuple(self._mounts()),
        )
        return argv

    def _hostname(self) -> str:
        spec = self.ctx.pod.get("spec") or {}
        return str(spec.get("hostname") or self.ctx.pod["metadata"]["name"])

    def _mounts(self) -> list[Mount]:
        mounts = []
        for vm in self.spec.get("volumeMounts") or []:
            source = self.ctx.volumes.get(vm["name"])
            if source is None:
                continue
            if vm.get("subPath"):
                source = source / vm["subPath"]
                if not source.exists():
                    source.mkdir(parents=True)
            mounts.append(Mount(source, vm["mountPath"], bool(vm.get("readOnly"))))
        return mounts

    async def _start(self, argv: list[str]) -> ContainerProcess:
        assert self._sandbox is not None
        self.container_id = f"opframe://{uuid.uuid4().hex}"
        log_file = LogFile(self.ctx.log_dir / self.name / f"{self.restart_count}.log")
        self.logs = [*self.logs[-1:], log_file]
        proc = await ContainerProcess.start(
            argv,
            env=self._env,
            sandbox=self._sandbox,
            log=log_file,
            workdir=self.spec.get("workingDir"),
            stdin=bool(self.spec.get("stdin")),
            tty=bool(self.spec.get("tty")),
        )
        self.process = proc
        self._kill_requested.clear()
        self._image_changed = False
        self._running_image = str(self.spec.get("image", ""))
        has_startup = "startupProbe" in self.spec
        self.started = not has_startup
        self._set(
            {"running": {"startedAt": now_rfc3339()}},
            ready="readinessProbe" not in self.spec and not has_startup and not self.init,
        )
        await self.ctx.event(
            "Normal", "Created", f"Created container: {self.name}", self.field_path
        )
        await self.ctx.event("Normal", "Started", f"Started container {self.name}", self.field_path)
        return proc

    async def _supervise(self, proc: ContainerProcess) -> int:
        """Run the probes while the process lives; return its exit code."""
        async with asyncio.TaskGroup() as tg:
            probes = tg.create_task(self._run_probes(), name=f"probes-{self.name}")
            killer = tg.create_task(self._kill_requested.wait())
            exited = tg.create_task(proc.wait())
            await asyncio.wait([exited, killer], return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                await self.ctx.event("Normal", "Killing", self._kill_reason, self.field_path)
                await proc.stop(self._probe_grace())
            probes.cancel()
            killer.cancel()
            code = await exited
        return code

    def _probe_grace(self) -> float:
        value = (self.spec.get("livenessProbe") or {}).get("terminationGracePeriodSeconds")
        return self.ctx.grace if value is None else float(value)

    async def _check(self, spec: ProbeSpec) -> ProbeResult:
        sandbox = self._sandbox
        assert sandbox is not None

        async def run_exec(argv: Any, time_limit: float) -> tuple[int, str]:
            host_argv = self.host_argv(list(argv))
            return await run_in_sandbox(
                host_argv, env=self._env, sandbox=sandbox, time_limit=time_limit
            )

        return await check_once(spec, pod_ip=self.ctx.ip, ports=self._ports, run_exec=run_exec)

    async def _run_probes(self) -> None:
        """Startup probe first; once it succeeds, readiness and liveness side by side."""
        if "startupProbe" in self.spec:
            started = asyncio.Event()
            async with asyncio.TaskGroup() as tg:
                task = tg.create_task(self._probe_worker("startupProbe", started).run())
                await started.wait()
                task.cancel()
            if "readinessProbe" not in self.spec:
                self._set(self.state, ready=True)
        async with asyncio.TaskGroup() as tg:
            for kind in ("readinessProbe", "livenessProbe"):
                if kind in self.spec:
                    tg.create_task(self._probe_worker(kind).run())

    def _probe_worker(self, kind: str, started: asyncio.Event | None = None) -> ProbeWorker:
        spec = ProbeSpec.from_dict(self.spec[kind])
        label = _PROBE_LABELS[kind]

        async def check() -> ProbeResult:
            return await self._check(spec)

        async def on_failure(result: ProbeResult) -> None:
            await self._unhealthy(label, result)

        async def on_change(result: ProbeResult) -> None:
            if kind == "readinessProbe":
                self._set(self.state, ready=result.ok)
            elif result.ok:
                if started is not None:
                    self.started = True
                    self.ctx.changed()
                    started.set()
            else:
                # Liveness or startup failure: kubelet kills the container and restarts it.
                self._kill_reason = (
                    f"Container {self.name} failed {label.lower()} probe, will be restarted"
                )
                self._kill_requested.set()

        return ProbeWorker(
            spec,
            initial=_PROBE_INITIAL[kind],
            check=check,
            on_change=on_change,
            on_failure=on_failure,
        )

    async def _unhealthy(self, kind: str, result: ProbeResult) -> None:
        await self.ctx.event(
            "Warning", "Unhealthy", f"{kind} probe failed: {result.message}", self.field_path
        )

    def _terminated(self, code: int) -> Obj:
        return {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": self.state.get("running", {}).get("startedAt", now_rfc3339()),
            "finishedAt": now_rfc3339(),
            "containerID": self.container_id,
        }

    async def terminate(self, grace: float) -> None:
        """Stop for good: SIGTERM, ``grace`` seconds, SIGKILL; no restart afterwards."""
        self._stopping = True
        self._wake.set()
        proc = self.process
        if proc is not None:
            await self.ctx.event(
                "Normal", "Killing", f"Stopping container {self.name}", self.field_path
            )
            code = await proc.stop(grace)
            if not self.finished:
                self.finished, self.succeeded = True, code == 0
                self.started = False
                self._set({"terminated": self._terminated(code)}, ready=False)

    def signal(self, sig: signal.Signals) -> bool:
        """Send ``sig`` to the running process (chaos); False if none is running."""
        if self.process is None:
            return False
        self.process.send_signal(sig)
        return True

    async def kill_now(self) -> None:
        """SIGKILL the running process, if any (cleanup, no grace)."""
        self._stopping = True
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                await self.process.kill()
