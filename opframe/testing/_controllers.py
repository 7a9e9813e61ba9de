"""The few kube-controller-manager controllers a local cluster needs to look real.

- :class:`ServiceAccountController`: a ``default`` ServiceAccount in every namespace (the API
  server refuses pods in a namespace without one, like kube-apiserver does);
- :class:`EndpointsController`: ``v1/Endpoints`` for every service with a selector, from the
  pods it selects (ready pods in ``addresses``, the others in ``notReadyAddresses``).

Both are owned by :class:`~opframe.testing.cluster.LocalCluster` (``async with``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

from opframe._tasks import cancel_and_wait
from opframe.errors import AlreadyExists, ApiError, Conflict, NotFound
from opframe.testing._startup import start_until_ready
from opframe.testing.kubelet._api import RawApi, Store

__all__ = ["EndpointsController", "ServiceAccountController", "endpoints_for"]

log = logging.getLogger("opframe.testing.controllers")
Obj = dict[str, Any]


class _Owned:
    """Runs ``_run()`` as a task between ``__aenter__`` (after the first sync) and exit."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()

    def _run(self) -> Coroutine[Any, Any, None]:
        raise NotImplementedError

    async def __aenter__(self) -> _Owned:
        self._task = await start_until_ready(self._run(), self._synced, name=type(self).__name__)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)


class ServiceAccountController(_Owned):
    """The service-account controller's visible effect: ``default`` SA per namespace."""

    def __init__(self, api: RawApi) -> None:
        super().__init__()
        self._api = api
        self._store = Store(api, "/api/v1/namespaces", self._on_namespace)

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._store.run())
            await self._store.synced.wait()
            self._synced.set()

    async def _on_namespace(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        if new is None or new["metadata"].get("deletionTimestamp"):
            return
        name = new["metadata"]["name"]
        body = {"metadata": {"name": "default"}}
        try:
            await self._api.request("POST", f"/api/v1/namespaces/{name}/serviceaccounts", body)
        except AlreadyExists:
            pass
        except ApiError as exc:
            log.warning("namespace %s: default service account not created: %s", name, exc)


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _target_port(port: Obj, pod: Obj) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for p in container.get("ports") or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return None


def endpoints_for(service: Obj, pods: Iterable[Obj]) -> Obj | None:
    """The ``Endpoints`` the endpoints controller keeps for ``service`` (pure).

    ``None`` for a service without a selector (its Endpoints are the user's).
    """
    meta, spec = service["metadata"], service.get("spec") or {}
    selector: dict[str, str] = spec.get("selector") or {}
    if not selector:
        return None
    ns = meta.get("namespace", "default")
    publish = bool(spec.get("publishNotReadyAddresses"))
    # One subset per distinct port mapping, as the controller groups them.
    subsets: dict[tuple[tuple[str, int, str], ...], dict[str, list[Obj]]] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        pmeta, pspec = pod["metadata"], pod.get("spec") or {}
        labels = pmeta.get("labels") or {}
        ip = (pod.get("status") or {}).get("podIP")
        if (
            pmeta.get("namespace", "default") != ns
            or not ip
            or pmeta.get("deletionTimestamp")
            or any(labels.get(k) != v for k, v in selector.items())
        ):
            continue
        ports = []
        for port in spec.get("ports") or []:
            number = _target_port(port, pod)
            if number is not None:
                ports.append((str(port.get("name", "")), number, port.get("protocol", "TCP")))
        address: Obj = {
            "ip": ip,
            "nodeName": pspec.get("nodeName"),
            "targetRef": {
                "kind": "Pod",
                "namespace": ns,
                "name": pmeta["name"],
                "uid": pmeta.get("uid"),
            },
        }
        if pspec.get("hostname") and pspec.get("subdomain") == meta["name"]:
            address["hostname"] = pspec["hostname"]
        group = subsets.setdefault(tuple(ports), {"addresses": [], "notReadyAddresses": []})
        group["addresses" if publish or _ready(pod) else "notReadyAddresses"].append(address)
    out_subsets = []
    for ports_key, groups in subsets.items():
        subset: Obj = {k: v for k, v in groups.items() if v}
        if ports_key:
            subset["ports"] = [
                {**({"name": name} if name else {}), "port": number, "protocol": protocol}
                for name, number, protocol in ports_key
            ]
        out_subsets.append(subset)
    endpoints: Obj = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": meta["name"], "namespace": ns, "labels": meta.get("labels") or {}},
    }
    if out_subsets:
        endpoints["subsets"] = out_subsets
    return endpoints


class EndpointsController(_Owned):
    """Keeps ``v1/Endpoints`` of selector services in step with their pods."""

    def __init__(self, api: RawApi) -> None:
        super().__init__()
        self._api = api
        self._pods = Store(api, "/api/v1/pods", self._on_pod)
        self._services = Store(api, "/api/v1/services", self._on_service)
        self._dirty: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._services.run())
            tg.create_task(self._pods.run())
            await self._services.synced.wait()
            await self._pods.synced.wait()
            tg.create_task(self._sync_loop())
            self._synced.set()

    def _mark(self, namespace: str, name: str | None = None) -> None:
        if name is not None:
            self._dirty.add((namespace, name))
        else:
            self._dirty.update(
                (namespace, s["metadata"]["name"])
                for s in self._services.items.values()
                if s["metadata"].get("namespace") == namespace
            )
        self._wake.set()

    async def _on_pod(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old or {}
        self._mark(obj.get("metadata", {}).get("namespace", "default"))

    async def _on_service(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        meta = (new or old or {}).get("metadata", {})
        self._mark(meta.get("namespace", "default"), meta.get("name", ""))

    async def _sync_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            for ns, name in sorted(dirty):
                try:
                    await self._sync(ns, name)
                except Conflict:
                    self._mark(ns, name)  # raced with another writer: recompute
                except (ApiError, OSError) as exc:
                    log.warning("endpoints %s/%s: %s", ns, name, exc)

    async def _sync(self, ns: str, name: str) -> None:
        path = f"/api/v1/namespaces/{ns}/endpoints"
        service = self._services.items.get(f"{ns}/{name}")
        current = await self._api.get_or_none(f"{path}/{name}")
        if service is None:
            if current is not None:
                with contextlib.suppress(NotFound):
                    await self._api.request("DELETE", f"{path}/{name}")
            return
        desired = endpoints_for(service, self._pods.items.values())
        if desired is None:
            return
        if current is None:
            with contextlib.suppress(AlreadyExists):
                await self._api.request("POST", path, desired)
            return
        same = (
            current.get("subsets") == desired.get("subsets")
            and (current["metadata"].get("labels") or {}) == desired["metadata"]["labels"]
        )
        if not same:
            desired["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            await self._api.request("PUT", f"{path}/{name}", desired)
