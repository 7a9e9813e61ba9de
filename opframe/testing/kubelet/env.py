"""Container environment: ``env``, ``envFrom``, the downward API and ``$(VAR)`` expansion."""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

__all__ = ["EnvError", "expand", "expand_all", "field_ref", "resolve_env"]

Fetch = Callable[[str, str, str], Awaitable[Mapping[str, Any] | None]]
"""``fetch(kind, namespace, name)`` returns a ConfigMap or Secret as a dict, or None."""

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


class EnvError(LookupError):
    """A referenced ConfigMap, Secret or key is missing (kubelet: CreateContainerConfigError)."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known names replaced, unknown kept, ``$$`` → ``$``."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR.sub(sub, text)


def field_ref(pod: Mapping[str, Any], path: str) -> str:
    """The downward-API value of ``path`` (``metadata.name``, ``metadata.labels['x']``...)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
    }
    if path in simple:
        return str(simple[path] or "")
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = (meta.get(path.split(".")[1]) or {}).items()
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items))
    if path == "status.podIPs":
        return ",".join(x.get("ip", "") for x in status.get("podIPs") or [])
    raise EnvError(f"unsupported downward API fieldPath {path!r}")


def _data(obj: Mapping[str, Any], kind: str) -> dict[str, str]:
    out = {k: str(v) for k, v in (obj.get("data") or {}).items()}
    if kind == "Secret":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in out.items()}
    out.update({k: str(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


async def _ref(fetch: Fetch, kind: str, ns: str, ref: Mapping[str, Any]) -> str | None:
    obj = await fetch(kind, ns, str(ref.get("name", "")))
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise EnvError(f'{kind.lower()} "{ref.get("name")}" not found')
    data = _data(obj, kind)
    if ref["key"] not in data:
        if optional:
            return None
        raise EnvError(f"couldn't find key {ref['key']} in {kind} {ns}/{ref.get('name')}")
    return data[ref["key"]]


async def resolve_env(
    container: Mapping[str, Any],
    pod: Mapping[str, Any],
    fetch: Fetch,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of ``container``: ``base`` < ``envFrom`` < ``env``, in spec order."""
    ns = str((pod.get("metadata") or {}).get("namespace", "default"))
    env: dict[str, str] = dict(base or {})
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if key in source:
                obj = await fetch(kind, ns, str(source[key].get("name", "")))
                if obj is None:
                    if source[key].get("optional"):
                        continue
                    raise EnvError(f'{kind.lower()} "{source[key].get("name")}" not found')
                env.update({prefix + k: v for k, v in _data(obj, kind).items()})
    for var in container.get("env") or []:
        name = str(var["name"])
        if "value" in var or "valueFrom" not in var:
            env[name] = expand(str(var.get("value") or ""), env)
            continue
        src = var["valueFrom"]
        value: str | None
        if "fieldRef" in src:
            value = field_ref(pod, str(src["fieldRef"]["fieldPath"]))
        elif "configMapKeyRef" in src:
            value = await _ref(fetch, "ConfigMap", ns, src["configMapKeyRef"])
        elif "secretKeyRef" in src:
            value = await _ref(fetch, "Secret", ns, src["secretKeyRef"])
        elif "resourceFieldRef" in src:
            value = "0"  # no resource accounting on the local node
        else:
            raise EnvError(f"env {name}: unsupported valueFrom {sorted(src)}")
        if value is not None:
            env[name] = value
    return env


def expand_all(items: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``command``/``args`` after ``$(VAR)`` expansion against the container's env."""
    return [expand(str(x), env) for x in items]
