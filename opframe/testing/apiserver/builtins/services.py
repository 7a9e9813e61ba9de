"""Services (cluster IP allocation, defaults, validation) and Endpoints."""

from __future__ import annotations

import copy
import ipaddress
import random
from typing import Any

from opframe.testing.apiserver.builtins.context import SERVICE_CIDR, BuiltinContext
from opframe.testing.apiserver.builtins.meta import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    validate_labels,
)
from opframe.testing.apiserver.builtins.podvalidation import (
    PORT_RANGE,
    PROTOCOLS,
    enum_causes,
    port_name_errors,
)
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import (
    duplicate,
    enum_set_causes,
    forbidden,
    invalid,
    not_supported,
    required,
)

__all__ = [
    "allocate_service_ips",
    "default_service",
    "prepare_service_update",
    "release_service_ips",
    "validate_service",
    "validate_service_update",
]

_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
_FAMILIES = ("IPv4", "IPv6")
#: The node port range of the recorded server (``--service-node-port-range`` default).
_NODE_PORTS = range(30000, 32768)
_NETWORK = ipaddress.ip_network(SERVICE_CIDR)


def default_service(svc: dict[str, Any]) -> None:
    """``SetDefaults_Service``: type, session affinity, port protocol and target port, traffic
    policies; status gets its empty load balancer."""
    spec = svc.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    kind = spec["type"]
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if kind != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec.get("sessionAffinity") == "ClientIP":
        spec.setdefault("sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 10800}})
    status = svc.get("status")
    svc["status"] = {"loadBalancer": {}} if not isinstance(status, dict) else status
    svc["status"].setdefault("loadBalancer", {})


def _headless(spec: dict[str, Any]) -> bool:
    return spec.get("clusterIP") == "None"


def _validate_port(port: dict[str, Any], p: str, multiple: bool, names: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    name = port.get("name") or ""
    if multiple and not name:
        causes.append(required(f"{p}.name"))
    elif name:
        msgs = is_dns1123_label(name)
        causes.extend(invalid(f"{p}.name", name, m) for m in msgs)
        if name in names:
            causes.append(duplicate(f"{p}.name", name))
        names.add(name)
    number = port.get("port") or 0
    if not 1 <= number <= 65535:
        causes.append(invalid(f"{p}.port", number, PORT_RANGE))
    causes.extend(enum_causes(port.get("protocol") or "", f"{p}.protocol", PROTOCOLS))
    target = port.get("targetPort")
    if isinstance(target, int) and not 1 <= target <= 65535:
        causes.append(invalid(f"{p}.targetPort", target, PORT_RANGE))
    elif isinstance(target, str):
        causes.extend(invalid(f"{p}.targetPort", target, m) for m in port_name_errors(target))
    return causes


def validate_service(svc: dict[str, Any]) -> list[Cause]:
    """``ValidateService`` (spec part): type, ports, cluster IPs, external name, affinity."""
    spec = svc.get("spec") or {}
    causes: list[Cause] = []
    kind = spec.get("type") or ""
    if kind not in _TYPES:
        causes.append(not_supported("spec.type", kind, _TYPES))
    ports = spec.get("ports") or []
    if kind == "ExternalName":
        ext = spec.get("externalName") or ""
        if not ext:
            causes.append(required("spec.externalName"))
        else:
            causes.extend(
                invalid("spec.externalName", ext, m)
                for m in is_dns1123_subdomain(ext.removesuffix("."))
            )
    elif not ports and not _headless(spec):
        causes.append(required("spec.ports"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        if isinstance(port, dict):
            causes.extend(_validate_port(port, f"spec.ports[{i}]", len(ports) > 1, names))
    causes.extend(_node_port_causes(kind, ports))
    causes.extend(_ip_family_causes(spec))
    for i, ip in enumerate(spec.get("clusterIPs") or []):
        if ip == "None" and i == 0:
            continue
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            causes.append(
                invalid(
                    f"spec.clusterIPs[{i}]",
                    ip,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                )
            )
    affinity = spec.get("sessionAffinity") or ""
    causes.extend(enum_causes(affinity, "spec.sessionAffinity", ("ClientIP", "None")))
    selector = spec.get("selector")
    if isinstance(selector, dict):
        causes.extend(validate_labels(selector, "spec.selector"))
    return causes


def _node_port_causes(kind: str, ports: list[Any]) -> list[Cause]:
    """``ValidateService``: node ports only for NodePort and LoadBalancer, valid, unique."""
    causes: list[Cause] = []
    seen: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        node_port = port.get("nodePort") if isinstance(port, dict) else None
        if not isinstance(node_port, int) or not node_port:
            continue
        path = f"spec.ports[{i}].nodePort"
        if kind == "ClusterIP":
            causes.append(forbidden(path, "may not be used when `type` is 'ClusterIP'"))
            continue
        if not 1 <= node_port <= 65535:
            causes.append(invalid(path, node_port, PORT_RANGE))
        key = (str(port.get("protocol") or "TCP"), node_port)
        if key in seen:
            causes.append(duplicate(path, node_port))
        seen.add(key)
    return causes


def _ip_family_causes(spec: dict[str, Any]) -> list[Cause]:
    """``validateServiceIPFamily``: known policy and families, no family twice, at most two."""
    causes: list[Cause] = []
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in _POLICIES:
        causes.append(not_supported("spec.ipFamilyPolicy", policy, _POLICIES))
    families = spec.get("ipFamilies") or []
    causes.extend(enum_set_causes(families, "spec.ipFamilies", _FAMILIES))
    if len(families) > 2:
        causes.append(
            invalid("spec.ipFamilies", families, "may specify no more than two IP families")
        )
    if policy == "SingleStack" and len(families) > 1:
        causes.append(
            invalid(
                "spec.ipFamilyPolicy",
                policy,
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are "
                "specified",
            )
        )
    return causes


def _single_stack_causes(spec: dict[str, Any]) -> list[Cause]:
    """What the IPv4-only allocator refuses: dual-stack required, IPv6 asked for."""
    causes: list[Cause] = []
    if spec.get("ipFamilyPolicy") == "RequireDualStack" and not _headless(spec):
        causes.append(
            invalid(
                "spec.ipFamilyPolicy",
                "RequireDualStack",
                "this cluster is not configured for dual-stack services",
            )
        )
    for i, family in enumerate(spec.get("ipFamilies") or []):
        if family == "IPv6":
            causes.append(
                invalid(f"spec.ipFamilies[{i}]", family, "not configured on this cluster")
            )
    return causes


def _in_range(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in _NETWORK
    except ValueError:
        return False


def allocate_service_ips(svc: dict[str, Any], ctx: BuiltinContext) -> list[Cause]:
    """Allocate the cluster IP (and node ports), fill ``clusterIPs`` and the IP families."""
    spec = svc["spec"]
    if spec.get("type") == "ExternalName":
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(key, None)
        return []
    family_causes = _single_stack_causes(spec)
    if family_causes:
        return family_causes
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    requested = spec.get("clusterIP") or ""
    if requested and requested != "None":
        if not _in_range(requested):
            return [
                invalid(
                    "spec.clusterIPs",
                    spec.get("clusterIPs") or [requested],
                    f"failed to allocate IP {requested}: the provided IP ({requested}) "
                    f"is not in the valid range. The range of valid IPs is {SERVICE_CIDR}",
                )
            ]
        reserve = getattr(ctx, "reserve_cluster_ip", None)
        if reserve is not None and not reserve(requested):
            return [
                invalid(
                    "spec.clusterIPs",
                    spec.get("clusterIPs") or [requested],
                    f"failed to allocate IP {requested}: provided IP is already allocated",
                )
            ]
    elif not requested:
        ip = ctx.allocate_cluster_ip()
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
    spec.setdefault("ipFamilies", ["IPv4"])
    if _headless(spec) and not spec.get("selector"):
        spec.setdefault("ipFamilyPolicy", "RequireDualStack")
    else:
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        if spec.get("type") == "NodePort" or spec.get("allocateLoadBalancerNodePorts", True):
            used = {p.get("nodePort") for p in spec.get("ports") or []}
            for i, port in enumerate(spec.get("ports") or []):
                wanted = port.get("nodePort")
                if wanted and wanted not in _NODE_PORTS:
                    return [
                        invalid(
                            f"spec.ports[{i}].nodePort",
                            wanted,
                            "provided port is not in the valid range. The range of valid ports "
                            f"is {_NODE_PORTS.start}-{_NODE_PORTS.stop - 1}",
                        )
                    ]
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    candidates = [n for n in _NODE_PORTS if n not in used]
                    port["nodePort"] = random.choice(candidates)
                    used.add(port["nodePort"])
    return []


def release_service_ips(svc: dict[str, Any], ctx: BuiltinContext) -> None:
    """Give the service's allocated cluster IPs back."""
    for ip in (svc.get("spec") or {}).get("clusterIPs") or []:
        if ip != "None" and _in_range(ip):
            ctx.release_cluster_ip(ip)


def prepare_service_update(new: dict[str, Any], old: dict[str, Any], ctx: BuiltinContext) -> None:
    """Carry allocated values a client omitted (as ``patchAllocatedValues`` does), normalise
    ``clusterIP``/``clusterIPs``, keep the old status."""
    spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
    if spec.get("type") != "ExternalName" and old_spec.get("type") != "ExternalName":
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            if not spec.get("clusterIPs") or spec.get("clusterIPs") == old_spec.get("clusterIPs"):
                spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
            if spec.get("clusterIP") == old_spec.get("clusterIP"):
                spec["clusterIPs"] = old_spec["clusterIPs"]
        if spec.get("clusterIP") != old_spec.get("clusterIP") and spec.get(
            "clusterIPs"
        ) == old_spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]] if spec.get("clusterIP") else []
        for key in ("ipFamilies", "ipFamilyPolicy"):
            if key not in spec and key in old_spec:
                spec[key] = copy.deepcopy(old_spec[key])
        old_ports = {(p.get("port"), p.get("protocol")): p for p in old_spec.get("ports") or []}
        for port in spec.get("ports") or []:
            prev = old_ports.get((port.get("port"), port.get("protocol")))
            if prev and prev.get("nodePort") and not port.get("nodePort"):
                port["nodePort"] = prev["nodePort"]
    if spec.get("type") == "ExternalName" and old_spec.get("type") != "ExternalName":
        release_service_ips(old, ctx)
    elif old_spec.get("type") == "ExternalName" and spec.get("type") != "ExternalName":
        allocate_service_ips(new, ctx)
    new["status"] = copy.deepcopy(old.get("status") or {"loadBalancer": {}})


def validate_service_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Cluster IPs may not change once set (except to and from ExternalName)."""
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    new_ips, old_ips = spec.get("clusterIPs") or [], old_spec.get("clusterIPs") or []
    if _headless(spec) and _headless(old_spec):
        return []
    if _headless(spec) != _headless(old_spec) or (new_ips and old_ips and new_ips[0] != old_ips[0]):
        return [invalid("spec.clusterIPs[0]", new_ips, "may not change once set")]
    if len(new_ips) > 1 and len(old_ips) > 1 and new_ips[1] != old_ips[1]:
        return [invalid("spec.clusterIPs[1]", new_ips, "may not change once set")]
    return []


def validate_service_name(name: str) -> list[str]:
    """Service names are DNS-1035 labels."""
    return is_dns1035_label(name)
