"""networking.k8s.io/v1 Ingresses, IngressClasses and NetworkPolicies, and discovery.k8s.io/v1
EndpointSlices.

Rules from ``pkg/apis/networking/v1/defaults.go``, ``pkg/apis/networking/validation/
validation.go``, ``pkg/apis/discovery/v1/defaults.go``, ``pkg/apis/discovery/validation/
validation.go``, the ``DefaultIngressClass`` admission plugin
(``plugin/pkg/admission/network/defaultingressclass``) and the strategies in
``pkg/registry/networking`` and ``pkg/registry/discovery/endpointslice``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from opframe.testing.apiserver.builtins.meta import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    name_causes,
    validate_labels,
)
from opframe.testing.apiserver.builtins.podvalidation import port_name_errors
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import (
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
)

__all__ = [
    "DEFAULT_CLASS_ANNOTATION",
    "default_endpointslice",
    "default_ingress_class_name",
    "default_network_policy",
    "validate_endpointslice",
    "validate_endpointslice_update",
    "validate_ingress",
    "validate_ingress_class",
    "validate_ingress_class_update",
    "validate_network_policy",
]

#: An IngressClass with this annotation ``"true"`` is given to Ingresses that name none.
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
_PROTOCOLS = ("SCTP", "TCP", "UDP")
_PORT_RANGE = "must be between 1 and 65535, inclusive"
_CIDR_EXAMPLE = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
_IP_EXAMPLE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
_BAD_SEGMENTS = ("//", "/./", "/../", "%2f", "%2F")
_BAD_ENDINGS = ("/..", "/.")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _cidr_ok(text: str) -> bool:
    if "/" not in text:
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


# -- Ingress ---------------------------------------------------------------------------------


def default_ingress_class_name(ingress: dict[str, Any], classes: list[dict[str, Any]]) -> None:
    """``DefaultIngressClass`` admission: an Ingress naming no class (and no legacy class
    annotation) gets the newest class marked default, if any."""
    spec = ingress.setdefault("spec", {})
    annotations = (ingress.get("metadata") or {}).get("annotations") or {}
    if spec.get("ingressClassName") or "kubernetes.io/ingress.class" in annotations:
        return
    defaults = [
        c
        for c in classes
        if ((c.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION)
        == "true"
    ]
    if defaults:
        newest = max(
            defaults, key=lambda c: str((c.get("metadata") or {}).get("creationTimestamp") or "")
        )
        spec["ingressClassName"] = (newest.get("metadata") or {}).get("name")


_WILDCARD_MESSAGE = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
    "which must consist of lower case alphanumeric characters, '-' or '.' and end with an "
    "alphanumeric character (e.g. '*.example.com', regex used for validation is "
    "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def _host_causes(host: str, path: str) -> list[Cause]:
    """``IsWildcardDNS1123Subdomain`` for a host with ``*``, else ``IsDNS1123Subdomain``."""
    if "*" in host:
        rest = host[2:] if host.startswith("*.") else ""
        if not rest or "*" in rest or is_dns1123_subdomain(rest):
            return [invalid(path, host, _WILDCARD_MESSAGE)]
        return []
    return [invalid(path, host, m) for m in is_dns1123_subdomain(host)]


def _segment_causes(value: str, path: str) -> list[Cause]:
    if value in (".", ".."):
        return [invalid(path, value, f"may not be '{value}'")]
    return [invalid(path, value, f"may not contain '{c}'") for c in ("/", "%") if c in value]


def _typed_reference(ref: dict[str, Any], path: str) -> list[Cause]:
    """``validateIngressTypedLocalObjectReference``."""
    causes: list[Cause] = []
    group = ref.get("apiGroup")
    if group is not None:
        causes.extend(invalid(f"{path}.apiGroup", group, m) for m in is_dns1123_subdomain(group))
    for key in ("kind", "name"):
        value = str(ref.get(key) or "")
        if not value:
            causes.append(required(f"{path}.{key}", f"{key} is required"))
        else:
            causes.extend(_segment_causes(value, f"{path}.{key}"))
    return causes


def _backend(backend: Any, path: str) -> list[Cause]:
    """``validateIngressBackend``: a service (name, port name or number) or a resource."""
    if not isinstance(backend, dict):
        return []
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if isinstance(resource, dict):
        return _typed_reference(resource, f"{path}.resource")
    if not isinstance(service, dict):
        return [invalid(path, "", "resource or service backend is required")]
    causes: list[Cause] = []
    causes.extend(
        name_causes(str(service.get("name") or ""), f"{path}.service.name", is_dns1035_label)
    )
    port = service.get("port") or {}
    has_name, number = bool(port.get("name")), port.get("number")
    if has_name and number:
        causes.append(invalid(path, "", "cannot set both port name & port number"))
    elif has_name:
        causes.extend(
            invalid(f"{path}.service.port.name", port["name"], m)
            for m in port_name_errors(str(port["name"]))
        )
    elif number:
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(invalid(f"{path}.service.port.number", number, _PORT_RANGE))
    else:
        causes.append(required(path, "port name or number is required"))
    return causes


def _http_path(item: dict[str, Any], path: str) -> list[Cause]:
    """``validateHTTPIngressPath``."""
    kind = item.get("pathType")
    if not kind:
        return [required(f"{path}.pathType", "pathType must be specified")]
    causes: list[Cause] = []
    text = str(item.get("path") or "")
    if kind in ("Exact", "Prefix"):
        if not text.startswith("/"):
            causes.append(invalid(f"{path}.path", text, "must be an absolute path"))
        if text:
            for bad in _BAD_SEGMENTS:
                if bad in text:
                    causes.append(invalid(f"{path}.path", text, f"must not contain '{bad}'"))
            for bad in _BAD_ENDINGS:
                if text.endswith(bad):
                    causes.append(invalid(f"{path}.path", text, f"cannot end with '{bad}'"))
    elif kind == "ImplementationSpecific":
        if text and not text.startswith("/"):
            causes.append(invalid(f"{path}.path", text, "must be an absolute path"))
    else:
        causes.append(not_supported(f"{path}.pathType", kind, _PATH_TYPES))
    causes.extend(_backend(item.get("backend"), f"{path}.backend"))
    return causes


def validate_ingress(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateIngressCreate``/``ValidateIngressSpec``: a backend or rules; hosts, paths,
    backends, TLS hosts and secret names, the class name (and the legacy class annotation
    agreeing with it)."""
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    rules = spec.get("rules") or []
    default = spec.get("defaultBackend")
    if not rules and default is None:
        causes.append(
            invalid("spec", rules or None, "either `defaultBackend` or `rules` must be specified")
        )
    if default is not None:
        causes.extend(_backend(default, "spec.defaultBackend"))
    for i, rule in enumerate(rules):
        path = f"spec.rules[{i}]"
        host = str((rule or {}).get("host") or "")
        if host:
            if _is_ip(host):
                causes.append(
                    invalid(f"{path}.host", host, "must be a DNS name, not an IP address")
                )
            causes.extend(_host_causes(host, f"{path}.host"))
        http = (rule or {}).get("http")
        if http is None:
            continue
        paths = (http or {}).get("paths") or []
        if not paths:
            causes.append(required(f"{path}.http.paths"))
        for j, item in enumerate(paths):
            causes.extend(_http_path(item or {}, f"{path}.http.paths[{j}]"))
    for i, tls in enumerate(spec.get("tls") or []):
        for j, host in enumerate((tls or {}).get("hosts") or []):
            causes.extend(_host_causes(str(host), f"spec.tls[{i}].hosts[{j}]"))
        secret = str((tls or {}).get("secretName") or "")
        if secret:
            causes.extend(
                invalid(f"spec.tls[{i}].secretName", secret, m)
                for m in is_dns1123_subdomain(secret)
            )
    name = spec.get("ingressClassName")
    if name is not None:
        causes.extend(
            invalid("spec.ingressClassName", name, m) for m in is_dns1123_subdomain(str(name))
        )
    legacy = ((obj.get("metadata") or {}).get("annotations") or {}).get(
        "kubernetes.io/ingress.class"
    )
    if legacy is not None and name is not None and legacy != name:
        causes.append(
            invalid(
                "annotations.kubernetes.io/ingress.class",
                legacy,
                "must match `ingressClassName` when both are specified",
            )
        )
    return causes


def validate_ingress_class(obj: dict[str, Any]) -> list[Cause]:
    """``validateIngressClassSpec``: a domain-prefixed controller, well-formed parameters."""
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    controller = str(spec.get("controller") or "")
    if len(controller) > 250:
        causes.append(too_long("spec.controller", 250))
    if not controller:
        causes.append(required("spec.controller"))
    else:
        domain, _, rest = controller.partition("/")
        if not domain or not rest:
            causes.append(
                invalid(
                    "spec.controller",
                    controller,
                    'must be a domain-prefixed path (such as "acme.io/foo")',
                )
            )
        else:
            causes.extend(
                invalid("spec.controller", domain, m) for m in is_dns1123_subdomain(domain)
            )
    params = spec.get("parameters")
    if isinstance(params, dict):
        path = "spec.parameters"
        causes.extend(_typed_reference(params, path))
        scope = params.get("scope")
        if scope is None:
            causes.append(required(f"{path}.scope"))
        elif scope not in ("Cluster", "Namespace"):
            causes.append(not_supported(f"{path}.scope", scope, ("Cluster", "Namespace")))
        elif scope == "Namespace" and params.get("namespace") is None:
            causes.append(required(f"{path}.namespace", "`parameters.scope` is set to 'Namespace'"))
        elif scope == "Cluster" and params.get("namespace") is not None:
            causes.append(forbidden(f"{path}.namespace", "`parameters.scope` is set to 'Cluster'"))
    return causes


def validate_ingress_class_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """An IngressClass's controller is immutable."""
    ctl, old_ctl = (
        (new.get("spec") or {}).get("controller"),
        (old.get("spec") or {}).get("controller"),
    )
    if ctl != old_ctl:
        return [invalid("spec.controller", ctl, "field is immutable")]
    return []


# -- NetworkPolicy ---------------------------------------------------------------------------


def default_network_policy(obj: dict[str, Any]) -> None:
    """``SetDefaults_NetworkPolicy``: ports are TCP; policyTypes from the rules present."""
    spec = obj.setdefault("spec", {})
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in (rule or {}).get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


def _np_port(port: dict[str, Any], path: str) -> list[Cause]:
    """``ValidateNetworkPolicyPort``."""
    causes: list[Cause] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in _PROTOCOLS:
        causes.append(not_supported(f"{path}.protocol", protocol, ("TCP", "UDP", "SCTP")))
    value, end = port.get("port"), port.get("endPort")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            causes.append(invalid(f"{path}.port", value, _PORT_RANGE))
        if end is not None:
            if isinstance(end, int) and end < value:
                causes.append(
                    invalid(f"{path}.endPort", value, "must be greater than or equal to `port`")
                )
            if not isinstance(end, int) or not 1 <= end <= 65535:
                causes.append(invalid(f"{path}.endPort", end, _PORT_RANGE))
    elif isinstance(value, str):
        if end is not None:
            causes.append(
                invalid(f"{path}.endPort", end, "may not be specified when `port` is non-numeric")
            )
        causes.extend(invalid(f"{path}.port", value, m) for m in port_name_errors(value))
    elif end is not None:
        causes.append(
            invalid(f"{path}.endPort", end, "may not be specified when `port` is not specified")
        )
    return causes


def _ip_block(block: dict[str, Any], path: str) -> list[Cause]:
    """``ValidateIPBlock``: a CIDR, and exceptions strictly inside it."""
    cidr = str(block.get("cidr") or "")
    if not cidr:
        return [required(f"{path}.cidr")]
    if not _cidr_ok(cidr):
        return [invalid(f"{path}.cidr", cidr, _CIDR_EXAMPLE)]
    causes: list[Cause] = []
    net = ipaddress.ip_network(cidr, strict=False)
    for i, ex in enumerate(block.get("except") or []):
        p = f"{path}.except[{i}]"
        if not _cidr_ok(str(ex)):
            causes.append(invalid(p, ex, _CIDR_EXAMPLE))
            continue
        sub = ipaddress.ip_network(str(ex), strict=False)
        inside = sub.version == net.version and sub.network_address in net
        if not inside or net.prefixlen >= sub.prefixlen:
            causes.append(invalid(p, ex, "must be a strict subset of `cidr`"))
    return causes


def _np_peer(peer: dict[str, Any], path: str) -> list[Cause]:
    """``ValidateNetworkPolicyPeer``: exactly one kind of peer when it is an ipBlock."""
    causes: list[Cause] = []
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        if isinstance(peer.get(key), dict):
            count += 1
            causes.extend(
                validate_labels(peer[key].get("matchLabels"), f"{path}.{key}.matchLabels")
            )
    if isinstance(peer.get("ipBlock"), dict):
        count += 1
        causes.extend(_ip_block(peer["ipBlock"], f"{path}.ipBlock"))
    if count == 0:
        causes.append(required(path, "must specify a peer"))
    elif count > 1 and peer.get("ipBlock") is not None:
        causes.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return causes


def validate_network_policy(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateNetworkPolicySpec``: selectors, ports, peers and policy types."""
    spec = obj.get("spec") or {}
    causes = validate_labels(
        (spec.get("podSelector") or {}).get("matchLabels"), "spec.podSelector.matchLabels"
    )
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, port in enumerate((rule or {}).get("ports") or []):
                causes.extend(_np_port(port or {}, f"spec.{direction}[{i}].ports[{j}]"))
            for j, peer in enumerate((rule or {}).get(peers) or []):
                causes.extend(_np_peer(peer or {}, f"spec.{direction}[{i}].{peers}[{j}]"))
    types = spec.get("policyTypes") or []
    if len(types) > 2:
        causes.append(
            invalid("spec.policyTypes", types, "may not specify more than two policyTypes")
        )
        return causes
    for i, kind in enumerate(types):
        if kind not in ("Ingress", "Egress"):
            causes.append(not_supported(f"spec.policyTypes[{i}]", kind, ("Ingress", "Egress")))
    return causes


# -- EndpointSlice ---------------------------------------------------------------------------


def default_endpointslice(obj: dict[str, Any]) -> None:
    """``SetDefaults_EndpointPort`` (TCP) and the always-present (empty) ``conditions``."""
    for port in obj.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for endpoint in obj.get("endpoints") or []:
        if isinstance(endpoint, dict):
            endpoint.setdefault("conditions", {})


def _address(address: str, kind: str, path: str) -> list[Cause]:
    if kind == "FQDN":
        return [invalid(path, address, m) for m in is_dns1123_subdomain(address)]
    if not _is_ip(address):
        return [invalid(path, address, _IP_EXAMPLE)]
    version = ipaddress.ip_address(address).version
    if kind == "IPv4" and version != 4:
        return [invalid(path, address, "must be an IPv4 address")]
    if kind == "IPv6" and version != 6:
        return [invalid(path, address, "must be an IPv6 address")]
    return []


def validate_endpointslice(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateEndpointSlice``: address type, endpoints (1-100 addresses each), ports.

    ``ValidateEndpointIP``'s refusal of loopback addresses is left out on purpose: the local
    kubelet gives pods 127.0.x.y addresses, which an EndpointSlice controller publishes.
    """
    causes: list[Cause] = []
    kind = obj.get("addressType")
    if not kind:
        causes.append(required("addressType"))
    elif kind not in ("FQDN", "IPv4", "IPv6"):
        causes.append(not_supported("addressType", kind, ("FQDN", "IPv4", "IPv6")))
    endpoints = obj.get("endpoints") or []
    if len(endpoints) > 1000:
        causes.append(too_many("endpoints", len(endpoints), 1000))
    for i, endpoint in enumerate(endpoints):
        path = f"endpoints[{i}]"
        addresses = (endpoint or {}).get("addresses") or []
        if not addresses:
            causes.append(required(f"{path}.addresses", "must contain at least 1 address"))
        elif len(addresses) > 100:
            causes.append(too_many(f"{path}.addresses", len(addresses), 100))
        for j, address in enumerate(addresses):
            causes.extend(_address(str(address), str(kind or ""), f"{path}.addresses[{j}]"))
        node = (endpoint or {}).get("nodeName")
        if node:
            causes.extend(invalid(f"{path}.nodeName", node, m) for m in is_dns1123_subdomain(node))
        host = (endpoint or {}).get("hostname")
        if host:
            causes.extend(invalid(f"{path}.hostname", host, m) for m in is_dns1123_label(host))
    names: set[str] = set()
    for i, port in enumerate(obj.get("ports") or []):
        path = f"ports[{i}]"
        name = str((port or {}).get("name") or "")
        if name:
            causes.extend(invalid(f"{path}.name", name, m) for m in is_dns1123_label(name))
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
        protocol = (port or {}).get("protocol")
        if protocol is not None and protocol not in _PROTOCOLS:
            causes.append(not_supported(f"{path}.protocol", protocol, _PROTOCOLS))
        app = (port or {}).get("appProtocol")
        if app:
            causes.extend(invalid(f"{path}.appProtocol", app, m) for m in is_qualified_name(app))
    return causes


def validate_endpointslice_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """An EndpointSlice's address type is immutable."""
    if new.get("addressType") != old.get("addressType"):
        return [invalid("addressType", new.get("addressType"), "field is immutable")]
    return []
