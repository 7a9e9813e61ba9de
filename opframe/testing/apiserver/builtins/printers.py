"""Server-side printing of built-in kinds: the column definitions and row cells kube-apiserver
renders for ``kubectl get`` (always the wide set; kubectl hides priority > 0 columns)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from opframe.testing.apiserver.builtins.events import convert_event
from opframe.testing.apiserver.builtins.openapi_schemas import field_description
from opframe.testing.apiserver.builtins.workloads import format_selector

__all__ = ["BUILTIN_PRINTERS", "DOCS", "Printer", "age", "human_duration", "object_age"]

Printer = tuple[list[dict[str, Any]], Callable[[dict[str, Any]], list[Any]]]

#: The OpenAPI field (``group.version.Type.field``) whose description a column repeats: the
#: server takes a column's description from the field's documentation, and the bundled OpenAPI
#: definitions (``openapi_schemas.json.gz``) hold that text already.
_DOC_FIELDS: dict[str, str] = {
    "meta.name": "meta.v1.ObjectMeta.name",
    "meta.creationTimestamp": "meta.v1.ObjectMeta.creationTimestamp",
    "pod.podIP": "core.v1.PodStatus.podIP",
    "pod.nodeName": "core.v1.PodSpec.nodeName",
    "pod.nominatedNodeName": "core.v1.PodStatus.nominatedNodeName",
    "pod.readinessGates": "core.v1.PodSpec.readinessGates",
    "svc.type": "core.v1.ServiceSpec.type",
    "svc.ports": "core.v1.ServiceSpec.ports",
    "svc.selector": "core.v1.ServiceSpec.selector",
    "ep.subsets": "core.v1.Endpoints.subsets",
    "node.kubeletVersion": "core.v1.NodeSystemInfo.kubeletVersion",
    "node.osImage": "core.v1.NodeSystemInfo.osImage",
    "node.kernelVersion": "core.v1.NodeSystemInfo.kernelVersion",
    "node.containerRuntimeVersion": "core.v1.NodeSystemInfo.containerRuntimeVersion",
    "node.addresses": "core.v1.NodeStatus.addresses",
    "ev.lastTimestamp": "core.v1.Event.lastTimestamp",
    "ev.type": "core.v1.Event.type",
    "ev.reason": "core.v1.Event.reason",
    "ev.involvedObject": "core.v1.Event.involvedObject",
    "ev.source": "core.v1.Event.source",
    "ev.message": "core.v1.Event.message",
    "ev.firstTimestamp": "core.v1.Event.firstTimestamp",
    "ev.count": "core.v1.Event.count",
    "ref.fieldPath": "core.v1.ObjectReference.fieldPath",
    "secret.type": "core.v1.Secret.type",
    "secret.data": "core.v1.Secret.data",
    "sa.secrets": "core.v1.ServiceAccount.secrets",
    "pvc.phase": "core.v1.PersistentVolumeClaimStatus.phase",
    "pvc.volumeName": "core.v1.PersistentVolumeClaimSpec.volumeName",
    "pvc.capacity": "core.v1.PersistentVolumeClaimStatus.capacity",
    "pvc.accessModes": "core.v1.PersistentVolumeClaimStatus.accessModes",
    "pvc.volumeMode": "core.v1.PersistentVolumeClaimSpec.volumeMode",
    "deploy.updatedReplicas": "apps.v1.DeploymentStatus.updatedReplicas",
    "deploy.availableReplicas": "apps.v1.DeploymentStatus.availableReplicas",
    "deploy.selector": "apps.v1.DeploymentSpec.selector",
    "cm.data": "core.v1.ConfigMap.data",
    "lease.holderIdentity": "coordination.v1.LeaseSpec.holderIdentity",
    "rb.roleRef": "rbac.v1.RoleBinding.roleRef",
    "crb.roleRef": "rbac.v1.ClusterRoleBinding.roleRef",
}
DOCS: dict[str, str] = {
    **{key: field_description(field) for key, field in _DOC_FIELDS.items()},
    # The OpenAPI text of these two joins paragraphs with two spaces; the server's column
    # descriptions keep the blank lines.
    "svc.clusterIP": 'clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).\n\nValid values are "None", empty string (""), or a valid IP address. Setting this to "None" makes a "headless service" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.\n\nOnly applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies',  # noqa: E501
    "svc.externalIPs": "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.\n\nThese IPs are not managed by Kubernetes.\n\nThe user is responsible for ensuring that traffic arrives at a node with this IP.\n\nA common example is external load-balancers that are not part of the Kubernetes system.",  # noqa: E501
}


def human_duration(seconds: float) -> str:
    """A duration as ``duration.HumanDuration`` prints it (``5s``, ``3m20s``, ``2d5h``)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(timestamp: Any) -> str:
    """Time since an RFC 3339 timestamp, or ``<unknown>``."""
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return human_duration((datetime.now(UTC) - then).total_seconds())


def object_age(obj: dict[str, Any]) -> str:
    """The ``Age`` cell of ``obj``: the time since its ``metadata.creationTimestamp``."""
    return age((obj.get("metadata") or {}).get("creationTimestamp"))


def _col(
    name: str, doc: str, type_: str = "string", priority: int = 0, fmt: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "format": fmt,
        "description": DOCS.get(doc, doc),
        "priority": priority,
    }


_NAME = _col("Name", "meta.name", fmt="name")
_AGE = _col("Age", "meta.creationTimestamp")
_CONTAINERS = "Names of each container in the template."
_IMAGES = "Images referenced by each container in the template."


def _m(obj: dict[str, Any], key: str) -> Any:
    return (obj.get("metadata") or {}).get(key)


def _containers(spec: dict[str, Any]) -> tuple[str, str]:
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return (
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
    )


def _pod_row(pod: dict[str, Any]) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    total = len(spec.get("containers") or [])
    total += sum(1 for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always")
    reason = status.get("reason") or status.get("phase") or ""
    restarts, ready = 0, 0
    for cs in reversed(status.get("containerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif "terminated" in state:
            term = state["terminated"] or {}
            reason = (
                f"Signal:{term['signal']}"
                if term.get("signal")
                else f"ExitCode:{term.get('exitCode', 0)}"
            )
        elif cs.get("ready") and "running" in state:
            ready += 1
    if _m(pod, "deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    ips = status.get("podIPs") or []
    gates = spec.get("readinessGates") or []
    gates_cell = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        true = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gates_cell = f"{true}/{len(gates)}"
    return [
        _m(pod, "name"),
        f"{ready}/{total}",
        reason,
        str(restarts),
        object_age(pod),
        (ips[0].get("ip") if ips else "") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_cell,
    ]


def _external_ip(spec: dict[str, Any], status: dict[str, Any]) -> str:
    kind, ext = spec.get("type"), spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(ext) if ext else "<none>"
    if kind == "LoadBalancer":
        ingress = sorted(
            {
                i.get("ip") or i.get("hostname") or ""
                for i in (status.get("loadBalancer") or {}).get("ingress") or []
            }
            - {""}
        )
        out = ingress + ext
        return ",".join(out) if out else "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def _service_row(svc: dict[str, Any]) -> list[Any]:
    spec = svc.get("spec") or {}
    ports = ",".join(
        f"{p.get('port')}:{p['nodePort']}/{p.get('protocol')}"
        if p.get("nodePort")
        else f"{p.get('port')}/{p.get('protocol')}"
        for p in spec.get("ports") or []
    )
    selector = spec.get("selector") or {}
    return [
        _m(svc, "name"),
        spec.get("type"),
        (spec.get("clusterIPs") or ["<none>"])[0],
        _external_ip(spec, svc.get("status") or {}),
        ports or "<none>",
        object_age(svc),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>",
    ]


def _endpoints_cell(ep: dict[str, Any]) -> str:
    items: list[str] = []
    count = 0
    for subset in ep.get("subsets") or []:
        addrs = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or [None]
        for port in ports:
            count += len(addrs)
            for ip in addrs:
                if len(items) < 3:
                    items.append(
                        ip
                        if port is None
                        else (
                            f"[{ip}]:{port.get('port')}"
                            if ":" in ip
                            else f"{ip}:{port.get('port')}"
                        )
                    )
    if not ep.get("subsets"):
        return "<none>"
    text = ",".join(items)
    return f"{text} + {count - 3} more..." if count > 3 else text


def _node_row(node: dict[str, Any]) -> list[Any]:
    status = node.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    states = (
        [("Ready" if ready[0].get("status") == "True" else "NotReady")] if ready else ["Unknown"]
    )
    if (node.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    labels = _m(node, "labels") or {}
    roles = sorted(
        {
            k.removeprefix("node-role.kubernetes.io/")
            for k in labels
            if k.startswith("node-role.kubernetes.io/") and len(k) > 24
        }
        | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set())
    )
    info = status.get("nodeInfo") or {}
    addr = {a.get("type"): a.get("address") for a in reversed(status.get("addresses") or [])}
    return [
        _m(node, "name"),
        ",".join(states),
        ",".join(roles) or "<none>",
        object_age(node),
        info.get("kubeletVersion", ""),
        addr.get("InternalIP") or "<none>",
        addr.get("ExternalIP") or "<none>",
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _event_row(ev: dict[str, Any]) -> list[Any]:
    first = age(ev.get("firstTimestamp")) if ev.get("firstTimestamp") else age(ev.get("eventTime"))
    last = age(ev.get("lastTimestamp")) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 0
    series = ev.get("series")
    if isinstance(series, dict):
        last, count = age(series.get("lastObservedTime")), series.get("count") or 0
    elif not count:
        count = 1
    inv = ev.get("involvedObject") or {}
    kind = str(inv.get("kind") or "").lower()
    target = f"{kind}/{inv['name']}" if inv.get("name") else kind
    src = ev.get("source") or {}
    component = src.get("component") or ev.get("reportingComponent") or ""
    host = src.get("host") or ev.get("reportingInstance") or ""
    return [
        last,
        ev.get("type", ""),
        ev.get("reason", ""),
        target,
        inv.get("fieldPath", ""),
        f"{component}, {host}" if host else component,
        str(ev.get("message") or "").strip(),
        first,
        count,
        _m(ev, "name"),
    ]


def _pvc_row(pvc: dict[str, Any]) -> list[Any]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    phase = "Terminating" if _m(pvc, "deletionTimestamp") else status.get("phase", "")
    capacity = modes = ""
    if spec.get("volumeName"):
        capacity = str((status.get("capacity") or {}).get("storage", ""))
        short = {
            "ReadWriteOnce": "RWO",
            "ReadOnlyMany": "ROX",
            "ReadWriteMany": "RWX",
            "ReadWriteOncePod": "RWOP",
        }
        modes = ",".join(short.get(m, m) for m in status.get("accessModes") or [])
    storage_class = spec.get("storageClassName") or (_m(pvc, "annotations") or {}).get(
        "volume.beta.kubernetes.io/storage-class", ""
    )
    return [
        _m(pvc, "name"),
        phase,
        spec.get("volumeName", ""),
        capacity,
        modes,
        storage_class,
        spec.get("volumeAttributesClassName") or "<unset>",
        object_age(pvc),
        spec.get("volumeMode") or "<unset>",
    ]


def _ready_of(o: dict[str, Any]) -> str:
    ready = (o.get("status") or {}).get("readyReplicas", 0)
    return f"{ready}/{(o.get('spec') or {}).get('replicas', 0)}"


def _int_or_na(value: Any) -> str:
    return "N/A" if value is None else str(value)


def _binding_row(b: dict[str, Any]) -> list[Any]:
    ref = b.get("roleRef") or {}
    subjects = b.get("subjects") or []
    users = [s["name"] for s in subjects if s.get("kind") == "User"]
    groups = [s["name"] for s in subjects if s.get("kind") == "Group"]
    sas = [
        f"{s.get('namespace', '')}/{s['name']}"
        for s in subjects
        if s.get("kind") == "ServiceAccount"
    ]
    return [
        _m(b, "name"),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        object_age(b),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(sas),
    ]


def _binding_cols(kind: str) -> list[dict[str, Any]]:
    doc = "rb.roleRef" if kind == "roleBinding" else "crb.roleRef"
    return [
        _NAME,
        _col("Role", doc),
        _AGE,
        _col("Users", f"Users in the {kind}", priority=1),
        _col("Groups", f"Groups in the {kind}", priority=1),
        _col("ServiceAccounts", f"ServiceAccounts in the {kind}", priority=1),
    ]


_EVENT_COLS = [
    _col("Last Seen", "ev.lastTimestamp"),
    _col("Type", "ev.type"),
    _col("Reason", "ev.reason"),
    _col("Object", "ev.involvedObject"),
    _col("Subobject", "ref.fieldPath", priority=1),
    _col("Source", "ev.source", priority=1),
    _col("Message", "ev.message"),
    _col("First Seen", "ev.firstTimestamp", priority=1),
    _col("Count", "ev.count", priority=1),
    _col("Name", "meta.name", priority=1, fmt="name"),
]

BUILTIN_PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "pods"): (
        [
            _NAME,
            _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            _col("Status", "The aggregate status of the containers in this pod."),
            _col(
                "Restarts",
                "The number of times the containers in this pod have been restarted "
                "and when the last container in this pod has restarted.",
            ),
            _AGE,
            _col("IP", "pod.podIP", priority=1),
            _col("Node", "pod.nodeName", priority=1),
            _col("Nominated Node", "pod.nominatedNodeName", priority=1),
            _col("Readiness Gates", "pod.readinessGates", priority=1),
        ],
        _pod_row,
    ),
    ("", "configmaps"): (
        [_NAME, _col("Data", "cm.data"), _AGE],
        lambda o: [
            _m(o, "name"),
            len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            object_age(o),
        ],
    ),
    ("", "namespaces"): (
        [_NAME, _col("Status", "The status of the namespace"), _AGE],
        lambda o: [
            _m(o, "name"),
            (o.get("status") or {}).get("phase", ""),
            object_age(o),
        ],
    ),
    ("", "services"): (
        [
            _NAME,
            _col("Type", "svc.type"),
            _col("Cluster-IP", "svc.clusterIP"),
            _col("External-IP", "svc.externalIPs"),
            _col("Port(s)", "svc.ports"),
            _AGE,
            _col("Selector", "svc.selector", priority=1),
        ],
        _service_row,
    ),
    ("", "endpoints"): (
        [_NAME, _col("Endpoints", "ep.subsets"), _AGE],
        lambda o: [_m(o, "name"), _endpoints_cell(o), object_age(o)],
    ),
    ("", "secrets"): (
        [_NAME, _col("Type", "secret.type"), _col("Data", "secret.data"), _AGE],
        lambda o: [
            _m(o, "name"),
            o.get("type", ""),
            len(o.get("data") or {}),
            object_age(o),
        ],
    ),
    ("", "serviceaccounts"): (
        [_NAME, _col("Secrets", "sa.secrets"), _AGE],
        lambda o: [_m(o, "name"), len(o.get("secrets") or []), object_age(o)],
    ),
    ("", "nodes"): (
        [
            _NAME,
            _col("Status", "The status of the node"),
            _col("Roles", "The roles of the node"),
            _AGE,
            _col("Version", "node.kubeletVersion"),
            _col("Internal-IP", "node.addresses", priority=1),
            _col("External-IP", "node.addresses", priority=1),
            _col("OS-Image", "node.osImage", priority=1),
            _col("Kernel-Version", "node.kernelVersion", priority=1),
            _col("Container-Runtime", "node.containerRuntimeVersion", priority=1),
        ],
        _node_row,
    ),
    ("", "persistentvolumeclaims"): (
        [
            _NAME,
            _col("Status", "pvc.phase"),
            _col("Volume", "pvc.volumeName"),
            _col("Capacity", "pvc.capacity"),
            _col("Access Modes", "pvc.accessModes"),
            _col("StorageClass", "StorageClass of the pvc"),
            _col("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
            _AGE,
            _col("VolumeMode", "pvc.volumeMode", priority=1),
        ],
        _pvc_row,
    ),
    ("", "events"): (_EVENT_COLS, _event_row),
    ("apps", "deployments"): (
        [
            _NAME,
            _col("Ready", "Number of the pod with ready state"),
            _col("Up-to-date", "deploy.updatedReplicas"),
            _col("Available", "deploy.availableReplicas"),
            _AGE,
            _col("Containers", _CONTAINERS, priority=1),
            _col("Images", _IMAGES, priority=1),
            _col("Selector", "deploy.selector", priority=1),
        ],
        lambda o: [
            _m(o, "name"),
            _ready_of(o),
            (o.get("status") or {}).get("updatedReplicas", 0),
            (o.get("status") or {}).get("availableReplicas", 0),
            object_age(o),
            *_containers(o.get("spec") or {}),
            format_selector((o.get("spec") or {}).get("selector")),
        ],
    ),
    ("apps", "statefulsets"): (
        [
            _NAME,
            _col("Ready", "Number of the pod with ready state"),
            _AGE,
            _col("Containers", _CONTAINERS, priority=1),
            _col("Images", _IMAGES, priority=1),
        ],
        lambda o: [
            _m(o, "name"),
            _ready_of(o),
            object_age(o),
            *_containers(o.get("spec") or {}),
        ],
    ),
    ("coordination.k8s.io", "leases"): (
        [_NAME, _col("Holder", "lease.holderIdentity"), _AGE],
        lambda o: [
            _m(o, "name"),
            (o.get("spec") or {}).get("holderIdentity") or "",
            object_age(o),
        ],
    ),
    ("policy", "poddisruptionbudgets"): (
        [
            _NAME,
            _col("Min Available", "The minimum number of pods that must be available."),
            _col("Max Unavailable", "The maximum number of pods that may be unavailable."),
            _col(
                "Allowed Disruptions",
                "Calculated number of pods that may be disrupted at this time.",
                type_="integer",
            ),
            _AGE,
        ],
        lambda o: [
            _m(o, "name"),
            _int_or_na((o.get("spec") or {}).get("minAvailable")),
            _int_or_na((o.get("spec") or {}).get("maxUnavailable")),
            (o.get("status") or {}).get("disruptionsAllowed", 0),
            object_age(o),
        ],
    ),
    ("events.k8s.io", "events"): (_EVENT_COLS, lambda o: _event_row(convert_event(o, "v1"))),
    ("rbac.authorization.k8s.io", "rolebindings"): (_binding_cols("roleBinding"), _binding_row),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (
        _binding_cols("clusterRoleBinding"),
        _binding_row,
    ),
}

