"""Pod Security admission: the baseline and restricted Pod Security Standards.

    msgs = violations(pod_spec, pod_meta, "restricted")
    # ['allowPrivilegeEscalation != false (container "x" must set ...)', ...]

A namespace chooses a level per mode with labels
``pod-security.kubernetes.io/enforce|warn|audit`` (and ``...-version``): ``enforce`` refuses
violating pods (403), ``warn`` answers with a Warning header (pods and the pod templates of
workloads). Checks and their messages follow
``staging/src/k8s.io/pod-security-admission/policy/check_*.go``; they run in check-ID order,
and a restricted check replaces its baseline counterpart (capabilities, seccomp, volumes), as
``policy/registry.go`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from opframe.testing.apiserver.errors import StatusError

__all__ = ["LEVELS", "admit_pod_security", "label_causes", "violations"]

LEVELS = ("privileged", "baseline", "restricted")
PREFIX = "pod-security.kubernetes.io/"

Obj = dict[str, Any]


def _containers(spec: Obj) -> Iterator[Obj]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                yield c


def _sc(obj: Obj) -> Obj:
    sc = obj.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def _quoted(values: list[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _who(names: list[str], singular: str = "container") -> str:
    label = singular if len(names) == 1 else singular + "s"
    return f"{label} {_quoted(names)}"


def _verb(names: list[str], one: str, many: str) -> str:
    return one if len(names) == 1 else many


def _uses(names: list[str], noun: str, values: list[str], text: str, who: str = "container") -> str:
    """``container "a" uses hostPort 80``: who, the verb and the noun in their numbers."""
    label = noun if len(values) == 1 else noun + "s"
    return f"{_who(names, who)} {_verb(names, 'uses', 'use')} {label} {text}"


Result = tuple[str, str] | None


def _allow_privilege_escalation(spec: Obj, meta: Obj) -> Result:
    bad = [
        c["name"] for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False
    ]
    if not bad:
        return None
    return "allowPrivilegeEscalation != false", (
        f"{_who(bad)} must set securityContext.allowPrivilegeEscalation=false"
    )


_BASELINE_CAPS = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})  # fmt: skip


def _added(c: Obj) -> list[str]:
    caps = _sc(c).get("capabilities") or {}
    return [str(x) for x in caps.get("add") or []]


def _added_beyond(spec: Obj, allowed: frozenset[str]) -> tuple[list[str], list[str]]:
    names: list[str] = []
    caps: list[str] = []
    for c in _containers(spec):
        extra = [x for x in _added(c) if x not in allowed]
        if extra:
            names.append(c["name"])
            caps.extend(x for x in extra if x not in caps)
    return names, caps


def _capabilities_baseline(spec: Obj, meta: Obj) -> Result:
    names, caps = _added_beyond(spec, _BASELINE_CAPS)
    if not names:
        return None
    return "non-default capabilities", (
        f"{_who(names)} must not include {_quoted(caps)} in securityContext.capabilities.add"
    )


def _capabilities_restricted(spec: Obj, meta: Obj) -> Result:
    no_drop = [
        c["name"] for c in _containers(spec)
        if "ALL" not in ((_sc(c).get("capabilities") or {}).get("drop") or [])
    ]  # fmt: skip
    names, caps = _added_beyond(spec, frozenset({"NET_BIND_SERVICE"}))
    details = []
    if no_drop:
        details.append(f'{_who(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if names:
        details.append(
            f"{_who(names)} must not include {_quoted(caps)} in securityContext.capabilities.add"
        )
    return ("unrestricted capabilities", "; ".join(details)) if details else None


def _host_namespaces(spec: Obj, meta: Obj) -> Result:
    on = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return ("host namespaces", ", ".join(on)) if on else None


def _volumes_of(spec: Obj) -> Iterator[tuple[str, str]]:
    for v in spec.get("volumes") or []:
        if isinstance(v, dict):
            kind = next((k for k in v if k != "name"), "")
            yield str(v.get("name", "")), kind


def _host_path_volumes(spec: Obj, meta: Obj) -> Result:
    bad = [n for n, kind in _volumes_of(spec) if kind == "hostPath"]
    return ("hostPath volumes", _who(bad, "volume")) if bad else None


def _host_ports(spec: Obj, meta: Obj) -> Result:
    names: list[str] = []
    ports: list[str] = []
    for c in _containers(spec):
        used = [str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        if used:
            names.append(c["name"])
            ports.extend(p for p in used if p not in ports)
    if not names:
        return None
    return "hostPort", _uses(names, "hostPort", ports, ", ".join(ports))


def _privileged(spec: Obj, meta: Obj) -> Result:
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("privileged") is True]
    if not bad:
        return None
    return "privileged", f"{_who(bad)} must not set securityContext.privileged=true"


def _proc_mount(spec: Obj, meta: Obj) -> Result:
    bad = [c["name"] for c in _containers(spec)
           if _sc(c).get("procMount") not in (None, "", "Default")]  # fmt: skip
    if not bad:
        return None
    return "procMount", f'{_who(bad)} must not set securityContext.procMount to "Unmasked"'


_ALLOWED_VOLUMES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
    "persistentVolumeClaim", "projected", "secret",
})  # fmt: skip


def _restricted_volumes(spec: Obj, meta: Obj) -> Result:
    names: list[str] = []
    kinds: list[str] = []
    for name, kind in _volumes_of(spec):
        if kind and kind not in _ALLOWED_VOLUMES:
            names.append(name)
            if kind not in kinds:
                kinds.append(kind)
    if not names:
        return None
    return "restricted volume types", _uses(
        names, "restricted volume type", kinds, _quoted(kinds), who="volume"
    )


def _run_as_non_root(spec: Obj, meta: Obj) -> Result:
    pod = _sc(spec).get("runAsNonRoot")
    details = []
    if pod is False:
        details.append("pod must not set securityContext.runAsNonRoot=false")
    explicit_false = [c["name"] for c in _containers(spec) if _sc(c).get("runAsNonRoot") is False]
    if explicit_false:
        details.append(f"{_who(explicit_false)} must not set securityContext.runAsNonRoot=false")
    if pod is not True:
        unset = [c["name"] for c in _containers(spec) if _sc(c).get("runAsNonRoot") is None]
        if unset and pod is None:
            details.append(f"pod or {_who(unset)} must set securityContext.runAsNonRoot=true")
    return ("runAsNonRoot != true", "; ".join(details)) if details else None


def _run_as_user(spec: Obj, meta: Obj) -> Result:
    details = []
    if _sc(spec).get("runAsUser") == 0:
        details.append("pod must not set runAsUser=0")
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    if bad:
        details.append(f"{_who(bad)} must not set runAsUser=0")
    return ("runAsUser=0", "; ".join(details)) if details else None


def _seccomp_type(obj: Obj) -> str | None:
    profile = _sc(obj).get("seccompProfile")
    return str(profile.get("type")) if isinstance(profile, dict) else None


def _seccomp_baseline(spec: Obj, meta: Obj) -> Result:
    details = []
    if _seccomp_type(spec) == "Unconfined":
        details.append('pod must not set securityContext.seccompProfile.type to "Unconfined"')
    bad = [c["name"] for c in _containers(spec) if _seccomp_type(c) == "Unconfined"]
    if bad:
        details.append(
            f'{_who(bad)} must not set securityContext.seccompProfile.type to "Unconfined"'
        )
    return ("seccompProfile", "; ".join(details)) if details else None


def _seccomp_restricted(spec: Obj, meta: Obj) -> Result:
    good = ("RuntimeDefault", "Localhost")
    pod = _seccomp_type(spec)
    details = []
    if pod is not None and pod not in good:
        details.append(f'pod must not set securityContext.seccompProfile.type to "{pod}"')
    bad: list[str] = []
    unset: list[str] = []
    for c in _containers(spec):
        t = _seccomp_type(c)
        if t is None:
            unset.append(c["name"])
        elif t not in good:
            bad.append(c["name"])
    if bad:
        values = _quoted(sorted({str(_seccomp_type(c)) for c in _containers(spec)
                                 if c["name"] in bad}))  # fmt: skip
        details.append(f"{_who(bad)} must not set securityContext.seccompProfile.type to {values}")
    if pod is None and unset:
        details.append(
            f"pod or {_who(unset)} must set securityContext.seccompProfile.type to "
            '"RuntimeDefault" or "Localhost"'
        )
    return ("seccompProfile", "; ".join(details)) if details else None


_SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
})  # fmt: skip


def _sysctls(spec: Obj, meta: Obj) -> Result:
    bad = [str(s.get("name")) for s in _sc(spec).get("sysctls") or []
           if s.get("name") not in _SAFE_SYSCTLS]  # fmt: skip
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


Check = Callable[[Obj, Obj], Result]

# (check id, level, check, ids it replaces), in check-ID order.
_CHECKS: tuple[tuple[str, str, Check, tuple[str, ...]], ...] = (
    ("allowPrivilegeEscalation", "restricted", _allow_privilege_escalation, ()),
    ("capabilities_baseline", "baseline", _capabilities_baseline, ()),
    ("capabilities_restricted", "restricted", _capabilities_restricted,
     ("capabilities_baseline",)),
    ("hostNamespaces", "baseline", _host_namespaces, ()),
    ("hostPathVolumes", "baseline", _host_path_volumes, ()),
    ("hostPorts", "baseline", _host_ports, ()),
    ("privileged", "baseline", _privileged, ()),
    ("procMount", "baseline", _proc_mount, ()),
    ("restrictedVolumes", "restricted", _restricted_volumes, ("hostPathVolumes",)),
    ("runAsNonRoot", "restricted", _run_as_non_root, ()),
    ("runAsUser", "restricted", _run_as_user, ()),
    ("seccompProfile_baseline", "baseline", _seccomp_baseline, ()),
    ("seccompProfile_restricted", "restricted", _seccomp_restricted,
     ("seccompProfile_baseline",)),
    ("sysctls", "baseline", _sysctls, ()),
)  # fmt: skip


def violations(spec: Obj, meta: Obj, level: str) -> list[str]:
    """``reason (detail)`` for every check of ``level`` the pod spec fails."""
    if level not in ("baseline", "restricted"):
        return []
    wanted = [c for c in _CHECKS if c[1] == "baseline" or level == "restricted"]
    replaced = {r for c in wanted for r in c[3]}
    out = []
    for check_id, _, check, _ in wanted:
        if check_id in replaced:
            continue
        result = check(spec, meta)
        if result is not None:
            out.append(f"{result[0]} ({result[1]})")
    return out


def _policy(labels: dict[str, str], mode: str) -> tuple[str, str]:
    level = labels.get(PREFIX + mode, "privileged")
    version = labels.get(f"{PREFIX}{mode}-version", "latest") or "latest"
    return (level if level in LEVELS else "restricted"), version


def label_causes(labels: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(field, value, detail)`` for each invalid Pod Security label of a namespace."""
    out = []
    for mode in ("enforce", "warn", "audit"):
        key = PREFIX + mode
        if key in labels and labels[key] not in LEVELS:
            out.append((f"metadata.labels[{key}]", str(labels[key]),
                        'must be one of privileged, baseline, restricted'))  # fmt: skip
        vkey = f"{key}-version"
        v = labels.get(vkey)
        if (
            v is not None
            and v != "latest"
            and not (isinstance(v, str) and v.startswith("v1.") and v[3:].isdigit())
        ):
            out.append((f"metadata.labels[{vkey}]", str(v), 'must be "latest" or "v1.x"'))
    return out


_TEMPLATE_PATHS = {
    ("apps", "deployments"): ("spec", "template"),
    ("apps", "replicasets"): ("spec", "template"),
    ("apps", "statefulsets"): ("spec", "template"),
    ("apps", "daemonsets"): ("spec", "template"),
    ("batch", "jobs"): ("spec", "template"),
    ("batch", "cronjobs"): ("spec", "jobTemplate", "spec", "template"),
    ("", "replicationcontrollers"): ("spec", "template"),
    ("", "podtemplates"): ("template",),
}


def _template(obj: Obj, path: tuple[str, ...]) -> Obj | None:
    cur: Any = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    return cur if isinstance(cur, dict) else None


def admit_pod_security(
    group: str, plural: str, obj: Obj, namespace_labels: dict[str, str], warnings: list[str]
) -> None:
    """Refuse (403) a pod that violates the namespace's enforce level; add warnings for
    the warn level (pods, and pod templates of workloads)."""
    meta = obj.get("metadata") or {}
    if (group, plural) == ("", "pods"):
        spec, pod_meta, is_pod = obj.get("spec") or {}, meta, True
    elif (group, plural) in _TEMPLATE_PATHS:
        template = _template(obj, _TEMPLATE_PATHS[(group, plural)])
        if template is None:
            return
        spec, pod_meta, is_pod = template.get("spec") or {}, template.get("metadata") or {}, False
    else:
        return
    if is_pod:
        level, version = _policy(namespace_labels, "enforce")
        found = violations(spec, pod_meta, level)
        if found:
            name = meta.get("name", "")
            raise StatusError(
                403,
                "Forbidden",
                f'pods "{name}" is forbidden: violates PodSecurity "{level}:{version}": '
                + ", ".join(found),
                {"name": name, "kind": "pods"},
            )
    level, version = _policy(namespace_labels, "warn")
    found = violations(spec, pod_meta, level)
    if found:
        warnings.append(f'would violate PodSecurity "{level}:{version}": ' + ", ".join(found))
