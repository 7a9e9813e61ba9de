"""The local Node object: registration, status heartbeats, and "losing" the node (chaos)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import platform
from typing import Any

from opframe.client import Client
from opframe.errors import AlreadyExists, ApiError, NotFound
from opframe.testing.kubelet._mirror import merge_patch
from opframe.testing.kubelet.container import now_rfc3339

__all__ = ["NodeAgent"]

log = logging.getLogger("opframe.kubelet")
Obj = dict[str, Any]

_LEASE_NAMESPACE = "kube-node-lease"
KUBELET_VERSION = "v1.36.2"  # the version the embedded API server reports


class NodeAgent:
    """Registers the node and keeps its ``Ready`` condition fresh.

    :meth:`set_ready(False) <set_ready>` plays a node that stopped reporting: heartbeats stop
    and the Ready condition turns ``Unknown`` as the node lifecycle controller would set it.
    """

    def __init__(self, api: Client, name: str, host_ip: str, *, heartbeat: float = 10.0) -> None:
        self._api = api
        self.name = name
        self.host_ip = host_ip
        self.heartbeat = heartbeat
        self.ready = True
        self._ready_since = now_rfc3339()
        self._wake = asyncio.Event()
        self._node_uid = ""

    def _conditions(self) -> list[Obj]:
        now = now_rfc3339()
        pressure = [
            {
                "type": t,
                "status": "False",
                "reason": f"KubeletHas{r}",
                "message": m,
                "lastHeartbeatTime": now,
                "lastTransitionTime": self._ready_since,
            }
            for t, r, m in (
                ("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"),
            )
        ]
        if self.ready:
            reason, status, message = "KubeletReady", "True", "kubelet is posting ready status"
        else:
            reason, status, message = (
                "NodeStatusUnknown",
                "Unknown",
                "Kubelet stopped posting node status.",
            )
        ready = {
            "type": "Ready",
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": self._ready_since,
        }
        return [*pressure, ready]

    def _status(self) -> Obj:
        capacity = {"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        return {
            "conditions": self._conditions(),
            "addresses": [
                {"type": "InternalIP", "address": self.host_ip},
                {"type": "Hostname", "address": self.name},
            ],
            "capacity": capacity,
            "allocatable": capacity,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": platform.release(),
                "osImage": "opframe local node",
                "containerRuntimeVersion": "opframe://0.1.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64" if platform.machine() == "x86_64" else platform.machine(),
            },
        }

    async def register(self) -> None:
        """Create the Node (or take over an existing one of the same name)."""
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node-role.kubernetes.io/local": "",
                },
            },
            "spec": {},
        }
        try:
            node = await self._api.request("POST", "/api/v1/nodes", body=body)
        except AlreadyExists:
            node = await self._api.request("GET", f"/api/v1/nodes/{self.name}")
        self._node_uid = str(node["metadata"].get("uid", ""))
        await self._post_status()

    async def _post_status(self) -> None:
        await merge_patch(
            self._api, f"/api/v1/nodes/{self.name}/status", {"status": self._status()}
        )
        await self._renew_lease()

    async def _renew_lease(self) -> None:
        """Renew the node's Lease in ``kube-node-lease``, as kubelet's node lease heartbeat."""
        path = f"/apis/coordination.k8s.io/v1/namespaces/{_LEASE_NAMESPACE}/leases"
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": 40,
            "renewTime": now,
        }
        try:
            await merge_patch(self._api, f"{path}/{self.name}", {"spec": spec})
        except NotFound:
            owner = {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self._node_uid}
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "ownerReferences": [owner]},
                "spec": spec,
            }
            with contextlib.suppress(AlreadyExists):
                await self._api.request("POST", path, body=lease)

    async def run(self) -> None:
        """Post heartbeats every ``heartbeat`` seconds while the node is ready."""
        while True:
            try:
                async with asyncio.timeout(self.heartbeat):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if self.ready:
                try:
                    await self._post_status()
                except (ApiError, OSError) as exc:
                    log.warning("node %s: heartbeat failed: %s", self.name, exc)

    async def set_ready(self, ready: bool) -> None:
        """Chaos: make the node NotReady (``Unknown``, no heartbeats) or Ready again."""
        if ready == self.ready:
            return
        self.ready = ready
        self._ready_since = now_rfc3339()
        await self._post_status()
        self._wake.set()
