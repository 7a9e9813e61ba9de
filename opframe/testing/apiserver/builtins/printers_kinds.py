"""Server-side printing of the replicated, batch, networking, autoscaling, quota, storage and
admission kinds: the columns and cells of ``pkg/printers/internalversion/printers.go``.

:mod:`opframe.testing.apiserver.builtins` merges :data:`KIND_PRINTERS` into
``printers.BUILTIN_PRINTERS`` when the package loads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opframe.testing.apiserver.builtins import printers as p
from opframe.testing.apiserver.builtins.workloads import format_selector

__all__ = ["KIND_PRINTERS"]

_NONE = "<none>"
_UNSET = "<unset>"


def _spec(o: dict[str, Any]) -> dict[str, Any]:
    return o.get("spec") or {}


def _status(o: dict[str, Any]) -> dict[str, Any]:
    return o.get("status") or {}


def _selector_text(selector: Any) -> str:
    text = format_selector(selector) if selector else ""
    return text or _NONE


def _replicated_row(o: dict[str, Any], selector: str) -> list[Any]:
    spec, status = _spec(o), _status(o)
    return [
        p._m(o, "name"),
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        p.object_age(o),
        *p._containers(spec),
        selector,
    ]


def _columns(
    *columns: dict[str, Any], wide: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """A kind's table: the name, its own ``columns``, the age, then its ``-o wide`` ones."""
    return [p._NAME, *columns, p._AGE, *(wide or [])]


#: The wide columns of every kind with a pod template and a selector (kubectl get -o wide).
_TEMPLATE_COLS = [
    p._col("Containers", p._CONTAINERS, priority=1),
    p._col("Images", p._IMAGES, priority=1),
    p._col("Selector", "The label selector of the pods", priority=1),
]

_REPLICATED_COLS = [
    p._NAME,
    p._col("Desired", "Number of desired pods", type_="integer"),
    p._col("Current", "Number of actual pods", type_="integer"),
    p._col("Ready", "Number of pods ready", type_="integer"),
    p._AGE,
    *_TEMPLATE_COLS,
]


def _daemonset_row(o: dict[str, Any]) -> list[Any]:
    spec, status = _spec(o), _status(o)
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [
        p._m(o, "name"),
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or _NONE,
        p.object_age(o),
        *p._containers(spec),
        _selector_text(spec.get("selector")),
    ]


def _controller_of(o: dict[str, Any]) -> str:
    for ref in p._m(o, "ownerReferences") or []:
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = str(ref.get("kind", "")).lower()
            return f"{kind}.{group}/{ref.get('name')}" if group else f"{kind}/{ref.get('name')}"
    return _NONE


def _duration(start: Any, end: Any) -> str:
    if not start:
        return ""
    try:
        t0 = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        t1 = datetime.fromisoformat(str(end).replace("Z", "+00:00")) if end else datetime.now(UTC)
    except ValueError:
        return ""
    return p.human_duration((t1 - t0).total_seconds())


def _job_status(o: dict[str, Any]) -> str:
    true = {c.get("type") for c in _status(o).get("conditions") or [] if c.get("status") == "True"}
    if "Complete" in true:
        return "Complete"
    if "Failed" in true:
        return "Failed"
    if p._m(o, "deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if kind in true:
            return kind
    return "Running"


def _job_row(o: dict[str, Any]) -> list[Any]:
    spec, status = _spec(o), _status(o)
    succeeded = status.get("succeeded", 0)
    completions = spec.get("completions")
    if completions is not None:
        done = f"{succeeded}/{completions}"
    elif (spec.get("parallelism") or 0) > 1:
        done = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        done = f"{succeeded}/1"
    return [
        p._m(o, "name"),
        _job_status(o),
        done,
        _duration(status.get("startTime"), status.get("completionTime")),
        p.object_age(o),
        *p._containers(spec),
        _selector_text(spec.get("selector")),
    ]


def _cronjob_row(o: dict[str, Any]) -> list[Any]:
    spec, status = _spec(o), _status(o)
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    last = status.get("lastScheduleTime")
    return [
        p._m(o, "name"),
        spec.get("schedule", ""),
        spec.get("timeZone") or _NONE,
        "True" if spec.get("suspend") else "False",
        len(status.get("active") or []),
        p.age(last) if last else _NONE,
        p.object_age(o),
        *p._containers(job_spec),
        _selector_text(job_spec.get("selector")),
    ]


def _more(items: list[str], limit: int = 3) -> str:
    if len(items) > limit:
        return ",".join(items[:limit]) + f" + {len(items) - limit} more..."
    return ",".join(items)


def _endpointslice_row(o: dict[str, Any]) -> list[Any]:
    ports = [
        str(x.get("port")) if x.get("port") is not None else _UNSET for x in o.get("ports") or []
    ]
    addresses = [a for e in o.get("endpoints") or [] for a in (e or {}).get("addresses") or []]
    return [
        p._m(o, "name"),
        o.get("addressType", ""),
        _more(ports) or _UNSET,
        _more(addresses) or _UNSET,
        p.object_age(o),
    ]


def _ingress_row(o: dict[str, Any]) -> list[Any]:
    spec = _spec(o)
    hosts = [r.get("host") or "*" for r in spec.get("rules") or []]
    lb = (_status(o).get("loadBalancer") or {}).get("ingress") or []
    address = ",".join(str(i.get("ip") or i.get("hostname") or "") for i in lb)
    return [
        p._m(o, "name"),
        spec.get("ingressClassName") or _NONE,
        _more(hosts, 4) or "*",
        address,
        "80, 443" if spec.get("tls") else "80",
        p.object_age(o),
    ]


def _ingress_class_row(o: dict[str, Any]) -> list[Any]:
    spec = _spec(o)
    params = spec.get("parameters")
    text = _NONE
    if isinstance(params, dict):
        text = str(params.get("kind", ""))
        if params.get("apiGroup"):
            text += "." + str(params["apiGroup"])
        text += "/" + str(params.get("name", ""))
    return [p._m(o, "name"), spec.get("controller", ""), text, p.object_age(o)]


def _hpa_targets(o: dict[str, Any]) -> str:
    parts = []
    current = {
        (m.get("resource") or {}).get("name"): (m.get("resource") or {}).get("current") or {}
        for m in _status(o).get("currentMetrics") or []
        if m.get("type") == "Resource"
    }
    for metric in _spec(o).get("metrics") or []:
        if metric.get("type") != "Resource":
            parts.append(f"<unknown>/{metric.get('type', '')}")
            continue
        resource = metric.get("resource") or {}
        name, target = resource.get("name"), resource.get("target") or {}
        now = current.get(name) or {}
        if target.get("averageUtilization") is not None:
            seen = now.get("averageUtilization")
            have = f"{seen}%" if seen is not None else "<unknown>"
            parts.append(f"{name}: {have}/{target['averageUtilization']}%")
        else:
            have = str(now.get("averageValue") or "<unknown>")
            parts.append(f"{name}: {have}/{target.get('averageValue', '')}")
    if len(parts) > 2:
        return ", ".join(parts[:2]) + f" + {len(parts) - 2} more..."
    return ", ".join(parts) or _NONE


def _hpa_row(o: dict[str, Any]) -> list[Any]:
    spec, status = _spec(o), _status(o)
    ref = spec.get("scaleTargetRef") or {}
    low = spec.get("minReplicas")
    return [
        p._m(o, "name"),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        _hpa_targets(o),
        str(low) if low is not None else _UNSET,
        spec.get("maxReplicas", 0),
        status.get("currentReplicas", 0),
        p.object_age(o),
    ]


def _quota_row(o: dict[str, Any]) -> list[Any]:
    hard, used = _status(o).get("hard") or {}, _status(o).get("used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for key in sorted(hard):
        text = f"{key}: {used.get(key, '0')}/{hard[key]}"
        (limits if key.startswith("limits.") else requests).append(text)
    return [
        p._m(o, "name"),
        p.object_age(o),
        ", ".join(requests),
        ", ".join(limits),
    ]


def _storage_class_row(o: dict[str, Any]) -> list[Any]:
    name = str(p._m(o, "name") or "")
    annotations = p._m(o, "annotations") or {}
    if "true" in (
        annotations.get("storageclass.kubernetes.io/is-default-class"),
        annotations.get("storageclass.beta.kubernetes.io/is-default-class"),
    ):
        name += " (default)"
    return [
        name,
        o.get("provisioner", ""),
        o.get("reclaimPolicy", "Delete"),
        o.get("volumeBindingMode", "Immediate"),
        "true" if o.get("allowVolumeExpansion") else "false",
        p.object_age(o),
    ]


def _policy_binding_row(o: dict[str, Any]) -> list[Any]:
    spec = _spec(o)
    ref = spec.get("paramRef")
    text = _NONE
    if isinstance(ref, dict):
        text = "*" if ref.get("selector") is not None else str(ref.get("name", ""))
        if ref.get("namespace"):
            text = f"{ref['namespace']}/{text}"
    return [p._m(o, "name"), spec.get("policyName", ""), text, p.object_age(o)]


def _param_kind(o: dict[str, Any]) -> str:
    kind = _spec(o).get("paramKind")
    if not isinstance(kind, dict):
        return _NONE
    return f"{kind.get('apiVersion', '')}/{kind.get('kind', '')}"


_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def _pv_row(o: dict[str, Any]) -> list[Any]:
    spec, status = _spec(o), _status(o)
    claim = spec.get("claimRef") or {}
    return [
        p._m(o, "name"),
        (spec.get("capacity") or {}).get("storage", ""),
        ",".join(_MODES.get(m, m) for m in spec.get("accessModes") or []),
        spec.get("persistentVolumeReclaimPolicy", ""),
        status.get("phase", ""),
        f"{claim.get('namespace')}/{claim.get('name')}" if claim else "",
        spec.get("storageClassName", ""),
        spec.get("volumeAttributesClassName") or _UNSET,
        status.get("reason", ""),
        p.object_age(o),
        spec.get("volumeMode", ""),
    ]


_WEBHOOKS = (
    [
        p._NAME,
        p._col("Webhooks", "Webhooks indicates the number of webhooks", type_="integer"),
        p._AGE,
    ],
    lambda o: [p._m(o, "name"), len(o.get("webhooks") or []), p.object_age(o)],
)
_ADMISSION = "admissionregistration.k8s.io"

#: (columns, row function) by (group, plural).
KIND_PRINTERS: dict[tuple[str, str], p.Printer] = {
    ("apps", "replicasets"): (
        _REPLICATED_COLS,
        lambda o: _replicated_row(o, _selector_text(_spec(o).get("selector"))),
    ),
    ("", "replicationcontrollers"): (
        _REPLICATED_COLS,
        lambda o: _replicated_row(
            o, _selector_text({"matchLabels": _spec(o).get("selector") or {}})
        ),
    ),
    ("apps", "daemonsets"): (
        _columns(
            p._col("Desired", "desiredNumberScheduled", type_="integer"),
            p._col("Current", "currentNumberScheduled", type_="integer"),
            p._col("Ready", "numberReady", type_="integer"),
            p._col("Up-to-date", "updatedNumberScheduled", type_="integer"),
            p._col("Available", "numberAvailable", type_="integer"),
            p._col("Node Selector", "The node selector of the pods"),
            wide=_TEMPLATE_COLS,
        ),
        _daemonset_row,
    ),
    ("apps", "controllerrevisions"): (
        _columns(
            p._col("Controller", "Controller of the object"),
            p._col(
                "Revision",
                "Revision indicates the revision of the state represented by Data.",
                type_="integer",
            ),
        ),
        lambda o: [
            p._m(o, "name"),
            _controller_of(o),
            o.get("revision", 0),
            p.object_age(o),
        ],
    ),
    ("batch", "jobs"): (
        _columns(
            p._col("Status", "Status of the job."),
            p._col("Completions", "The completion status of the job."),
            p._col("Duration", "Time required to complete the job."),
            wide=_TEMPLATE_COLS,
        ),
        _job_row,
    ),
    ("batch", "cronjobs"): (
        _columns(
            p._col("Schedule", "The schedule in Cron format."),
            p._col("Timezone", "The time zone name for the given schedule."),
            p._col(
                "Suspend",
                "This flag tells the controller to suspend subsequent executions.",
                type_="boolean",
            ),
            p._col("Active", "A list of pointers to currently running jobs.", type_="integer"),
            p._col(
                "Last Schedule",
                "Information when was the last time the job was successfully scheduled.",
            ),
            wide=_TEMPLATE_COLS,
        ),
        _cronjob_row,
    ),
    ("discovery.k8s.io", "endpointslices"): (
        _columns(
            p._col("AddressType", "The type of address carried by this EndpointSlice."),
            p._col("Ports", "Ports of the EndpointSlice"),
            p._col("Endpoints", "Endpoints of the EndpointSlice"),
        ),
        _endpointslice_row,
    ),
    ("networking.k8s.io", "ingresses"): (
        _columns(
            p._col("Class", "The name of the IngressClass resource."),
            p._col(
                "Hosts", "Hosts that incoming requests are matched against before the ingress rule"
            ),
            p._col("Address", "Address is a list containing ingress points for the load-balancer"),
            p._col("Ports", "Ports of TLS configurations that open"),
        ),
        _ingress_row,
    ),
    ("networking.k8s.io", "ingressclasses"): (
        _columns(
            p._col("Controller", "Controller that is responsible for handling this class"),
            p._col("Parameters", "A reference to a resource with additional parameters"),
        ),
        _ingress_class_row,
    ),
    ("networking.k8s.io", "networkpolicies"): (
        _columns(
            p._col("Pod-Selector", "Selects the pods to which this NetworkPolicy object applies."),
        ),
        lambda o: [
            p._m(o, "name"),
            format_selector(_spec(o).get("podSelector")) or _NONE,
            p.object_age(o),
        ],
    ),
    ("autoscaling", "horizontalpodautoscalers"): (
        _columns(
            p._col(
                "Reference",
                "reference to scaled resource; horizontal pod "
                "autoscaler will learn the current resource consumption and will "
                "set the desired number of pods by using its Scale subresource.",
            ),
            p._col("Targets", "the target value of the metric"),
            p._col("MinPods", "lower limit for the number of pods"),
            p._col("MaxPods", "upper limit for the number of pods", type_="integer"),
            p._col(
                "Replicas",
                "current number of replicas of pods managed by this autoscaler.",
                type_="integer",
            ),
        ),
        _hpa_row,
    ),
    ("", "limitranges"): (
        [p._NAME, p._col("Created At", "meta.creationTimestamp", type_="date")],
        lambda o: [p._m(o, "name"), p._m(o, "creationTimestamp")],
    ),
    ("", "resourcequotas"): (
        [
            p._NAME,
            p._AGE,
            p._col(
                "Request",
                "Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            p._col(
                "Limit",
                "Limits control the maximum amount of cpu/memory that a container "
                "may use independent of contention on the node.",
            ),
        ],
        _quota_row,
    ),
    ("", "persistentvolumes"): (
        [
            p._NAME,
            p._col(
                "Capacity",
                "capacity is the description of the persistent volume's resources and capacity.",
            ),
            p._col("Access Modes", "accessModes contains all ways the volume can be mounted."),
            p._col(
                "Reclaim Policy",
                "persistentVolumeReclaimPolicy defines what happens to a "
                "persistent volume when released from its claim.",
            ),
            p._col(
                "Status",
                "phase indicates if a volume is available, bound to a claim, or "
                "released by a claim.",
            ),
            p._col(
                "Claim",
                "claimRef is part of a bi-directional binding between "
                "PersistentVolume and PersistentVolumeClaim.",
            ),
            p._col("StorageClass", "StorageClass of the pv"),
            p._col("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
            p._col(
                "Reason",
                "reason is a brief CamelCase string that describes any failure and "
                "is meant for machine parsing and tidy display in the CLI.",
            ),
            p._AGE,
            p._col(
                "VolumeMode",
                "volumeMode defines if a volume is intended to be used with a "
                "formatted filesystem or to remain in raw block state.",
                priority=1,
            ),
        ],
        _pv_row,
    ),
    ("storage.k8s.io", "storageclasses"): (
        _columns(
            p._col("Provisioner", "Indicates the type of the provisioner."),
            p._col("ReclaimPolicy", "Indicates the type of the reclaim policy."),
            p._col("VolumeBindingMode", "Indicates how PersistentVolumeClaims should be bound."),
            p._col(
                "AllowVolumeExpansion",
                "Indicates whether the storage class allow volume expand",
                type_="boolean",
            ),
        ),
        _storage_class_row,
    ),
    (_ADMISSION, "validatingwebhookconfigurations"): _WEBHOOKS,
    (_ADMISSION, "mutatingwebhookconfigurations"): _WEBHOOKS,
    (_ADMISSION, "validatingadmissionpolicies"): (
        _columns(
            p._col(
                "Validations",
                "Validations indicates the number of validation rules",
                type_="integer",
            ),
            p._col(
                "ParamKind",
                "ParamKind specifies the kind of resources used to parameterize this policy",
            ),
        ),
        lambda o: [
            p._m(o, "name"),
            len(_spec(o).get("validations") or []),
            _param_kind(o),
            p.object_age(o),
        ],
    ),
    (_ADMISSION, "validatingadmissionpolicybindings"): (
        _columns(
            p._col(
                "PolicyName",
                "PolicyName indicates the policy definition which the policy binding binded to",
            ),
            p._col(
                "ParamRef",
                "ParamRef indicates the param resource which sets the configration param",
            ),
        ),
        _policy_binding_row,
    ),
}
