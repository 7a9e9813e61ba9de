"""Networking kinds: Ingress and NetworkPolicy (``networking.k8s.io/v1``), re-exported by
:mod:`opframe.kinds`::

    backend = IngressBackend(
        service=IngressServiceBackend(name="web", port=ServiceBackendPort(number=80))
    )
    rule = IngressRule(host="web.example.com", http=HTTPIngressRuleValue(
        paths=[HTTPIngressPath(path="/", path_type="Prefix", backend=backend)]))
    ingress = Ingress(
        metadata=ObjectMeta(name="web", namespace="default"), spec=IngressSpec(rules=[rule])
    )
"""

from __future__ import annotations

from opframe._pod_parts import IntOrString
from opframe.kinds._core import LabelSelector, _TypedName
from opframe.resource import KubeModel, Resource

__all__ = [
    "HTTPIngressPath",
    "HTTPIngressRuleValue",
    "IPBlock",
    "Ingress",
    "IngressBackend",
    "IngressLoadBalancerIngress",
    "IngressLoadBalancerStatus",
    "IngressPortStatus",
    "IngressRule",
    "IngressServiceBackend",
    "IngressSpec",
    "IngressStatus",
    "IngressTLS",
    "NetworkPolicy",
    "NetworkPolicyEgressRule",
    "NetworkPolicyIngressRule",
    "NetworkPolicyPeer",
    "NetworkPolicyPort",
    "NetworkPolicySpec",
    "ServiceBackendPort",
    "TypedLocalObjectReference",
]


# --- Ingress ----------------------------------------------------------------------------------


class ServiceBackendPort(KubeModel):
    """A Service port by ``number`` or by ``name``."""

    number: int | None = None
    name: str | None = None


class IngressServiceBackend(KubeModel):
    """A Service (in the Ingress's namespace) and its port."""

    name: str
    port: ServiceBackendPort | None = None


class TypedLocalObjectReference(_TypedName):
    """An object in the same namespace, by API group, kind and name."""


class IngressBackend(KubeModel):
    """Where matching requests go: a ``service``, or another ``resource``."""

    service: IngressServiceBackend | None = None
    resource: TypedLocalObjectReference | None = None


class HTTPIngressPath(KubeModel):
    """A path (``Exact``, ``Prefix`` or ``ImplementationSpecific``) and its backend."""

    backend: IngressBackend
    path_type: str = "Prefix"
    path: str | None = None


class HTTPIngressRuleValue(KubeModel):
    """The HTTP paths of a rule."""

    paths: list[HTTPIngressPath]


class IngressRule(KubeModel):
    """Requests for ``host`` (all hosts when unset) routed by ``http`` paths."""

    host: str | None = None
    http: HTTPIngressRuleValue | None = None


class IngressTLS(KubeModel):
    """TLS for ``hosts`` with the certificate in Secret ``secret_name``."""

    hosts: list[str] | None = None
    secret_name: str | None = None


class IngressSpec(KubeModel):
    """An Ingress's class, rules, TLS and default backend."""

    ingress_class_name: str | None = None
    default_backend: IngressBackend | None = None
    tls: list[IngressTLS] | None = None
    rules: list[IngressRule] | None = None


class IngressPortStatus(KubeModel):
    """A port of the load balancer and its error, if any."""

    port: int
    protocol: str
    error: str | None = None


class IngressLoadBalancerIngress(KubeModel):
    """One address of the load balancer."""

    ip: str | None = None
    hostname: str | None = None
    ports: list[IngressPortStatus] | None = None


class IngressLoadBalancerStatus(KubeModel):
    """The load balancer's addresses."""

    ingress: list[IngressLoadBalancerIngress] | None = None


class IngressStatus(KubeModel):
    """Where the Ingress is reachable."""

    load_balancer: IngressLoadBalancerStatus | None = None


class Ingress(Resource, group="networking.k8s.io", version="v1", builtin=True):
    """An ingress (``networking.k8s.io/v1``)."""

    spec: IngressSpec | None = None
    status: IngressStatus | None = None


# --- NetworkPolicy ----------------------------------------------------------------------------


class IPBlock(KubeModel):
    """A CIDR, less the CIDRs in ``except_`` (``except`` on the wire)."""

    cidr: str
    except_: list[str] | None = None


class NetworkPolicyPeer(KubeModel):
    """Pods (by ``pod_selector``, in namespaces by ``namespace_selector``) or an ``ip_block``."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


class NetworkPolicyPort(KubeModel):
    """A port (number or name) or a range up to ``end_port``, and its protocol."""

    protocol: str | None = None
    port: IntOrString | None = None
    end_port: int | None = None


class NetworkPolicyIngressRule(KubeModel):
    """Traffic allowed in: from ``from_`` (``from`` on the wire) to ``ports``."""

    from_: list[NetworkPolicyPeer] | None = None
    ports: list[NetworkPolicyPort] | None = None


class NetworkPolicyEgressRule(KubeModel):
    """Traffic allowed out: to ``to`` on ``ports``."""

    to: list[NetworkPolicyPeer] | None = None
    ports: list[NetworkPolicyPort] | None = None


class NetworkPolicySpec(KubeModel):
    """Which pods it selects, and the traffic they may receive and send."""

    pod_selector: LabelSelector = LabelSelector()
    policy_types: list[str] | None = None
    ingress: list[NetworkPolicyIngressRule] | None = None
    egress: list[NetworkPolicyEgressRule] | None = None


class NetworkPolicy(Resource, group="networking.k8s.io", version="v1", builtin=True):
    """A network policy (``networking.k8s.io/v1``)."""

    spec: NetworkPolicySpec = NetworkPolicySpec()
