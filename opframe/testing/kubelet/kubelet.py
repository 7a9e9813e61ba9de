"""The local kubelet: binds pods to one local node and runs them as processes.

Its sync loop mirrors pods, services and claims with the SDK's list+watch loop
(:func:`opframe.watch`) and reacts to each change:

- a pod with no ``spec.nodeName`` (default scheduler) is bound to the node through
  ``pods/binding``, as a one-node scheduler would;
- a pod bound to the node gets a :class:`~opframe.testing.kubelet.pod.PodWorker`;
- a pod marked for deletion is stopped gracefully (SIGTERM, the pod's deletion grace period,
  SIGKILL) and then removed with ``gracePeriodSeconds=0``, as kubelet finishes a deletion;
- any change to pods or services rewrites the hosts files of running pods in place;
- a changed Secret or ConfigMap is rewritten into the volumes of running pods that mount it
  (atomically, as kubelet's ``Watch`` change detection strategy and atomic writer do).

Example::

    async with Kubelet(client, ca_file=ca, state_dir=tmp) as kubelet:
        ...  # pods created through the API server now run
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from opframe._tasks import cancel_and_wait
from opframe.client import Client
from opframe.errors import ApiError, Conflict, NotFound
from opframe.testing._startup import start_until_ready
from opframe.testing.kubelet import streaming
from opframe.testing.kubelet._mirror import (
    PVC,
    ConfigMap,
    Mirror,
    Pod,
    Secret,
    Service,
    get_or_none,
    merge_patch,
)
from opframe.testing.kubelet.container import now_rfc3339
from opframe.testing.kubelet.images import ImageResolver
from opframe.testing.kubelet.network import (
    AddressBlock,
    PodAddress,
    ServiceRecord,
    cluster_records,
    render_hosts,
    write_in_place,
)
from opframe.testing.kubelet.node import NodeAgent
from opframe.testing.kubelet.pod import PodWorker
from opframe.testing.kubelet.runtime import TerminalProcess
from opframe.testing.kubelet.volumes import VolumeManager

__all__ = ["Kubelet"]

log = logging.getLogger("opframe.kubelet")
Obj = dict[str, Any]


class Kubelet:
    """A process-based kubelet for one local node, talking to an API server.

    Args:
        client: the :class:`opframe.Client` it talks to the API server with (the caller
            owns it and closes it).
        ca_file: the cluster CA, written into pods' ``ca.crt`` while no ``kube-root-ca.crt``
            ConfigMap exists.
        state_dir: where pod directories, volumes, claims and logs live.
        node_name: the Node this kubelet registers and binds pods to.
        resolver: image → local program mapping (default: built-in etcd rule).
        backoff_base / backoff_cap: CrashLoopBackOff timing (kubelet: 10 s and 300 s).
        heartbeat: seconds between node status heartbeats.
        cluster_domain: the DNS suffix of service and pod names in hosts files.
    """

    def __init__(
        self,
        client: Client,
        *,
        state_dir: Path,
        ca_file: str | Path | None = None,
        node_name: str = "opframe-node",
        resolver: ImageResolver | None = None,
        backoff_base: float = 10.0,
        backoff_cap: float = 300.0,
        heartbeat: float = 10.0,
        cluster_domain: str = "cluster.local",
        host_ip: str = "127.0.0.1",
    ) -> None:
        self.api = client
        self.state_dir = state_dir
        self.node_name = node_name
        self.host_ip = host_ip
        self.resolver = resolver or ImageResolver()
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.cluster_domain = cluster_domain
        ca_pem = Path(ca_file).read_bytes() if ca_file else None
        self.volumes = VolumeManager(state_dir, self.api, ca_pem=ca_pem)
        self.node = NodeAgent(self.api, node_name, host_ip, heartbeat=heartbeat)
        self.workers: dict[str, PodWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[str] = set()
        self._pods = Mirror(client, Pod, self._on_pod)
        self._services = Mirror(client, Service, self._on_service)
        self._claims = Mirror(client, PVC, self._on_claim)
        self._secrets = Mirror(client, Secret, functools.partial(self._on_volume_object, "Secret"))
        self._config_maps = Mirror(
            client, ConfigMap, functools.partial(self._on_volume_object, "ConfigMap")
        )
        self._hosts_dirty = asyncio.Event()
        self._addresses: AddressBlock | None = None
        self._group: asyncio.TaskGroup | None = None
        self._main: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._events: dict[tuple[str, str, str, str], tuple[str, int]] = {}

    @property
    def service_env(self) -> dict[str, str]:
        """The env of the ``kubernetes`` service that kubelet gives every container, pointing
        at the API server (``KUBERNETES_SERVICE_HOST``/``_PORT``, docker-link style too)."""
        parts = urllib.parse.urlsplit(self.api.host)
        host = parts.hostname or "127.0.0.1"
        port = str(parts.port or (443 if parts.scheme == "https" else 80))
        prefix = f"KUBERNETES_PORT_{port}_TCP"
        return {
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
            "KUBERNETES_PORT": f"tcp://{host}:{port}",
            prefix: f"tcp://{host}:{port}",
            f"{prefix}_PROTO": "tcp",
            f"{prefix}_PORT": port,
            f"{prefix}_ADDR": host,
        }

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Kubelet:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._addresses = AddressBlock()
        try:
            await self.node.register()
            self._main = await start_until_ready(self._run(), self._ready, name="kubelet")
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        if self._main is not None:
            await cancel_and_wait(self._main)
        if self._addresses is not None:
            self._addresses.close()

    async def _run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._group = tg
                tg.create_task(self.node.run(), name="node-heartbeat")
                tg.create_task(self._claims.run(), name="watch-pvcs")
                tg.create_task(self._secrets.run(), name="watch-secrets")
                tg.create_task(self._config_maps.run(), name="watch-configmaps")
                tg.create_task(self._services.run(), name="watch-services")
                await self._services.synced.wait()
                tg.create_task(self._pods.run(), name="watch-pods")
                await self._pods.synced.wait()
                tg.create_task(self._refresh_hosts(), name="hosts-files")
                self._ready.set()
        finally:
            # Every pod task is cancelled by the group; each kills its processes on the way out.
            self._group = None

    # -- what pod workers need (NodeView) -------------------------------------------------

    @property
    def node_ready(self) -> bool:
        """Whether the node reports Ready (chaos can turn it off)."""
        return self.node.ready

    def allocate_address(self, owner: str) -> str:
        """The loopback address of pod ``owner`` (a uid)."""
        assert self._addresses is not None
        return self._addresses.allocate(owner)

    async def fetch(self, kind: str, namespace: str, name: str) -> Obj | None:
        """Get a ConfigMap or Secret by name, or None."""
        plural = {"ConfigMap": "configmaps", "Secret": "secrets"}[kind]
        return await get_or_none(self.api, f"/api/v1/namespaces/{namespace}/{plural}/{name}")

    async def record_event(
        self, pod: Obj, type_: str, reason: str, message: str, field_path: str = ""
    ) -> None:
        """Record a core/v1 Event about ``pod`` from the kubelet, counting repeats."""
        meta = pod["metadata"]
        ns = meta.get("namespace", "default")
        key = (meta["uid"], field_path, reason, message)
        now = now_rfc3339()
        try:
            if key in self._events:
                name, count = self._events[key]
                self._events[key] = (name, count + 1)
                await merge_patch(
                    self.api,
                    f"/api/v1/namespaces/{ns}/events/{name}",
                    {"count": count + 1, "lastTimestamp": now},
                )
                return
            name = f"{meta['name']}.{uuid.uuid4().hex[:16]}"
            involved: Obj = {
                "kind": "Pod",
                "namespace": ns,
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": "v1",
                "resourceVersion": meta.get("resourceVersion", ""),
            }
            if field_path:
                involved["fieldPath"] = field_path
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "type": type_,
                "source": {"component": "kubelet", "host": self.node_name},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "reportingComponent": "kubelet",
                "reportingInstance": self.node_name,
            }
            await self.api.request("POST", f"/api/v1/namespaces/{ns}/events", body=body)
            self._events[key] = (name, 1)
        except (ApiError, OSError) as exc:
            # Events are best effort, as in kubelet: a lost event must not stop the pod.
            log.debug("event %s for pod %s/%s not recorded: %s", reason, ns, meta["name"], exc)

    def hosts_file_ready(self, worker: PodWorker) -> None:
        """Write ``worker``'s hosts file now that it has an address."""
        self._write_hosts(worker)
        self._hosts_dirty.set()

    # -- watch handlers -------------------------------------------------------------------

    def _ours(self, pod: Obj) -> bool:
        return (pod.get("spec") or {}).get("nodeName") == self.node_name

    async def _on_pod(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        self._hosts_dirty.set()
        if old is not None and new is not None and old["metadata"]["uid"] != new["metadata"]["uid"]:
            # Same name, another pod (a relist after a delete and a create): the old one is
            # gone, and the new one is a fresh pod in every respect.
            await self._on_pod("DELETED", old, None)
            old = None
        if new is None:
            assert old is not None
            uid = old["metadata"]["uid"]
            worker = self.workers.get(uid)
            if worker is not None:
                # Removed from the API server (forced or finished deletion): nothing of this
                # pod is written any more, whatever its processes still do.
                worker.gone = True
                if uid not in self._stopping:
                    self._spawn_stop(uid, self._grace(old), delete=False)
            return
        spec, meta = new.get("spec") or {}, new["metadata"]
        uid = meta["uid"]
        if not spec.get("nodeName"):
            if spec.get("schedulerName", "default-scheduler") == "default-scheduler":
                await self._bind(new)
            return
        if not self._ours(new):
            return
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(new)
        if meta.get("deletionTimestamp"):
            if uid not in self._stopping:
                grace = meta.get("deletionGracePeriodSeconds")
                self._spawn_stop(
                    uid, self._grace(new) if grace is None else float(grace), delete=True, pod=new
                )
            return
        if worker is None and (new.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            self._start_worker(new)

    @staticmethod
    def _grace(pod: Obj) -> float:
        value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        return 30.0 if value is None else float(value)

    async def _bind(self, pod: Obj) -> None:
        meta = pod["metadata"]
        ns = meta.get("namespace", "default")
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": ns, "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        try:
            await self.api.request(
                "POST", f"/api/v1/namespaces/{ns}/pods/{meta['name']}/binding", body=body
            )
        except (Conflict, NotFound):
            pass  # bound by someone else, or gone: the watch tells us what happened
        except ApiError as exc:
            log.warning("binding pod %s/%s failed: %s", ns, meta["name"], exc)

    def _start_worker(self, pod: Obj) -> None:
        assert self._group is not None
        worker = PodWorker(self, pod)
        self.workers[worker.uid] = worker
        self._tasks[worker.uid] = self._group.create_task(
            self._guard(worker), name=f"pod-{worker.namespace}-{worker.name}"
        )

    async def _guard(self, worker: PodWorker) -> None:
        try:
            await worker.run()
        except Exception:
            # A broken pod must not take the node down; the failure is in its status/log.
            log.exception("pod %s/%s: worker failed", worker.namespace, worker.name)
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # It failed on its way out of a cancellation (its task group raised the
                # failure instead): waiting on would swallow the stop request for good.
                return
        await asyncio.Event().wait()  # keep reporting until the pod goes away

    def _spawn_stop(self, uid: str, grace: float, *, delete: bool, pod: Obj | None = None) -> None:
        assert self._group is not None
        self._stopping.add(uid)
        self._group.create_task(self._stop_pod(uid, grace, delete, pod), name=f"stop-{uid}")

    async def _stop_pod(self, uid: str, grace: float, delete: bool, pod: Obj | None) -> None:
        worker = self.workers.get(uid)
        try:
            if worker is not None:
                log.debug("pod %s/%s: stopping (grace %gs)", worker.namespace, worker.name, grace)
                await worker.terminate(grace)
                task = self._tasks.pop(uid, None)
                if task is not None:
                    await cancel_and_wait(task)
            if delete and pod is not None:
                if worker is not None:
                    # As kubelet's status manager: report the terminated containers, then
                    # finish the deletion.
                    await worker.flush_status()
                meta = pod["metadata"]
                ns = meta.get("namespace", "default")
                opts = {
                    "apiVersion": "v1",
                    "kind": "DeleteOptions",
                    "gracePeriodSeconds": 0,
                    "preconditions": {"uid": uid},
                }
                with contextlib.suppress(NotFound, Conflict):
                    await self.api.request(
                        "DELETE", f"/api/v1/namespaces/{ns}/pods/{meta['name']}", body=opts
                    )
        finally:
            task = self._tasks.pop(uid, None)
            if task is not None and not task.done():
                # Stopped part-way (the kubelet itself is stopping): the worker ends before
                # its pod directory goes, or its log pump fails writing into a removed one.
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({task})
            self.workers.pop(uid, None)
            self.volumes.remove_pod(uid)
            if self._addresses is not None:
                self._addresses.release(uid)
            self._stopping.discard(uid)
            self._events = {k: v for k, v in self._events.items() if k[0] != uid}
            self._hosts_dirty.set()

    async def _on_service(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        self._hosts_dirty.set()

    async def _on_volume_object(
        self, kind: str, change: str, old: Obj | None, new: Obj | None
    ) -> None:
        if new is None:
            return  # a deleted object stays mounted as it was, as in kubelet
        meta = new["metadata"]
        await self.volumes.refresh_object(kind, meta.get("namespace", "default"), meta["name"])

    async def _on_claim(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        if new is None and old is not None:
            meta = old["metadata"]
            self.volumes.remove_claim_data(
                meta.get("namespace", "default"), meta["name"], meta["uid"]
            )

    # -- hosts files ----------------------------------------------------------------------

    def _addresses_now(
        self, pod_objects: Iterable[Obj] | None = None, service_objects: Iterable[Obj] | None = None
    ) -> tuple[list[PodAddress], list[ServiceRecord]]:
        pods = []
        for pod in self._pods.items.values() if pod_objects is None else pod_objects:
            status, spec, meta = pod.get("status") or {}, pod.get("spec") or {}, pod["metadata"]
            ip = status.get("podIP")
            if not ip or meta.get("deletionTimestamp") or not self._ours(pod):
                continue
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            pods.append(
                PodAddress(
                    namespace=meta.get("namespace", "default"),
                    name=meta["name"],
                    ip=ip,
                    ready=ready,
                    hostname=spec.get("hostname") or "",
                    subdomain=spec.get("subdomain") or "",
                    labels=meta.get("labels") or {},
                )
            )
        services = []
        for svc in self._services.items.values() if service_objects is None else service_objects:
            spec, meta = svc.get("spec") or {}, svc["metadata"]
            services.append(
                ServiceRecord(
                    namespace=meta.get("namespace", "default"),
                    name=meta["name"],
                    selector=spec.get("selector") or {},
                    headless=spec.get("clusterIP") == "None",
                    publish_not_ready=bool(spec.get("publishNotReadyAddresses")),
                )
            )
        return pods, services

    def _write_hosts(self, worker: PodWorker) -> None:
        if not worker.ip:
            return
        pods, services = self._addresses_now()
        spec = worker.pod.get("spec") or {}
        me = PodAddress(
            namespace=worker.namespace,
            name=worker.name,
            ip=worker.ip,
            ready=True,
            hostname=spec.get("hostname") or "",
            subdomain=spec.get("subdomain") or "",
        )
        write_in_place(worker.hosts_file, render_hosts(me, pods, services, self.cluster_domain))

    async def resolve(self, name: str) -> list[str]:
        """The pod addresses a cluster DNS name stands for, as pods see it (host side).

        For code outside pods (an operator under test) that builds URLs from cluster DNS
        names: ``await resolve("etcd-0.etcd.default.svc.cluster.local")`` → ``["127.1.1.1"]``.
        Fully qualified names only (``.svc.<domain>``). Reads the API server, so the answer
        reflects every write made before the call.
        """
        pod_list = await self.api.request("GET", "/api/v1/pods")
        service_list = await self.api.request("GET", "/api/v1/services")
        pods, services = self._addresses_now(
            pod_list.get("items") or [], service_list.get("items") or []
        )
        records = cluster_records(pods, services, domain=self.cluster_domain)
        return [ip for ip, names in records if name.rstrip(".") in names]

    async def _refresh_hosts(self) -> None:
        while True:
            await self._hosts_dirty.wait()
            self._hosts_dirty.clear()
            for worker in list(self.workers.values()):
                self._write_hosts(worker)

    # -- logs (the API server's pod_log_provider) -----------------------------------------

    async def pod_log(
        self,
        namespace: str,
        name: str,
        container: str | None,
        *,
        follow: bool = False,
        tail_lines: int | None = None,
        previous: bool = False,
        since_seconds: int | None = None,
        since_time: datetime.datetime | None = None,
        timestamps: bool = False,
        limit_bytes: int | None = None,
    ) -> AsyncIterator[bytes]:
        """Stream a container's captured output, as ``kubectl logs`` asks for it.

        The options are ``PodLogOptions``' (``tailLines``, ``sinceSeconds``/``sinceTime``,
        ``timestamps``, ``limitBytes``, ``previous``, ``follow``), applied as kubelet does:
        see :mod:`opframe.testing.kubelet.logs`.

        Raises:
            LookupError: no such pod on this node, container, or previous instance.
        """
        try:
            worker = self.worker(namespace, name)
        except LookupError:
            raise LookupError(
                f'pod "{name}" in namespace "{namespace}" is not running here'
            ) from None
        runners = worker.all_runners()
        if container is None:
            if len(worker.runners) != 1:
                names = " ".join(r.name for r in worker.runners)
                raise LookupError(
                    f"a container name must be specified for pod {name}, choose one of: [{names}]"
                )
            runner = worker.runners[0]
        else:
            found = [r for r in runners if r.name == container]
            if not found:
                raise LookupError(f"container {container} is not valid for pod {name}")
            runner = found[0]
        logs = runner.logs[:-1] if previous else runner.logs[-1:]
        if not logs:
            if previous:
                raise LookupError(
                    f'previous terminated container "{runner.name}" in pod "{name}" not found'
                )
            reason = str(runner.state.get("waiting", {}).get("reason", "ContainerCreating"))
            if reason in ("ErrImagePull", "ImagePullBackOff"):
                reason = "trying and failing to pull image"
            raise LookupError(
                f'container "{runner.name}" in pod "{name}" is waiting to start: {reason}'
            )
        since_ns: int | None = None
        if since_time is not None:
            since_ns = int(since_time.timestamp()) * 1_000_000_000
        elif since_seconds is not None:
            since_ns = time.time_ns() - since_seconds * 1_000_000_000
        chunks = logs[-1].read(
            follow=follow and not previous,
            tail_lines=tail_lines,
            since_ns=since_ns,
            timestamps=timestamps,
            limit_bytes=limit_bytes,
        )
        async for chunk in chunks:
            yield chunk

    # -- exec, attach, port-forward (the API server's pod_stream_provider) ---------------

    async def exec(
        self,
        namespace: str,
        name: str,
        container: str,
        command: list[str],
        *,
        stdin: bool,
        tty: bool = False,
    ) -> asyncio.subprocess.Process | TerminalProcess:
        """Start ``command`` in a running container (``kubectl exec``, ``kubectl cp``)."""
        return await streaming.exec_command(
            self._running_worker(namespace, name), container, command, stdin=stdin, tty=tty
        )

    def attach(self, namespace: str, name: str, container: str) -> streaming.Attachment:
        """A running container's output from now on, and its stdin (``kubectl attach``)."""
        return streaming.attach(self._running_worker(namespace, name), container)

    async def port_forward(
        self, namespace: str, name: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to a port of the pod (``kubectl port-forward``)."""
        return await streaming.port_forward(self._running_worker(namespace, name), port)

    def _running_worker(self, namespace: str, name: str) -> PodWorker:
        try:
            return self.worker(namespace, name)
        except LookupError:
            raise LookupError(f'pod "{name}" in namespace "{namespace}" is not running') from None

    # -- chaos (see also opframe.testing.kubelet.chaos) -----------------------------------

    def worker(self, namespace: str, name: str) -> PodWorker:
        """The worker of a pod running here.

        Raises:
            LookupError: the pod is not running on this node.
        """
        # A name means the pod of that name now: the one the API server has, not a terminating
        # predecessor whose worker is still stopping.
        current = self._pods.items.get(f"{namespace}/{name}")
        uid = current["metadata"]["uid"] if current is not None else None
        candidates = [
            w for w in self.workers.values() if (w.namespace, w.name) == (namespace, name)
        ]
        for w in candidates:
            if w.uid == uid:
                return w
        live = [w for w in candidates if not w.gone]
        if uid is None and live:
            return live[-1]
        raise LookupError(f"pod {namespace}/{name} is not running on node {self.node_name}")
