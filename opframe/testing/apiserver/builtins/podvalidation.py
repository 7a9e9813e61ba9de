"""Pod spec validation (also of workload templates) and what a pod update may change, with
kube-apiserver's messages."""

from __future__ import annotations

import copy
from typing import Any

from opframe.testing.apiserver.builtins.meta import (
    is_dns1123_label,
    is_dns1123_subdomain,
    name_causes,
    validate_labels,
)
from opframe.testing.apiserver.builtins.quantity import QuantityError, parse_quantity
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import (
    duplicate,
    forbidden,
    invalid,
    not_found,
    not_supported,
    required,
)

__all__ = [
    "PORT_RANGE",
    "PROTOCOLS",
    "enum_causes",
    "port_name_errors",
    "validate_pod_spec",
    "validate_pod_update",
]

PROTOCOLS = ("SCTP", "TCP", "UDP")
"""A port's ``protocol`` values, for container and service ports alike."""
# Fixed value sets, sorted as the real server lists them (sets.List).
_MESSAGE_POLICIES = ("FallbackToLogsOnError", "File")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_RESTART_POLICIES = ("Always", "Never", "OnFailure")
_DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
_UPDATABLE = ",".join([
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
])  # fmt: skip


def port_name_errors(name: str) -> list[str]:
    """Problems with ``name`` as an IANA service name (named ports)."""
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not all(c.islower() or c.isdigit() or c == "-" for c in name) or not name.isascii():
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not any(c.isalpha() for c in name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


PORT_RANGE = "must be between 1 and 65535, inclusive"
"""The detail of an out-of-range port number (container, host, service and target ports)."""


def enum_causes(value: str, path: str, supported: tuple[str, ...]) -> list[Cause]:
    """A required field with a fixed set of values (``supported`` in sorted order)."""
    if not value:
        return [required(path)]
    if value not in supported:
        return [not_supported(path, value, supported)]
    return []


def _container_ports(ports: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports if isinstance(ports, list) else []):
        p = f"{path}[{i}]"
        name = port.get("name") or ""
        if name:
            msgs = port_name_errors(name)
            causes.extend(invalid(f"{p}.name", name, m) for m in msgs)
            if not msgs and name in names:
                causes.append(duplicate(f"{p}.name", name))
            names.add(name)
        cport = port.get("containerPort") or 0
        if not cport:
            causes.append(required(f"{p}.containerPort"))
        elif not 1 <= cport <= 65535:
            causes.append(invalid(f"{p}.containerPort", cport, PORT_RANGE))
        hport = port.get("hostPort") or 0
        if hport and not 1 <= hport <= 65535:
            causes.append(invalid(f"{p}.hostPort", hport, PORT_RANGE))
        causes.extend(enum_causes(port.get("protocol") or "", f"{p}.protocol", PROTOCOLS))
    return causes


def _env(env: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, var in enumerate(env if isinstance(env, list) else []):
        p = f"{path}[{i}]"
        name = var.get("name") or ""
        if not name:
            causes.append(required(f"{p}.name"))
        elif "=" in name or not all(" " <= c <= "~" for c in name):
            causes.append(
                invalid(
                    f"{p}.name",
                    name,
                    "a valid environment variable name must "
                    "consist only of printable ASCII characters other than '='",
                )
            )
        if var.get("value") and var.get("valueFrom"):
            causes.append(
                invalid(f"{p}.valueFrom", "", "may not be specified when `value` is not empty")
            )
    return causes


def _volume_mounts(mounts: Any, volumes: set[str], path: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, m in enumerate(mounts if isinstance(mounts, list) else []):
        p = f"{path}[{i}]"
        name = m.get("name") or ""
        if not name:
            causes.append(required(f"{p}.name"))
        elif name not in volumes:
            causes.append(not_found(f"{p}.name", name))
        mount_path = m.get("mountPath") or ""
        if not mount_path:
            causes.append(required(f"{p}.mountPath"))
        elif mount_path in seen:
            causes.append(invalid(f"{p}.mountPath", mount_path, "must be unique"))
        seen.add(mount_path)
    return causes


def _resources(res: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(res, dict):
        return causes
    limits = res.get("limits") or {}
    for part in ("limits", "requests"):
        for name, value in sorted((res.get(part) or {}).items()):
            try:
                q, _ = parse_quantity(str(value))
            except QuantityError:
                continue
            if q < 0:
                causes.append(
                    invalid(
                        f"{path}.{part}[{name}]", str(value), "must be greater than or equal to 0"
                    )
                )
            if part == "requests" and name in limits:
                try:
                    lim, _ = parse_quantity(str(limits[name]))
                except QuantityError:
                    continue
                if q > lim:
                    causes.append(
                        invalid(
                            f"{path}.requests[{name}]",
                            str(value),
                            f"must be less than or equal to {name} limit of {limits[name]}",
                        )
                    )
    return causes


def _containers(spec: dict[str, Any], key: str, volumes: set[str], path: str) -> list[Cause]:
    containers = spec.get(key)
    causes: list[Cause] = []
    if key == "containers" and not containers:
        causes.append(required(path))
    names: set[str] = set()
    for i, c in enumerate(containers if isinstance(containers, list) else []):
        p = f"{path}[{i}]"
        name = c.get("name") or ""
        causes.extend(name_causes(name, f"{p}.name", is_dns1123_label))
        if not c.get("image"):
            causes.append(required(f"{p}.image"))
        policy = c.get("terminationMessagePolicy") or ""
        causes.extend(enum_causes(policy, f"{p}.terminationMessagePolicy", _MESSAGE_POLICIES))
        causes.extend(_container_ports(c.get("ports"), f"{p}.ports"))
        causes.extend(_env(c.get("env"), f"{p}.env"))
        causes.extend(_volume_mounts(c.get("volumeMounts"), volumes, f"{p}.volumeMounts"))
        pull = c.get("imagePullPolicy") or ""
        causes.extend(enum_causes(pull, f"{p}.imagePullPolicy", _PULL_POLICIES))
        causes.extend(_resources(c.get("resources"), f"{p}.resources"))
        if name and name in names:
            causes.append(duplicate(f"{p}.name", name))
        names.add(name)
    return causes


def _volumes(volumes: Any, path: str) -> tuple[set[str], list[Cause]]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, v in enumerate(volumes if isinstance(volumes, list) else []):
        p = f"{path}[{i}]"
        name = v.get("name") or ""
        causes.extend(name_causes(name, f"{p}.name", is_dns1123_label))
        if name:
            if name in names:
                causes.append(duplicate(f"{p}.name", name))
            names.add(name)
        sources = [k for k in v if k != "name"]
        if len(sources) > 1:
            causes.append(
                forbidden(f"{p}.{sorted(sources)[1]}", "may not specify more than 1 volume type")
            )
        claim = v.get("persistentVolumeClaim")
        if isinstance(claim, dict) and not claim.get("claimName"):
            causes.append(required(f"{p}.persistentVolumeClaim.claimName"))
        cm = v.get("configMap")
        if isinstance(cm, dict) and not cm.get("name"):
            causes.append(required(f"{p}.configMap.name"))
        secret = v.get("secret")
        if isinstance(secret, dict) and not secret.get("secretName"):
            causes.append(required(f"{p}.secret.secretName"))
    return names, causes


def validate_pod_spec(spec: Any, path: str, *, template: bool = False) -> list[Cause]:
    """Causes for a pod spec at ``path`` (``spec`` or ``spec.template.spec``)."""
    if not isinstance(spec, dict):
        return [required(path)]
    volume_names, causes = _volumes(spec.get("volumes"), f"{path}.volumes")
    causes.extend(_containers(spec, "containers", volume_names, f"{path}.containers"))
    causes.extend(_containers(spec, "initContainers", volume_names, f"{path}.initContainers"))
    restart = spec.get("restartPolicy") or ""
    causes.extend(enum_causes(restart, f"{path}.restartPolicy", _RESTART_POLICIES))
    dns = spec.get("dnsPolicy") or ""
    causes.extend(enum_causes(dns, f"{path}.dnsPolicy", _DNS_POLICIES))
    causes.extend(validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector"))
    for key in ("serviceAccountName", "nodeName", "priorityClassName"):
        value = spec.get(key) or ""
        if value:
            causes.extend(invalid(f"{path}.{key}", value, m) for m in is_dns1123_subdomain(value))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= 2147483647:
        causes.append(
            invalid(
                f"{path}.activeDeadlineSeconds",
                deadline,
                "must be between 1 and 2147483647, inclusive",
            )
        )
    for key in ("hostname", "subdomain"):
        value = spec.get(key) or ""
        if value:
            causes.extend(invalid(f"{path}.{key}", value, m) for m in is_dns1123_label(value))
    grace = spec.get("terminationGracePeriodSeconds")
    if template and grace is not None and grace < 0:
        causes.append(
            invalid(
                f"{path}.terminationGracePeriodSeconds", grace, "must be greater than or equal to 0"
            )
        )
    return causes


def _munged_spec(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """``new`` with the fields a pod update may change put back to their old values."""
    munged = copy.deepcopy(new)
    for key in ("containers", "initContainers"):
        old_list = old.get(key) or []
        for i, c in enumerate(munged.get(key) or []):
            if i < len(old_list) and isinstance(c, dict):
                c["image"] = old_list[i].get("image")
    old_deadline, new_deadline = old.get("activeDeadlineSeconds"), new.get("activeDeadlineSeconds")
    if new_deadline is not None and (old_deadline is None or 0 < new_deadline <= old_deadline):
        munged["activeDeadlineSeconds"] = old_deadline
        if old_deadline is None:
            munged.pop("activeDeadlineSeconds")
    old_tol, new_tol = old.get("tolerations") or [], new.get("tolerations") or []
    if all(t in new_tol for t in old_tol):
        if old_tol:
            munged["tolerations"] = old_tol
        else:
            munged.pop("tolerations", None)
    old_grace = old.get("terminationGracePeriodSeconds")
    if (
        isinstance(old_grace, int)
        and old_grace < 0
        and new.get("terminationGracePeriodSeconds") == 1
    ):
        munged["terminationGracePeriodSeconds"] = old_grace
    if not new.get("schedulingGates") or all(
        g in (old.get("schedulingGates") or []) for g in new["schedulingGates"]
    ):
        if old.get("schedulingGates"):
            munged["schedulingGates"] = old["schedulingGates"]
        else:
            munged.pop("schedulingGates", None)
    return munged


def validate_pod_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Causes for changing a pod's spec beyond what a pod update may change."""
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    munged = _munged_spec(new_spec, old_spec)
    if munged == old_spec:
        return []
    changed = sorted(k for k in set(munged) | set(old_spec) if munged.get(k) != old_spec.get(k))
    diff = "\n".join(f"  spec.{k}: {old_spec.get(k)!r} -> {munged.get(k)!r}" for k in changed)
    return [forbidden("spec", f"pod updates may not change fields other than {_UPDATABLE}\n{diff}")]
