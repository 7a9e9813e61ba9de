"""The endpoints controller: ``v1/Endpoints`` for every Service with a selector.

``pkg/controller/endpoint/endpoints_controller.go``: the pods a Service selects, ready ones
in ``addresses`` and the others in ``notReadyAddresses`` (all in ``addresses`` with
``publishNotReadyAddresses``), one subset per distinct port mapping, ``hostname`` for pods
whose ``subdomain`` is the Service; the Endpoints go with their Service. A Service without a
selector keeps the Endpoints its user writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from opframe.cache import Cache
from opframe.controller import Controller
from opframe.errors import AlreadyExists, NotFound
from opframe.objectref import ObjectRef
from opframe.reconcile import Context
from opframe.testing.controllers._kinds import Endpoints, Pod, Service, body
from opframe.testing.controllers._util import Obj, is_ready, labels_of, target_port

__all__ = ["endpoints_controller", "endpoints_for", "selected_pods"]


def selected_pods(service: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The pods of the Service's namespace its (map) selector selects."""
    selector: dict[str, str] = (service.get("spec") or {}).get("selector") or {}
    ns = service["metadata"].get("namespace", "default")
    return [
        p for p in pods
        if selector and p["metadata"].get("namespace", "default") == ns
        and all(labels_of(p).get(k) == v for k, v in selector.items())
    ]  # fmt: skip



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
            number = target_port(port, pod)
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
        group["addresses" if publish or is_ready(pod) else "notReadyAddresses"].append(address)
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


class _Reconciler:
    """Endpoints of one Service; on its deletion, its Endpoints go too."""

    async def reconcile(self, ctx: Context, service: Service) -> None:
        data = body(service)
        ns = data["metadata"].get("namespace", "default")
        desired = endpoints_for(data, (body(p) for p in ctx.cache.list(Pod, ns)))
        if desired is None:
            return
        current = ctx.cache.get(Endpoints, data["metadata"]["name"], ns)
        if current is None:
            try:
                await ctx.client.create(Endpoints.model_validate(desired))
            except AlreadyExists:
                pass  # the watch brings it and with it another pass
            return
        have = body(current)
        if have.get("subsets") == desired.get("subsets") and labels_of(have) == labels_of(desired):
            return
        desired["metadata"]["resourceVersion"] = have["metadata"]["resourceVersion"]
        await ctx.client.replace(Endpoints.model_validate(desired))

    async def on_deleted(self, ctx: Context) -> None:
        try:
            await ctx.client.delete(Endpoints, ctx.ref.name, ctx.ref.namespace)
        except NotFound:
            pass


def endpoints_controller(cache: Cache) -> Controller[Service]:
    """The endpoints controller, for a :class:`~opframe.Manager` whose cache is ``cache``."""

    def services_of(pod: Any) -> Iterator[ObjectRef]:
        data = body(pod)
        ns = data["metadata"].get("namespace", "default")
        for service in cache.list(Service, ns):
            if selected_pods(body(service), [data]):
                yield ObjectRef(ns, service.metadata.name or "")

    def same_name(endpoints: Any) -> Iterator[ObjectRef]:
        yield ObjectRef(endpoints.metadata.namespace, endpoints.metadata.name or "")

    return (
        Controller(for_=Service, reconciler=_Reconciler(), name="endpoints")
        .watches(Pod, services_of)
        .watches(Endpoints, same_name)
    )
