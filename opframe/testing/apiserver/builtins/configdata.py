"""ConfigMaps and Secrets: key validation, ``stringData``, secret types, immutability."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from opframe.testing.apiserver.builtins.meta import is_config_key
from opframe.testing.apiserver.errors import Cause, bad_request
from opframe.testing.apiserver.fielderrors import forbidden, invalid, required, too_long

__all__ = ["default_secret", "validate_configmap", "validate_immutable_data", "validate_secret"]

_MAX_SIZE = 1024 * 1024
_REQUIRED_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}


def default_secret(secret: dict[str, Any]) -> None:
    """Type ``Opaque`` by default; ``stringData`` merged into base64 ``data`` and dropped;
    ``data`` values must be base64 (400 otherwise, as decoding fails)."""
    secret.setdefault("type", "Opaque")
    data = secret.get("data")
    if isinstance(data, dict):
        for key, value in data.items():
            try:
                base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError):
                raise bad_request(
                    'Secret in version "v1" cannot be handled as a Secret: illegal base64 data '
                    f"at input byte {_bad_byte(str(value))}"
                ) from None
            data[key] = str(value)
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = secret.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _bad_byte(value: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    for i, ch in enumerate(value):
        if ch not in alphabet:
            return i
    return len(value) // 4 * 4


def _keys(data: Any, path: str) -> tuple[int, list[Cause]]:
    causes: list[Cause] = []
    size = 0
    if isinstance(data, dict):
        for key in sorted(data):
            causes.extend(invalid(f"{path}[{key}]", key, m) for m in is_config_key(key))
            size += len(str(data[key]))
    return size, causes


def validate_configmap(cm: dict[str, Any]) -> list[Cause]:
    """Keys of ``data`` and ``binaryData``, no key in both, total size."""
    size, causes = _keys(cm.get("data"), "data")
    binary = cm.get("binaryData") or {}
    for key in sorted(binary):
        causes.extend(invalid(f"binaryData[{key}]", key, m) for m in is_config_key(key))
        if key in (cm.get("data") or {}):
            causes.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        size += len(base64.b64decode(str(binary[key]))) if binary[key] else 0
    if size > _MAX_SIZE:
        causes.append(too_long("", _MAX_SIZE))
    return causes


def validate_secret(secret: dict[str, Any]) -> list[Cause]:
    """Keys, total size and the keys or annotations each secret type requires."""
    data = secret.get("data") or {}
    _, causes = _keys(data, "data")
    size = sum(len(base64.b64decode(str(v))) for v in data.values() if v)
    if size > _MAX_SIZE:
        causes.append(too_long("data", _MAX_SIZE))
    kind = secret.get("type") or ""
    for key in _REQUIRED_KEYS.get(kind, ()):
        if key not in data:
            causes.append(required(f"data[{key}]"))
    if kind == "kubernetes.io/service-account-token":
        annotations = (secret.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            causes.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    if kind == "kubernetes.io/basic-auth" and not ({"username", "password"} & set(data)):
        causes.append(required("data[username]"))
    return causes


def validate_immutable_data(
    new: dict[str, Any], old: dict[str, Any], is_secret: bool
) -> list[Cause]:
    """Type may not change; with ``immutable: true`` neither data nor the flag may."""
    causes: list[Cause] = []
    if is_secret and new.get("type") != old.get("type"):
        causes.append(invalid("type", new.get("type"), "field is immutable"))
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        if new.get("data") != old.get("data"):
            causes.append(forbidden("data", "field is immutable when `immutable` is set"))
        if not is_secret and new.get("binaryData") != old.get("binaryData"):
            causes.append(forbidden("binaryData", "field is immutable when `immutable` is set"))
    return causes
