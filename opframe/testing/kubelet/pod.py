"""One pod on the local node: its sandbox, volumes, containers and status.

A :class:`PodWorker` lives from the moment the pod is bound to the node until it is deleted.
It sets up the sandbox (address, hosts file, volumes), runs init containers in order and
then the regular containers, and writes ``status`` whenever something changed (coalesced:
many changes in a burst become one write).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from opframe.client import Client
from opframe.errors import ApiError, Conflict, Invalid, NotFound
from opframe.testing.kubelet._mirror import merge_patch
from opframe.testing.kubelet.container import ContainerRunner, PodContext, now_rfc3339
from opframe.testing.kubelet.images import ImageResolver
from opframe.testing.kubelet.volumes import VolumeError, VolumeManager

__all__ = ["NodeView", "PodGone", "PodWorker", "pod_phase"]

log = logging.getLogger("opframe.kubelet")
Obj = dict[str, Any]


class NodeView(Protocol):
    """What a pod worker needs from its kubelet."""

    api: Client
    node_name: str
    host_ip: str
    resolver: ImageResolver
    volumes: VolumeManager
    backoff_base: float
    backoff_cap: float

    @property
    def service_env(self) -> Mapping[str, str]:
        """The env every container gets for the ``kubernetes`` service (the API server)."""
        ...

    @property
    def node_ready(self) -> bool:
        """Whether the node is Ready (pods on a NotReady node are not Ready)."""
        ...

    async def record_event(
        self, pod: Obj, type_: str, reason: str, message: str, field_path: str = ""
    ) -> None:
        """Record a core/v1 Event about ``pod``."""
        ...

    async def fetch(self, kind: str, namespace: str, name: str) -> Obj | None:
        """Get a ConfigMap or Secret, or None."""
        ...

    def allocate_address(self, owner: str) -> str:
        """The loopback address of pod ``owner`` (a uid)."""
        ...

    def hosts_file_ready(self, worker: PodWorker) -> None:
        """Write the worker's hosts file now (its address is known)."""
        ...


class PodGone(LookupError):
    """The pod a worker runs was deleted (possibly recreated under the same name)."""


def pod_phase(init: list[ContainerRunner], main: list[ContainerRunner]) -> str:
    """The pod phase from its containers, as kubelet's ``getPhase`` decides it."""
    if any(r.finished and not r.succeeded for r in init):
        return "Failed"
    if not all(r.finished for r in init):
        return "Pending"
    if main and all(r.finished for r in main):
        return "Succeeded" if all(r.succeeded for r in main) else "Failed"
    if any("running" in r.state or r.last_state or r.finished for r in main):
        return "Running"
    return "Pending"


def _condition(type_: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": type_, "status": "True" if ok else "False"}
    if not ok and reason:
        cond["reason"] = reason
    if not ok and message:
        cond["message"] = message
    return cond


class PodWorker:
    """Runs one pod bound to the local node."""

    def __init__(self, node: NodeView, pod: Obj) -> None:
        self.node = node
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.namespace: str = meta.get("namespace", "default")
        self.name: str = meta["name"]
        self.ip = ""
        self.gone = False  # the pod of this uid was deleted: nothing more is written
        self.pod_dir = node.volumes.pod_dir(self.uid)
        self.hosts_file = self.pod_dir / "etc-hosts"
        spec = pod.get("spec") or {}
        self.ctx = PodContext(
            pod=pod,
            ip="",
            host_ip=node.host_ip,
            hosts_file=self.hosts_file,
            volumes={},
            log_dir=self.pod_dir / "logs",
            resolver=node.resolver,
            fetch=node.fetch,
            event=self._event,
            changed=self.changed,
            backoff_base=node.backoff_base,
            backoff_cap=node.backoff_cap,
            service_env=node.service_env,
        )
        self.init_runners = [
            ContainerRunner(self.ctx, c, init=True) for c in spec.get("initContainers") or []
        ]
        self.runners = [ContainerRunner(self.ctx, c) for c in spec.get("containers") or []]
        if self.init_runners:
            for r in self.runners:
                r.state = {"waiting": {"reason": "PodInitializing"}}
        self._dirty = asyncio.Event()
        self._dirty.set()
        self._volumes_ready = asyncio.Event()
        self._sandbox_ready = False
        self._start_time = now_rfc3339()
        self._written: Obj | None = None
        self._conditions: dict[str, Obj] = {}

    # -- status ---------------------------------------------------------------------------

    def changed(self) -> None:
        """Something in the pod's status changed: schedule a status write."""
        self._dirty.set()

    def update(self, pod: Obj) -> None:
        """A newer version of the pod object arrived from the watch."""
        self.pod = pod
        self.ctx.pod = pod
        spec = pod.get("spec") or {}
        for key, runners in (("initContainers", self.init_runners), ("containers", self.runners)):
            by_name = {c["name"]: c for c in spec.get(key) or []}
            for runner in runners:
                if runner.name in by_name:
                    runner.respec(by_name[runner.name])
        # A readiness gate may have flipped; the writer skips the write if nothing changed.
        self.changed()

    def status(self) -> Obj:
        """The pod's ``status`` as kubelet would write it now."""
        phase = pod_phase(self.init_runners, self.runners)
        initialized = all(r.finished and r.succeeded for r in self.init_runners)
        unready = [r.name for r in self.runners if not r.ready]
        done = phase in ("Succeeded", "Failed")
        containers_ready = not unready and not done
        pod_ready = containers_ready and self.node.node_ready and self._gates_ok()
        reason = "PodCompleted" if done else "ContainersNotReady"
        message = "" if done else f"containers with unready status: [{' '.join(unready)}]"
        incomplete = [r.name for r in self.init_runners if not (r.finished and r.succeeded)]
        fresh = [
            _condition("PodReadyToStartContainers", self._sandbox_ready and not done),
            _condition(
                "Initialized",
                initialized,
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(incomplete)}]",
            ),
            _condition(
                "Ready",
                pod_ready,
                "NodeNotReady" if containers_ready else reason,
                "" if containers_ready else message,
            ),
            _condition("ContainersReady", containers_ready, reason, message),
            _condition("PodScheduled", True),
        ]
        conditions = []
        for cond in fresh:
            old = self._conditions.get(cond["type"])
            same = old is not None and old["status"] == cond["status"]
            cond["lastProbeTime"] = None
            cond["lastTransitionTime"] = (
                old["lastTransitionTime"] if old is not None and same else now_rfc3339()
            )
            self._conditions[cond["type"]] = cond
            conditions.append(cond)
        # Conditions other controllers own (readiness gates) are kept, as kubelet keeps them:
        # a merge patch replaces the whole list.
        ours = {c["type"] for c in conditions}
        conditions += [
            c
            for c in (self.pod.get("status") or {}).get("conditions") or []
            if c.get("type") not in ours
        ]
        status: Obj = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": self.node.host_ip,
            "hostIPs": [{"ip": self.node.host_ip}],
            "startTime": self._start_time,
            "containerStatuses": [r.status() for r in self.runners],
            "qosClass": _qos_class(self.pod),
        }
        if self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        if self.init_runners:
            status["initContainerStatuses"] = [r.status() for r in self.init_runners]
        return status

    def _gates_ok(self) -> bool:
        gates = (self.pod.get("spec") or {}).get("readinessGates") or []
        current = {
            c.get("type"): c.get("status")
            for c in (self.pod.get("status") or {}).get("conditions") or []
        }
        return all(current.get(g.get("conditionType")) == "True" for g in gates)

    async def _patch_status(self, status: Obj) -> None:
        """Patch the status of *this* pod: the uid in the body is the precondition.

        As kubelet's status manager writes it, so a status of a pod that was deleted and
        recreated under the same name never lands on the new pod (the server refuses a
        changed uid).

        Raises:
            PodGone: the pod of this uid no longer exists.
        """
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status"
        body = {"metadata": {"uid": self.uid}, "status": status}
        try:
            await merge_patch(self.node.api, path, body)
        except (NotFound, Conflict, Invalid) as exc:
            if isinstance(exc, NotFound) or "uid" in str(exc).lower():
                self.gone = True
                raise PodGone(f"pod {self.namespace}/{self.name} ({self.uid}) is gone") from exc
            raise

    async def _write_status_loop(self) -> None:
        while not self.gone:
            await self._dirty.wait()
            self._dirty.clear()
            if self.gone:
                return
            status = self.status()
            comparable = {
                **status,
                "conditions": [
                    {k: v for k, v in c.items() if k != "lastTransitionTime"}
                    for c in status["conditions"]
                ],
            }
            if comparable == self._written:
                continue
            try:
                await self._patch_status(status)
                self._written = comparable
            except PodGone:
                return
            except ApiError as exc:
                log.warning("pod %s/%s: status write failed: %s", self.namespace, self.name, exc)
                self._dirty.set()
                await asyncio.sleep(0.5)

    async def _event(self, type_: str, reason: str, message: str, field_path: str) -> None:
        await self.node.record_event(self.pod, type_, reason, message, field_path)

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Set up the sandbox and run the pod's containers until stopped."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._write_status_loop(), name=f"status-{self.name}")
            tg.create_task(self._rotate_tokens(), name=f"tokens-{self.name}")
            await self._run_pod()
            # Containers finished (restartPolicy let them): the status writer keeps running
            # until the kubelet cancels this worker when the pod goes away.

    async def _run_pod(self) -> None:
        self.ip = self.node_address()
        self.ctx.ip = self.ip
        self.pod_dir.mkdir(parents=True, exist_ok=True)
        self.hosts_file.touch()
        self.node.hosts_file_ready(self)
        self.ctx.volumes = await self._prepare_volumes()
        self._volumes_ready.set()
        self._sandbox_ready = True
        self.changed()
        for runner in self.init_runners:
            await runner.run()
            if not runner.succeeded:
                self.changed()
                return
        self.changed()
        async with asyncio.TaskGroup() as tg:
            for runner in self.runners:
                tg.create_task(runner.run(), name=f"container-{self.name}-{runner.name}")

    async def _rotate_tokens(self) -> None:
        """Refresh each projected service-account token when it is due (80% of its life)."""
        await self._volumes_ready.wait()
        while not self.gone:
            tokens = self.node.volumes.tokens.get(self.uid) or []
            if not tokens:
                return
            token = min(tokens, key=lambda t: t.refresh_at)
            await asyncio.sleep(max(0.0, token.refresh_at - time.time()))
            try:
                await self.node.volumes.refresh(token)
            except VolumeError as exc:
                # The old token is still valid for a while (20% of its lifetime): retry soon.
                log.warning("pod %s/%s: token refresh failed: %s", self.namespace, self.name, exc)
                await asyncio.sleep(min(10.0, max(1.0, token.expires - time.time()) / 10))

    def node_address(self) -> str:
        """The pod's loopback address (allocated by the kubelet)."""
        return self.node.allocate_address(self.uid)

    async def _prepare_volumes(self) -> dict[str, Path]:
        delay = 0.5
        while True:
            try:
                return await self.node.volumes.prepare(self.ctx.pod_view())
            except VolumeError as exc:
                await self._event("Warning", "FailedMount", f"MountVolume.SetUp failed: {exc}", "")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.node.backoff_cap)

    async def terminate(self, grace: float) -> None:
        """Stop every container gracefully (SIGTERM, ``grace`` s, SIGKILL), in parallel."""
        async with asyncio.TaskGroup() as tg:
            for runner in [*self.init_runners, *self.runners]:
                tg.create_task(runner.terminate(grace))

    async def flush_status(self) -> None:
        """Write the current status now (the last write before the pod is removed)."""
        if self.gone:
            return
        try:
            await self._patch_status(self.status())
        except (PodGone, ApiError) as exc:
            log.debug("pod %s/%s: final status not written: %s", self.namespace, self.name, exc)

    def all_runners(self) -> list[ContainerRunner]:
        """Init and regular containers."""
        return [*self.init_runners, *self.runners]


def _qos_class(pod: Obj) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    res = [c.get("resources") or {} for c in containers]
    if all(not r.get("requests") and not r.get("limits") for r in res):
        return "BestEffort"
    guaranteed = all(
        r.get("limits", {}).get(k)
        and r.get("requests", {}).get(k, r["limits"][k]) == r["limits"][k]
        for r in res
        for k in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"
