"""Pods: the defaults, admission plugins and strategy kube-apiserver applies (validation is in
:mod:`.podvalidation`).

Scheme defaults (:func:`default_pod`, :func:`default_pod_spec`) are the ones a client's own
fields-owned set includes (they run when the request body is decoded); the admission plugins
(ServiceAccount with its projected token volume, DefaultTolerationSeconds, Priority) and the
create strategy (status, QoS class, generation) run after, so their fields belong to nobody.
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

from opframe.testing.apiserver.builtins.context import BuiltinContext
from opframe.testing.apiserver.builtins.quantity import (
    QuantityError,
    canonicalize_resource_list,
    parse_quantity,
)
from opframe.testing.apiserver.errors import forbidden as deny

__all__ = [
    "admit_pod",
    "canonicalize_resources",
    "default_pod",
    "default_pod_spec",
    "default_pod_template",
    "pod_qos_class",
    "prepare_pod_create",
    "prepare_pod_status_update",
    "prepare_pod_update",
    "random_suffix",
    "sync_pod_ips",
]

_TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def random_suffix(n: int = 5) -> str:
    """Random characters as ``utilrand.String`` picks them (no vowels, no look-alikes)."""
    return "".join(random.choice(_NAME_CHARS) for _ in range(n))


# --- scheme defaults ------------------------------------------------------------------------


def _image_pull_policy(image: str) -> str:
    name = image.split("@", 1)[0]
    has_digest = "@" in image
    last = name.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    if not tag and not has_digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_http_get(action: Any) -> None:
    if isinstance(action, dict):
        action.setdefault("path", "/")
        action.setdefault("scheme", "HTTP")


def _default_handler(handler: Any) -> None:
    if isinstance(handler, dict):
        _default_http_get(handler.get("httpGet"))


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    _default_handler(probe)
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)


def _default_field_ref(ref: Any) -> None:
    if isinstance(ref, dict):
        ref.setdefault("apiVersion", "v1")


def _default_container(c: dict[str, Any]) -> None:
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        if isinstance(env, dict) and isinstance(env.get("valueFrom"), dict):
            _default_field_ref(env["valueFrom"].get("fieldRef"))
    if not isinstance(c.get("resources"), dict):
        c["resources"] = {}
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(key))
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        _default_handler(lifecycle.get("postStart"))
        _default_handler(lifecycle.get("preStop"))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = _image_pull_policy(str(c.get("image") or ""))


_VOLUME_SOURCES_WITH_MODE = ("secret", "configMap", "downwardAPI", "projected")


def _default_volume(v: dict[str, Any]) -> None:
    sources = [k for k in v if k != "name"]
    if not sources:
        v["emptyDir"] = {}
    for key in _VOLUME_SOURCES_WITH_MODE:
        src = v.get(key)
        if isinstance(src, dict):
            src.setdefault("defaultMode", 420)
    for item in (v.get("downwardAPI") or {}).get("items") or []:
        if isinstance(item, dict):
            _default_field_ref(item.get("fieldRef"))
    for proj in (v.get("projected") or {}).get("sources") or []:
        if not isinstance(proj, dict):
            continue
        token = proj.get("serviceAccountToken")
        if isinstance(token, dict):
            token.setdefault("expirationSeconds", 3600)
        for item in (proj.get("downwardAPI") or {}).get("items") or []:
            if isinstance(item, dict):
                _default_field_ref(item.get("fieldRef"))
    host_path = v.get("hostPath")
    if isinstance(host_path, dict):
        host_path.setdefault("type", "")
    claim = (v.get("ephemeral") or {}).get("volumeClaimTemplate")
    if isinstance(claim, dict) and isinstance(claim.get("spec"), dict):
        claim["spec"].setdefault("volumeMode", "Filesystem")


def default_pod_spec(spec: dict[str, Any]) -> None:
    """``SetDefaults_PodSpec`` and the container, probe and volume defaults, in place."""
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                _default_container(c)
                if spec.get("hostNetwork"):
                    for port in c.get("ports") or []:
                        if isinstance(port, dict) and not port.get("hostPort"):
                            port["hostPort"] = port.get("containerPort")
    for v in spec.get("volumes") or []:
        if isinstance(v, dict):
            _default_volume(v)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    if not isinstance(spec.get("securityContext"), dict):
        spec["securityContext"] = {}
    spec.setdefault("schedulerName", "default-scheduler")
    if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]


def default_pod_template(template: Any) -> None:
    """Defaults of a ``PodTemplateSpec`` (workloads): the pod spec's, none of the Pod-only."""
    if not isinstance(template, dict):
        return
    spec = template.get("spec")
    if isinstance(spec, dict):
        default_pod_spec(spec)


def default_pod(pod: dict[str, Any]) -> None:
    """``SetDefaults_Pod``: requests from limits, ``enableServiceLinks``, and the spec's."""
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            res = c.get("resources") if isinstance(c, dict) else None
            if isinstance(res, dict) and isinstance(res.get("limits"), dict) and res["limits"]:
                requests = res.setdefault("requests", {})
                for name, value in res["limits"].items():
                    requests.setdefault(name, value)
    default_pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    sync_pod_ips(pod)


def canonicalize_resources(spec: dict[str, Any], kind: str) -> None:
    """Rewrite container resource quantities in canonical form (400 on a malformed one)."""
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            res = c.get("resources") if isinstance(c, dict) else None
            if not isinstance(res, dict):
                continue
            for part in ("limits", "requests"):
                canonicalize_resource_list(res.get(part), kind)


# --- admission and create strategy ----------------------------------------------------------


def _token_volume(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": 420,
        },
    }  # fmt: skip


def _mount_token(spec: dict[str, Any]) -> None:
    volumes = spec.setdefault("volumes", [])
    existing = next(
        (v["name"] for v in volumes if str(v.get("name", "")).startswith("kube-api-access-")), ""
    )
    name = existing or f"kube-api-access-{random_suffix()}"
    needs_volume = False
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            mounts = c.setdefault("volumeMounts", [])
            if any(m.get("mountPath") == _TOKEN_MOUNT_PATH for m in mounts):
                continue
            mounts.append({"name": name, "readOnly": True, "mountPath": _TOKEN_MOUNT_PATH})
            needs_volume = True
    if needs_volume and not existing:
        volumes.append(_token_volume(name))
    if not volumes:
        del spec["volumes"]


def _add_default_tolerations(spec: dict[str, Any]) -> None:
    tolerations = spec.get("tolerations") or []
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        covered = any(
            t.get("key", "") in ("", key) and t.get("effect", "") in ("", "NoExecute")
            for t in tolerations if isinstance(t, dict)
        )  # fmt: skip
        if not covered:
            tolerations.append(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            )
    spec["tolerations"] = tolerations


def _admit_priority(spec: dict[str, Any], name: str) -> None:
    class_name = spec.get("priorityClassName") or ""
    if class_name and class_name not in _PRIORITY_CLASSES:
        raise deny(
            f'pods "{name}" is forbidden: no PriorityClass with name {class_name} was found',
            {"name": name, "kind": "pods"},
        )
    priority = _PRIORITY_CLASSES.get(class_name, 0)
    if spec.get("priority") is not None and spec["priority"] != priority:
        raise deny(
            f'pods "{name}" is forbidden: the integer value of priority ({spec["priority"]}) must '
            f"not be provided in pod spec; priority admission controller computed {priority} "
            "from the given PriorityClass name",
            {"name": name, "kind": "pods"},
        )
    spec["priority"] = priority
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")


def admit_pod(pod: dict[str, Any], namespace: str, ctx: BuiltinContext) -> None:
    """Run the ServiceAccount, DefaultTolerationSeconds and Priority admission plugins."""
    spec = pod["spec"]
    name = (pod.get("metadata") or {}).get("name") or ""
    sa_name = spec.get("serviceAccountName") or "default"
    spec["serviceAccountName"] = sa_name
    spec["serviceAccount"] = sa_name
    sa = ctx.get("serviceaccounts", namespace, sa_name)
    if sa is None:
        raise deny(
            f'pods "{name}" is forbidden: error looking up service account {namespace}/{sa_name}: '
            f'serviceaccount "{sa_name}" not found',
            {"name": name, "kind": "pods"},
        )
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = sa.get("automountServiceAccountToken")
    if automount is not False:
        _mount_token(spec)
    _add_default_tolerations(spec)
    _admit_priority(spec, name)


def _positive(value: Any) -> Fraction:
    try:
        q, _ = parse_quantity(str(value))
    except QuantityError:
        return Fraction(0)
    return q


def pod_qos_class(spec: dict[str, Any]) -> str:
    """The QoS class (``Guaranteed``, ``Burstable``, ``BestEffort``) of a pod spec."""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            res = c.get("resources") or {}
            for name, value in (res.get("requests") or {}).items():
                if name in ("cpu", "memory") and _positive(value) > 0:
                    requests[name] = requests.get(name, Fraction(0)) + _positive(value)
            found = set()
            for name, value in (res.get("limits") or {}).items():
                if name in ("cpu", "memory") and _positive(value) > 0:
                    found.add(name)
                    limits[name] = limits.get(name, Fraction(0)) + _positive(value)
            if not {"cpu", "memory"} <= found:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(limits.get(n) == v for n, v in requests.items()):
        if len(requests) == len(limits):
            return "Guaranteed"
    return "Burstable"


def prepare_pod_create(pod: dict[str, Any]) -> None:
    """The create strategy: fresh status with phase and QoS class, generation 1."""
    spec = pod["spec"]
    canonicalize_resources(spec, "Pod")
    status: dict[str, Any] = {"phase": "Pending"}
    if spec.get("schedulingGates"):
        status["conditions"] = [{
            "type": "PodScheduled", "status": "False", "lastProbeTime": None,
            "lastTransitionTime": None, "reason": "SchedulingGated",
            "message": "Scheduling is blocked due to non-empty scheduling gates",
        }]  # fmt: skip
    status["qosClass"] = pod_qos_class(spec)
    pod["status"] = status
    pod.setdefault("metadata", {})["generation"] = 1


# --- update ---------------------------------------------------------------------------------


def prepare_pod_update(new: dict[str, Any], old: dict[str, Any]) -> None:
    """Main-endpoint update: keep admission-set priority and service account."""
    spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
    for key in ("priority", "preemptionPolicy", "serviceAccountName"):
        if spec.get(key) is None and old_spec.get(key) is not None:
            spec[key] = old_spec[key]
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    canonicalize_resources(spec, "Pod")


def sync_pod_ips(pod: dict[str, Any]) -> None:
    """Conversion keeps ``podIP``/``podIPs`` and ``hostIP``/``hostIPs`` consistent (so a writer
    that sets ``podIP`` owns ``podIPs`` too)."""
    status = pod.get("status")
    if not isinstance(status, dict):
        return
    for single, plural in (("podIP", "podIPs"), ("hostIP", "hostIPs")):
        if status.get(single) and not status.get(plural):
            status[plural] = [{"ip": status[single]}]
        elif status.get(plural) and not status.get(single):
            status[single] = status[plural][0].get("ip")


def prepare_pod_status_update(new: dict[str, Any], old: dict[str, Any]) -> None:
    """``/status`` update: spec stays; IPs consistent; the QoS class is kept."""
    sync_pod_ips(new)
    status = new.get("status")
    if not isinstance(status, dict):
        return
    old_status = old.get("status") or {}
    if not status.get("qosClass") and old_status.get("qosClass"):
        status["qosClass"] = old_status["qosClass"]
