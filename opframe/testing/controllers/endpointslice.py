"""The EndpointSlice controller: ``discovery.k8s.io/v1`` slices for every selector Service.

Follows ``pkg/controller/endpointslice/reconciler.go`` and the shared
``staging/src/k8s.io/endpointslice/utils.go`` (``podToEndpoint``, ``newEndpointSlice``,
``getEndpointPorts``) and ``podutil.ShouldPodBeInEndpoints``:

- a pod is an endpoint when it has an IP and, under ``restartPolicy`` ``Never`` it is not
  finished (``OnFailure``: not Succeeded); terminating pods stay in, marked;
- conditions: ``serving`` = the pod is Ready, ``terminating`` = it is being deleted,
  ``ready`` = serving and not terminating (always true with ``publishNotReadyAddresses``);
  each endpoint has ``addresses`` (the pod IP), ``nodeName``, a ``targetRef`` to the pod,
  and ``hostname`` when the pod's ``subdomain`` is the Service;
- pods with the same resolved ports share slices (at most 100 endpoints each); ports have
  the Service port's ``name``, ``protocol``, ``appProtocol`` and the pod's target port;
- a slice is named ``SERVICE-<random>`` (``generateName``), labelled
  ``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by:
  endpointslice-controller.k8s.io`` (and the Service's labels), owned by the Service, with
  ``addressType`` ``IPv4`` (``IPv6`` for v6 pod IPs); slices no longer needed are deleted,
  those of a deleted Service too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from opframe.cache import Cache
from opframe.controller import Controller
from opframe.errors import NotFound
from opframe.objectref import ObjectRef
from opframe.reconcile import Context
from opframe.testing.controllers._kinds import EndpointSlice, Pod, Service, body
from opframe.testing.controllers._util import Obj, is_ready, labels_of, target_port

__all__ = [
    "MANAGED_BY",
    "SERVICE_NAME_LABEL",
    "desired_slices",
    "endpointslice_controller",
    "pod_endpoint",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS = 100


def _in_endpoints(pod: Obj) -> bool:
    """``ShouldPodBeInEndpoints`` with terminating pods included."""
    status, spec = pod.get("status") or {}, pod.get("spec") or {}
    if not status.get("podIP"):
        return False
    phase, policy = status.get("phase"), spec.get("restartPolicy", "Always")
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True



def pod_endpoint(service: Obj, pod: Obj) -> Obj:
    """The endpoint of ``pod`` in a slice of ``service`` (``podToEndpoint``)."""
    pmeta, pspec = pod["metadata"], pod.get("spec") or {}
    serving = is_ready(pod)
    terminating = bool(pmeta.get("deletionTimestamp"))
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    endpoint: Obj = {
        "addresses": [(pod.get("status") or {})["podIP"]],
        "conditions": {"ready": publish or (serving and not terminating), "serving": serving,
                       "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": pmeta.get("namespace"), "name": pmeta["name"],
                      "uid": pmeta.get("uid")},
    }  # fmt: skip
    if pspec.get("nodeName"):
        endpoint["nodeName"] = pspec["nodeName"]
    if pspec.get("hostname") and pspec.get("subdomain") == service["metadata"]["name"]:
        endpoint["hostname"] = pspec["hostname"]
    return endpoint


def _ports(service: Obj, pod: Obj) -> list[Obj]:
    ports = []
    for port in (service.get("spec") or {}).get("ports") or []:
        number = target_port(port, pod)
        if number is None:
            continue
        entry: Obj = {"name": port.get("name", ""), "port": number,
                      "protocol": port.get("protocol", "TCP")}  # fmt: skip
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        ports.append(entry)
    return ports


def desired_slices(service: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The slices the controller keeps for ``service`` (pure; names left to the server).

    Empty for a Service without a selector (its slices are its user's).
    """
    meta, spec = service["metadata"], service.get("spec") or {}
    selector: dict[str, str] = spec.get("selector") or {}
    if not selector:
        return []
    ns = meta.get("namespace", "default")
    groups: dict[tuple[str, str], tuple[list[Obj], list[Obj]]] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        if pod["metadata"].get("namespace", "default") != ns or not _in_endpoints(pod):
            continue
        if any(labels_of(pod).get(k) != v for k, v in selector.items()):
            continue
        ports = _ports(service, pod)
        family = "IPv6" if ":" in (pod.get("status") or {})["podIP"] else "IPv4"
        key = (family, repr(ports))
        groups.setdefault(key, (ports, []))[1].append(pod_endpoint(service, pod))
    labels = {**(meta.get("labels") or {}), SERVICE_NAME_LABEL: meta["name"],
              MANAGED_BY_LABEL: MANAGED_BY}  # fmt: skip
    owner = {"apiVersion": "v1", "kind": "Service", "name": meta["name"], "uid": meta.get("uid"),
             "controller": True, "blockOwnerDeletion": True}  # fmt: skip
    if not groups:
        # A selector Service with no endpoints still has one placeholder slice, no ports.
        groups[("IPv4", "")] = ([], [])
    slices = []
    for (family, _), (ports, endpoints) in groups.items():
        for start in range(0, max(len(endpoints), 1), MAX_ENDPOINTS):
            slices.append({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"generateName": f"{meta['name']}-", "namespace": ns,
                             "labels": labels, "ownerReferences": [owner]},
                "addressType": family,
                "endpoints": endpoints[start:start + MAX_ENDPOINTS],
                "ports": ports,
            })  # fmt: skip
    return slices


def _same(have: Obj, want: Obj) -> bool:
    return all(
        (have.get(k) or []) == (want.get(k) or []) for k in ("endpoints", "ports")
    ) and have.get("addressType") == want["addressType"] and all(
        labels_of(have).get(k) == v for k, v in labels_of(want).items()
    )  # fmt: skip


class _Reconciler:
    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def _managed(self, ns: str, name: str) -> list[Obj]:
        return [
            body(s) for s in self.cache.list(EndpointSlice, ns)
            if labels_of(body(s)).get(SERVICE_NAME_LABEL) == name
            and labels_of(body(s)).get(MANAGED_BY_LABEL) == MANAGED_BY
        ]  # fmt: skip

    async def reconcile(self, ctx: Context, service: Service) -> None:
        data = body(service)
        meta = data["metadata"]
        ns = meta.get("namespace", "default")
        if not (data.get("spec") or {}).get("selector"):
            return
        desired = desired_slices(data, (body(p) for p in ctx.cache.list(Pod, ns)))
        existing = sorted(self._managed(ns, meta["name"]), key=lambda s: s["metadata"]["name"])
        unmatched = []
        for want in desired:
            match = next((h for h in existing if _same(h, want)), None)
            if match is not None:
                existing.remove(match)
            else:
                unmatched.append(want)
        for want in unmatched:
            reuse = next((h for h in existing if h.get("addressType") == want["addressType"]),
                         None)  # fmt: skip
            if reuse is None:
                await ctx.client.create(EndpointSlice.model_validate(want))
                continue
            existing.remove(reuse)
            want["metadata"] = {
                **want["metadata"],
                "name": reuse["metadata"]["name"],
                "resourceVersion": reuse["metadata"]["resourceVersion"],
            }
            del want["metadata"]["generateName"]
            await ctx.client.replace(EndpointSlice.model_validate(want))
        for stale in existing:
            with contextlib.suppress(NotFound):
                await ctx.client.delete(EndpointSlice, stale["metadata"]["name"], ns)

    async def on_deleted(self, ctx: Context) -> None:
        for stale in self._managed(ctx.ref.namespace or "default", ctx.ref.name):
            with contextlib.suppress(NotFound):
                await ctx.client.delete(EndpointSlice, stale["metadata"]["name"],
                                        ctx.ref.namespace)  # fmt: skip


def endpointslice_controller(cache: Cache) -> Controller[Service]:
    """The EndpointSlice controller, for a :class:`~opframe.Manager` whose cache is ``cache``."""

    def services_of(pod: Any) -> Iterator[ObjectRef]:
        data = body(pod)
        ns = data["metadata"].get("namespace", "default")
        labels = labels_of(data)
        for service in cache.list(Service, ns):
            selector = (body(service).get("spec") or {}).get("selector") or {}
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                yield ObjectRef(ns, service.metadata.name or "")

    def service_of(endpoint_slice: Any) -> Iterator[ObjectRef]:
        name = labels_of(body(endpoint_slice)).get(SERVICE_NAME_LABEL)
        if name:
            yield ObjectRef(endpoint_slice.metadata.namespace, name)

    return (
        Controller(for_=Service, reconciler=_Reconciler(cache), name="endpointslice")
        .watches(Pod, services_of)
        .watches(EndpointSlice, service_of)
    )
