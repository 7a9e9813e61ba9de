"""How the fields of the kinds we serve merge: patch strategies, merge keys and list types.

Two consumers read the same description of a type:

- strategic merge patch reads ``patchStrategy`` / ``patchMergeKey`` (``merge_key``,
  ``strategy``), as the Go struct tags of ``k8s.io/api`` say them;
- server-side apply and ``managedFields`` read ``listType`` / ``listMapKeys`` /
  ``mapType=atomic`` / ``structType=atomic`` (``list_type``, ``keys``, ``atomic``), and
  ``zero``: the struct fields a Go zero value already has (a non-pointer struct, a list or map
  without ``omitempty``). A field present in the zero value is never *added* by a write, which
  is why ``f:spec`` of a Deployment has no ``.`` marker while ``f:spec`` of a custom resource has.

The two sets of tags disagree on purpose in places (container ports merge by ``containerPort``
in a strategic patch but are keyed by ``containerPort`` + ``protocol`` for apply), so both are
kept. Fields not described are "deduced": maps are merged field by field, lists are atomic.
Custom resources get their :class:`Node` from the CRD's structural schema (``from_schema``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ANY",
    "Node",
    "builtin_node",
    "from_schema",
    "root_node",
]


@dataclass(frozen=True, eq=False)
class Node:
    """The merge behaviour of one field type.

    ``kind`` is ``struct`` (declared fields), ``map`` (free keys, one value type), ``list``,
    ``scalar`` or ``any`` (no schema: maps granular, lists atomic).
    ``list_type`` is ``atomic``, ``set`` or ``map`` (with ``keys``); ``merge_key`` and
    ``strategy`` (``merge``, ``replace``, ``retainKeys``) drive strategic merge patch;
    ``atomic`` makes a struct or map one value for apply; ``key_defaults`` fills a list-map key
    the schema defaults (a container port's ``protocol``).
    """

    kind: str
    fields: Mapping[str, Node] = field(default_factory=dict)
    elem: Node | None = None
    list_type: str = "atomic"
    keys: tuple[str, ...] = ()
    merge_key: str = ""
    strategy: frozenset[str] = frozenset()
    atomic: bool = False
    zero: frozenset[str] = frozenset()
    key_defaults: Mapping[str, Any] = field(default_factory=dict)

    def child(self, name: str) -> Node:
        """The type of field or map value ``name`` (``ANY`` when undeclared)."""
        if self.kind == "struct":
            found = self.fields.get(name)
            if found is not None:
                return found
            return self.elem if self.elem is not None else ANY
        if self.kind == "map" and self.elem is not None:
            return self.elem
        return ANY

    def declares(self, name: str) -> bool:
        """Whether ``name`` is a declared struct field (not a free map key)."""
        return self.kind == "struct" and name in self.fields

    def item(self) -> Node:
        """The type of a list item."""
        return self.elem if self.elem is not None else ANY


ANY = Node("any")
SCALAR = Node("scalar")
ATOMIC = Node("struct", atomic=True)
ATOMIC_LIST = Node("list", elem=ANY)


def _struct(zero: tuple[str, ...] = (), retain: bool = False, **fields: Node) -> Node:
    return _make_struct(fields, zero, retain)


def _make_struct(fields: dict[str, Node], zero: tuple[str, ...] = (), retain: bool = False) -> Node:
    return Node(
        "struct",
        fields=fields,
        zero=frozenset(zero),
        strategy=frozenset({"retainKeys"}) if retain else frozenset(),
    )


def _map(elem: Node = SCALAR, atomic: bool = False) -> Node:
    return Node("map", elem=elem, atomic=atomic)


def _list_map(
    elem: Node,
    keys: tuple[str, ...],
    merge_key: str = "",
    retain: bool = False,
    key_defaults: Mapping[str, Any] | None = None,
) -> Node:
    strategy = {"merge"} if merge_key else set()
    if retain:
        strategy.add("retainKeys")
    return Node(
        "list",
        elem=elem,
        list_type="map",
        keys=keys,
        merge_key=merge_key,
        strategy=frozenset(strategy),
        key_defaults=key_defaults or {},
    )


def _set(merge: bool = False) -> Node:
    return Node(
        "list",
        elem=SCALAR,
        list_type="set",
        strategy=frozenset({"merge"}) if merge else frozenset(),
    )


def _merge_atomic_list(merge_key: str, elem: Node = ANY) -> Node:
    """A list strategic patch merges by key but apply treats as one value."""
    return Node("list", elem=elem, merge_key=merge_key, strategy=frozenset({"merge"}))


_CONDITIONS = _list_map(ANY, ("type",), merge_key="type")

OBJECT_META = _struct(
    labels=_map(),
    annotations=_map(),
    finalizers=_set(merge=True),
    ownerReferences=_list_map(ANY, ("uid",), merge_key="uid"),
    managedFields=ATOMIC_LIST,
)

_LABEL_SELECTOR = ATOMIC

_CONTAINER_PORT = _list_map(
    ANY, ("containerPort", "protocol"), merge_key="containerPort", key_defaults={"protocol": "TCP"}
)
_RESOURCES = _struct(limits=_map(), requests=_map(), claims=_list_map(ANY, ("name",)))
_CONTAINER = _struct(
    command=ATOMIC_LIST,
    args=ATOMIC_LIST,
    ports=_CONTAINER_PORT,
    env=_list_map(_struct(valueFrom=_struct()), ("name",), merge_key="name"),
    envFrom=ATOMIC_LIST,
    volumeMounts=_list_map(ANY, ("mountPath",), merge_key="mountPath"),
    volumeDevices=_list_map(ANY, ("devicePath",), merge_key="devicePath"),
    resources=_RESOURCES,
    resizePolicy=ATOMIC_LIST,
)
_POD_SPEC = _struct(
    zero=("containers",),
    containers=_list_map(_CONTAINER, ("name",), merge_key="name"),
    initContainers=_list_map(_CONTAINER, ("name",), merge_key="name"),
    ephemeralContainers=_list_map(_CONTAINER, ("name",), merge_key="name"),
    volumes=_list_map(_struct(retain=True), ("name",), merge_key="name", retain=True),
    imagePullSecrets=_list_map(ANY, ("name",), merge_key="name"),
    hostAliases=_list_map(_struct(hostnames=ATOMIC_LIST), ("ip",), merge_key="ip"),
    tolerations=ATOMIC_LIST,
    topologySpreadConstraints=_list_map(
        _struct(labelSelector=_LABEL_SELECTOR, matchLabelKeys=ATOMIC_LIST),
        ("topologyKey", "whenUnsatisfiable"),
        merge_key="topologyKey",
    ),
    nodeSelector=_map(atomic=True),
    readinessGates=ATOMIC_LIST,
    schedulingGates=_list_map(ANY, ("name",), merge_key="name"),
    resourceClaims=_list_map(ANY, ("name",), merge_key="name", retain=True),
)
_POD_STATUS = _struct(
    conditions=_CONDITIONS,
    podIPs=_list_map(ANY, ("ip",), merge_key="ip"),
    hostIPs=_merge_atomic_list("ip"),
    containerStatuses=ATOMIC_LIST,
    initContainerStatuses=ATOMIC_LIST,
    ephemeralContainerStatuses=ATOMIC_LIST,
)
_POD_TEMPLATE = _struct(zero=("metadata", "spec"), metadata=OBJECT_META, spec=_POD_SPEC)
_WORKLOAD_STATUS = _struct(conditions=_CONDITIONS)


_RULES = ATOMIC_LIST
_WEBHOOK = _struct(
    rules=_RULES,
    namespaceSelector=_LABEL_SELECTOR,
    objectSelector=_LABEL_SELECTOR,
    admissionReviewVersions=ATOMIC_LIST,
    matchConditions=_list_map(ANY, ("name",), merge_key="name"),
)
_MATCH_RESOURCES = Node(
    "struct",
    fields={
        "namespaceSelector": _LABEL_SELECTOR,
        "objectSelector": _LABEL_SELECTOR,
        "resourceRules": _RULES,
        "excludeResourceRules": _RULES,
    },
    atomic=True,
)


def _object(zero: tuple[str, ...] = (), **fields: Node) -> Node:
    return _make_struct({"metadata": OBJECT_META, **fields}, ("metadata", *zero))


def _pod_controller(
    zero: tuple[str, ...] = ("template",), status: Node = _WORKLOAD_STATUS, **spec_fields: Node
) -> Node:
    """An object whose spec selects pods (label selector) and makes them from a template."""
    return _object(
        zero=("spec", "status"),
        spec=_make_struct(
            {"selector": _LABEL_SELECTOR, "template": _POD_TEMPLATE, **spec_fields}, zero
        ),
        status=status,
    )


_BUILTINS: dict[tuple[str, str], Node] = {
    ("", "ConfigMap"): _object(data=_map(), binaryData=_map()),
    ("", "Secret"): _object(data=_map(), stringData=_map()),
    ("", "Namespace"): _object(
        zero=("spec", "status"),
        spec=_struct(finalizers=ATOMIC_LIST),
        status=_struct(conditions=_CONDITIONS),
    ),
    ("", "Pod"): _object(zero=("spec", "status"), spec=_POD_SPEC, status=_POD_STATUS),
    ("", "PodTemplate"): _object(zero=("template",), template=_POD_TEMPLATE),
    ("", "Service"): _object(
        zero=("spec", "status"),
        spec=_struct(
            ports=_list_map(
                ANY, ("port", "protocol"), merge_key="port", key_defaults={"protocol": "TCP"}
            ),
            selector=_map(atomic=True),
            clusterIPs=ATOMIC_LIST,
            externalIPs=ATOMIC_LIST,
            ipFamilies=ATOMIC_LIST,
            loadBalancerSourceRanges=ATOMIC_LIST,
        ),
        status=_struct(
            zero=("loadBalancer",),
            loadBalancer=_struct(ingress=ATOMIC_LIST),
            conditions=_CONDITIONS,
        ),
    ),
    ("", "Endpoints"): _object(subsets=ATOMIC_LIST),
    ("", "Event"): _object(
        zero=("involvedObject", "source"),
        involvedObject=ATOMIC,
        related=ATOMIC,
        source=_struct(),
        series=_struct(),
    ),
    ("events.k8s.io", "Event"): _object(
        zero=("regarding", "deprecatedSource"),
        regarding=ATOMIC,
        related=ATOMIC,
        deprecatedSource=_struct(),
        series=_struct(),
    ),
    ("", "ServiceAccount"): _object(
        secrets=_list_map(ANY, ("name",), merge_key="name"), imagePullSecrets=ATOMIC_LIST
    ),
    ("", "PersistentVolumeClaim"): _object(
        zero=("spec", "status"),
        spec=_struct(
            zero=("resources",),
            accessModes=ATOMIC_LIST,
            selector=_LABEL_SELECTOR,
            resources=_RESOURCES,
        ),
        status=_struct(accessModes=ATOMIC_LIST, capacity=_map(), conditions=_CONDITIONS),
    ),
    ("", "Node"): _object(
        zero=("spec", "status"),
        spec=_struct(podCIDRs=_set(merge=True), taints=ATOMIC_LIST),
        status=_struct(
            zero=("daemonEndpoints", "nodeInfo"),
            conditions=_CONDITIONS,
            addresses=_merge_atomic_list("type"),
            capacity=_map(),
            allocatable=_map(),
            images=ATOMIC_LIST,
            volumesInUse=ATOMIC_LIST,
            volumesAttached=ATOMIC_LIST,
        ),
    ),
    ("apps", "Deployment"): _pod_controller(
        ("template", "strategy"), strategy=_struct(retain=True)
    ),
    ("apps", "StatefulSet"): _pod_controller(
        ("template", "updateStrategy"),
        volumeClaimTemplates=ATOMIC_LIST,
        updateStrategy=_struct(retain=True),
    ),
    ("apps", "ReplicaSet"): _pod_controller(),
    ("apps", "DaemonSet"): _pod_controller(
        ("template", "updateStrategy"), updateStrategy=_struct()
    ),
    ("apps", "ControllerRevision"): _object(data=ATOMIC),
    ("", "ReplicationController"): _object(
        zero=("spec", "status"),
        spec=_struct(selector=_map(atomic=True), template=_POD_TEMPLATE),
        status=_WORKLOAD_STATUS,
    ),
    ("batch", "Job"): _pod_controller(
        status=_struct(
            conditions=_list_map(ANY, ("type",), merge_key="type"),
            uncountedTerminatedPods=_struct(succeeded=_set(), failed=_set()),
        ),
        podFailurePolicy=_struct(rules=ATOMIC_LIST),
        successPolicy=_struct(rules=ATOMIC_LIST),
    ),
    ("batch", "CronJob"): _object(
        zero=("spec", "status"),
        spec=_struct(
            zero=("jobTemplate",),
            jobTemplate=_struct(
                zero=("metadata", "spec"),
                metadata=OBJECT_META,
                spec=_struct(
                    zero=("template",),
                    selector=_LABEL_SELECTOR,
                    template=_POD_TEMPLATE,
                    podFailurePolicy=_struct(rules=ATOMIC_LIST),
                ),
            ),
        ),
        status=_struct(active=ATOMIC_LIST),
    ),
    ("discovery.k8s.io", "EndpointSlice"): _object(endpoints=ATOMIC_LIST, ports=ATOMIC_LIST),
    ("networking.k8s.io", "Ingress"): _object(
        zero=("spec", "status"),
        spec=_struct(rules=ATOMIC_LIST, tls=ATOMIC_LIST),
        status=_struct(zero=("loadBalancer",), loadBalancer=_struct(ingress=ATOMIC_LIST)),
    ),
    ("", "LimitRange"): _object(zero=("spec",), spec=_struct(zero=("limits",), limits=ATOMIC_LIST)),
    ("", "ResourceQuota"): _object(
        zero=("spec", "status"),
        spec=_struct(hard=_map(), scopes=ATOMIC_LIST, scopeSelector=_struct()),
        status=_struct(hard=_map(), used=_map()),
    ),
    ("autoscaling", "HorizontalPodAutoscaler"): _object(
        zero=("spec", "status"),
        spec=_struct(
            zero=("scaleTargetRef",),
            scaleTargetRef=_struct(),
            metrics=ATOMIC_LIST,
            behavior=_struct(),
        ),
        status=_struct(currentMetrics=ATOMIC_LIST, conditions=_CONDITIONS),
    ),
    ("", "PersistentVolume"): _object(
        zero=("spec", "status"),
        spec=_struct(
            capacity=_map(),
            accessModes=ATOMIC_LIST,
            mountOptions=ATOMIC_LIST,
            claimRef=Node("struct", atomic=True),
            nodeAffinity=_struct(),
        ),
        status=_struct(),
    ),
    ("storage.k8s.io", "StorageClass"): _object(
        parameters=_map(), mountOptions=ATOMIC_LIST, allowedTopologies=ATOMIC_LIST
    ),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): _object(
        webhooks=_list_map(_WEBHOOK, ("name",), merge_key="name")
    ),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): _object(
        webhooks=_list_map(_WEBHOOK, ("name",), merge_key="name")
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): _object(
        zero=("spec", "status"),
        spec=_struct(
            matchConstraints=_MATCH_RESOURCES,
            validations=ATOMIC_LIST,
            auditAnnotations=ATOMIC_LIST,
            matchConditions=_list_map(ANY, ("name",), merge_key="name"),
            variables=ATOMIC_LIST,
            paramKind=ATOMIC,
        ),
        status=_struct(conditions=_CONDITIONS),
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): _object(
        zero=("spec",),
        spec=_struct(
            matchResources=_MATCH_RESOURCES,
            validationActions=_set(),
            paramRef=_struct(selector=_LABEL_SELECTOR),
        ),
    ),
    ("networking.k8s.io", "IngressClass"): _object(zero=("spec",), spec=_struct()),
    ("networking.k8s.io", "NetworkPolicy"): _object(
        zero=("spec",),
        spec=_struct(
            zero=("podSelector",),
            podSelector=_LABEL_SELECTOR,
            ingress=ATOMIC_LIST,
            egress=ATOMIC_LIST,
            policyTypes=ATOMIC_LIST,
        ),
    ),
    ("policy", "PodDisruptionBudget"): _object(
        zero=("spec", "status"),
        spec=_struct(selector=Node("struct", atomic=True, strategy=frozenset({"replace"}))),
        status=_struct(disruptedPods=_map(), conditions=_CONDITIONS),
    ),
    ("coordination.k8s.io", "Lease"): _object(zero=("spec",), spec=_struct()),
    ("rbac.authorization.k8s.io", "Role"): _object(zero=("rules",), rules=ATOMIC_LIST),
    ("rbac.authorization.k8s.io", "ClusterRole"): _object(
        zero=("rules",), rules=ATOMIC_LIST, aggregationRule=_struct()
    ),
    ("rbac.authorization.k8s.io", "RoleBinding"): _object(
        zero=("roleRef",), subjects=ATOMIC_LIST, roleRef=ATOMIC
    ),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _object(
        zero=("roleRef",), subjects=ATOMIC_LIST, roleRef=ATOMIC
    ),
    # The review APIs (never stored; their writes are recorded all the same).
    **{
        (group, kind): _object(
            zero=("spec", "status"),
            spec=_struct(groups=ATOMIC_LIST, audiences=ATOMIC_LIST),
            status=_struct(),
        )
        for group, kind in (
            ("authorization.k8s.io", "SelfSubjectAccessReview"),
            ("authorization.k8s.io", "SubjectAccessReview"),
            ("authorization.k8s.io", "LocalSubjectAccessReview"),
            ("authorization.k8s.io", "SelfSubjectRulesReview"),
            ("authentication.k8s.io", "TokenReview"),
            ("authentication.k8s.io", "TokenRequest"),
            ("authentication.k8s.io", "SelfSubjectReview"),
        )
    },
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _object(
        zero=("spec", "status"),
        spec=_struct(
            zero=("names", "versions"),
            names=_struct(shortNames=ATOMIC_LIST, categories=ATOMIC_LIST),
            versions=ATOMIC_LIST,
            conversion=_struct(),
        ),
        status=_struct(
            zero=("conditions", "acceptedNames", "storedVersions"),
            conditions=_CONDITIONS,
            acceptedNames=_struct(shortNames=ATOMIC_LIST, categories=ATOMIC_LIST),
            storedVersions=ATOMIC_LIST,
        ),
    ),
}

# An unknown built-in is described as an object with granular metadata and deduced fields.
_UNKNOWN_OBJECT = _object()


def builtin_node(group: str, kind: str) -> Node | None:
    """The description of built-in ``group``/``kind``, or ``None`` if we do not serve it."""
    return _BUILTINS.get((group, kind))


_SCHEMA_CACHE: dict[int, tuple[dict[str, Any], Node]] = {}
_SCHEMA_CACHE_MAX = 256


def root_node(group: str, kind: str, schema: dict[str, Any] | None) -> Node:
    """The type of a whole object: from the CRD schema if given, else the built-in table."""
    if schema is not None:
        cached = _SCHEMA_CACHE.get(id(schema))
        # The identity check guards against a recycled id() of a schema that was freed.
        if cached is not None and cached[0] is schema:
            return cached[1]
        node = _custom_root(schema)
        if len(_SCHEMA_CACHE) >= _SCHEMA_CACHE_MAX:
            _SCHEMA_CACHE.clear()
        _SCHEMA_CACHE[id(schema)] = (schema, node)
        return node
    return _BUILTINS.get((group, kind), _UNKNOWN_OBJECT)


def _custom_root(schema: dict[str, Any]) -> Node:
    node = from_schema(schema)
    fields = dict(node.fields) if node.kind == "struct" else {}
    fields["metadata"] = OBJECT_META
    fields.setdefault("apiVersion", SCALAR)
    fields.setdefault("kind", SCALAR)
    # A custom resource is unstructured: no field exists before it is written.
    return Node("struct", fields=fields, elem=node.elem if node.kind == "struct" else None)


def from_schema(schema: dict[str, Any]) -> Node:
    """Translate a structural OpenAPI v3 schema (a CRD's) into a :class:`Node`."""
    if schema.get("x-kubernetes-int-or-string"):
        return SCALAR
    typ = schema.get("type")
    if schema.get("x-kubernetes-embedded-resource"):
        fields = {k: from_schema(v) for k, v in (schema.get("properties") or {}).items()}
        fields["metadata"] = OBJECT_META
        return Node("struct", fields=fields, elem=ANY)
    if typ == "array":
        items = schema.get("items")
        elem = from_schema(items) if isinstance(items, dict) else ANY
        list_type = schema.get("x-kubernetes-list-type", "atomic")
        if list_type == "map":
            keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
            defaults = {}
            if isinstance(items, dict):
                for key in keys:
                    prop = (items.get("properties") or {}).get(key) or {}
                    if "default" in prop:
                        defaults[key] = prop["default"]
            return Node("list", elem=elem, list_type="map", keys=keys, key_defaults=defaults)
        if list_type == "set":
            return Node("list", elem=elem, list_type="set")
        return Node("list", elem=elem)
    if typ == "object" or "properties" in schema or "additionalProperties" in schema:
        atomic = schema.get("x-kubernetes-map-type") == "atomic"
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props:
            fields = {k: from_schema(v) for k, v in props.items()}
            unknown = ANY if schema.get("x-kubernetes-preserve-unknown-fields") else None
            return Node("struct", fields=fields, elem=unknown, atomic=atomic)
        if isinstance(extra, dict):
            return Node("map", elem=from_schema(extra), atomic=atomic)
        if atomic:
            return Node("map", elem=ANY, atomic=True)
        return ANY
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return ANY
    return SCALAR
