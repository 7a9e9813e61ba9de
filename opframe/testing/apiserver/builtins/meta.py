"""Object metadata validation shared by every kind (built-in and custom resources).

The messages are apimachinery's: DNS-1123 subdomain and label names, DNS-1035 labels for
Services, qualified names for label and annotation keys, label values, owner references,
finalizers, and the fields an update may not change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import forbidden, invalid, required, too_long
from opframe.testing.apiserver.registry.resource_type import ResourceType

__all__ = [
    "NAME_DNS1035_LABEL",
    "NAME_DNS_LABEL",
    "NAME_DNS_SUBDOMAIN",
    "NAME_PATH_SEGMENT",
    "frozen_spec_causes",
    "is_config_key",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_qualified_name",
    "is_valid_label_value",
    "meta_warnings",
    "name_causes",
    "validate_annotations",
    "validate_labels",
    "validate_name",
    "validate_object_meta",
]

NAME_DNS_SUBDOMAIN = "subdomain"
NAME_DNS_LABEL = "label"
NAME_DNS1035_LABEL = "dns1035"
NAME_PATH_SEGMENT = "path"

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"

_QUALIFIED_NAME_RE = re.compile(f"^{_QUALIFIED_NAME_FMT}$")

_TOTAL_ANNOTATION_SIZE = 256 * 1024
_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    eg = "',  or '".join(examples)
    return f"{msg} (e.g. '{eg}', regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


class _Format:
    """A name format as apimachinery checks it: a length limit, then a regex (worded as Go's)."""

    def __init__(self, fmt: str, max_length: int, message: str, *examples: str) -> None:
        self.fmt, self.max_length, self.message, self.examples = fmt, max_length, message, examples
        self.regex = re.compile(f"^{fmt}$")

    def errors(self, value: str) -> list[str]:
        """The problems with ``value``: too long, not matching (both may apply)."""
        errs = []
        if len(value) > self.max_length:
            errs.append(_max_len(self.max_length))
        if not self.regex.match(value):
            errs.append(_regex_error(self.message, self.fmt, *self.examples))
        return errs


_DNS1123_SUBDOMAIN = _Format(
    _DNS1123_SUBDOMAIN_FMT,
    253,
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character",
    "example.com",
)


_DNS1123_LABEL = _Format(
    _DNS1123_LABEL_FMT,
    63,
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
    "'-', and must start and end with an alphanumeric character",
    "my-name",
    "123-abc",
)


_DNS1035_LABEL = _Format(
    _DNS1035_LABEL_FMT,
    63,
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
    "with an alphabetic character, and end with an alphanumeric character",
    "my-name",
    "abc-123",
)


_LABEL_VALUE = _Format(
    _LABEL_VALUE_FMT,
    63,
    "a valid label must be an empty string or consist of alphanumeric characters, '-', "
    "'_' or '.', and must start and end with an alphanumeric character",
    "MyValue",
    "my_value",
    "12345",
)


_CONFIG_KEY = _Format(
    _CONFIG_KEY_FMT,
    253,
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
    "key.name",
    "KEY_NAME",
    "key-name",
)


def is_dns1123_subdomain(value: str) -> list[str]:
    """Problems with ``value`` as a lowercase RFC 1123 subdomain (most object names)."""
    return _DNS1123_SUBDOMAIN.errors(value)


def is_dns1123_label(value: str) -> list[str]:
    """Problems with ``value`` as a lowercase RFC 1123 label (namespaces, container names)."""
    return _DNS1123_LABEL.errors(value)


def is_dns1035_label(value: str) -> list[str]:
    """Problems with ``value`` as a DNS-1035 label (Service names)."""
    return _DNS1035_LABEL.errors(value)


def is_qualified_name(value: str) -> list[str]:
    """Problems with ``value`` as a qualified name (``[prefix/]name``: label keys, finalizers)."""
    errs: list[str] = []
    parts = value.split("/")
    name_msg = (
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and "
        "end with an alphanumeric character"
    )
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(name_msg, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not _QUALIFIED_NAME_RE.match(name):
        errs.append(
            "name part "
            + _regex_error(name_msg, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """Problems with ``value`` as a label value."""
    return _LABEL_VALUE.errors(value)


def is_config_key(value: str) -> list[str]:
    """Problems with ``value`` as a ConfigMap or Secret key."""
    errs = _CONFIG_KEY.errors(value)
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def _path_segment(value: str, prefix: bool) -> list[str]:
    if not prefix and value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def validate_name(policy: str, value: str, prefix: bool = False) -> list[str]:
    """Problems with an object name under a naming ``policy`` (``NAME_*``).

    With ``prefix`` the value is a ``generateName``: a trailing ``-`` is allowed, as the server
    appends random characters to it.
    """
    if prefix and policy != NAME_PATH_SEGMENT and value.endswith("-"):
        value = value[:-1] + "a"
    if policy == NAME_DNS_LABEL:
        return is_dns1123_label(value)
    if policy == NAME_DNS1035_LABEL:
        return is_dns1035_label(value)
    if policy == NAME_PATH_SEGMENT:
        return _path_segment(value, prefix)
    return is_dns1123_subdomain(value)


def name_causes(
    name: str, path: str, check: Callable[[str], list[str]], detail: str = ""
) -> list[Cause]:
    """A required name at ``path``: missing (with ``detail``), else each problem ``check``
    finds (``is_dns1123_label``...) as an invalid value."""
    if not name:
        return [required(path, detail)]
    return [invalid(path, name, m) for m in check(name)]


def validate_labels(labels: Any, path: str) -> list[Cause]:
    """Causes for invalid label keys and values (field is the map, as apimachinery reports)."""
    causes: list[Cause] = []
    if not isinstance(labels, dict):
        return causes
    for key in sorted(labels):
        causes.extend(invalid(path, key, m) for m in is_qualified_name(key))
        value = labels[key]
        if isinstance(value, str):
            causes.extend(invalid(path, value, m) for m in is_valid_label_value(value))
    return causes


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    """Causes for invalid annotation keys and an oversized annotation map."""
    causes: list[Cause] = []
    if not isinstance(annotations, dict):
        return causes
    size = 0
    for key in sorted(annotations):
        causes.extend(invalid(path, key, m) for m in is_qualified_name(key.lower()))
        size += len(key.encode()) + len(str(annotations[key]).encode())
    if size > _TOTAL_ANNOTATION_SIZE:
        causes.append(too_long(path, _TOTAL_ANNOTATION_SIZE))
    return causes


def _owner_references(refs: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(refs, list):
        return causes
    controller = ""
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        api_version = str(ref.get("apiVersion") or "")
        if not api_version or api_version.endswith("/"):
            causes.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
        if not ref.get("kind"):
            causes.append(invalid(f"{path}.kind", ref.get("kind", ""), "kind must not be empty"))
        if not ref.get("name"):
            causes.append(invalid(f"{path}.name", ref.get("name", ""), "name must not be empty"))
        if not ref.get("uid"):
            causes.append(invalid(f"{path}.uid", ref.get("uid", ""), "uid must not be empty"))
        if ref.get("controller") is True:
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if controller:
                causes.append(
                    invalid(
                        path,
                        refs,
                        'Only one reference can have Controller set to true. Found "true" in '
                        f"references for {controller} and {current}",
                    )
                )
            else:
                controller = current
    return causes


def _finalizers(finalizers: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(finalizers, list):
        return causes
    for f in finalizers:
        if isinstance(f, str):
            causes.extend(invalid(path, f, m) for m in is_qualified_name(f))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        causes.append(
            invalid(path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set")
        )
    return causes


def _go_string_slice(values: list[str]) -> str:
    return "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"


def frozen_spec_causes(
    new: dict[str, Any], old: dict[str, Any], mutable: tuple[str, ...], detail: str
) -> list[Cause]:
    """``spec`` Forbidden with ``detail`` when a field of it other than ``mutable`` changed
    (the rule of a StatefulSet's and a bound claim's updates)."""
    changed = {k: v for k, v in (new.get("spec") or {}).items() if k not in mutable}
    before = {k: v for k, v in (old.get("spec") or {}).items() if k not in mutable}
    return [] if changed == before else [forbidden("spec", detail)]


def _immutable(path: str, new: Any, old: Any) -> list[Cause]:
    if new == old:
        return []
    return [invalid(path, new, "field is immutable")]


def _meta_accessor(rt: ResourceType, meta: dict[str, Any], policy: str) -> list[Cause]:
    """``ValidateObjectMetaAccessor``: names, namespace, generation, labels, annotations,
    owner references and finalizers."""
    causes: list[Cause] = []
    gen_name = meta.get("generateName") or ""
    if gen_name:
        causes.extend(
            invalid("metadata.generateName", gen_name, m)
            for m in validate_name(policy, gen_name, prefix=True)
        )
    causes.extend(
        name_causes(
            meta.get("name") or "",
            "metadata.name",
            lambda name: validate_name(policy, name),
            "name or generateName is required",
        )
    )
    namespace = meta.get("namespace") or ""
    if rt.namespaced:
        if not namespace:
            causes.append(required("metadata.namespace"))
        else:
            causes.extend(
                invalid("metadata.namespace", namespace, m) for m in is_dns1123_label(namespace)
            )
    elif namespace:
        causes.append(forbidden("metadata.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        causes.append(
            invalid("metadata.generation", generation, "must be greater than or equal to 0")
        )
    causes.extend(validate_labels(meta.get("labels"), "metadata.labels"))
    causes.extend(validate_annotations(meta.get("annotations"), "metadata.annotations"))
    causes.extend(_owner_references(meta.get("ownerReferences"), "metadata.ownerReferences"))
    causes.extend(_finalizers(meta.get("finalizers"), "metadata.finalizers"))
    return causes


def _meta_accessor_update(meta: dict[str, Any], old_meta: dict[str, Any]) -> list[Cause]:
    """``ValidateObjectMetaAccessorUpdate``: no new finalizers while deleting, generation not
    decremented, immutable identity fields."""
    causes: list[Cause] = []
    if old_meta.get("deletionTimestamp"):
        old_finalizers = old_meta.get("finalizers") or []
        added = sorted({f for f in meta.get("finalizers") or [] if f not in old_finalizers})
        if added:
            causes.append(
                forbidden(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers {_go_string_slice(added)}",
                )
            )
    if (meta.get("generation") or 0) < (old_meta.get("generation") or 0):
        causes.append(
            invalid("metadata.generation", meta.get("generation"), "must not be decremented")
        )
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        causes.extend(_immutable(f"metadata.{key}", meta.get(key, ""), old_meta.get(key, "")))
    return causes


def validate_object_meta(
    rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None = None
) -> list[Cause]:
    """Validate ``obj["metadata"]`` for ``rt`` on create (``old`` is None) or update.

    On create: ``generateName`` and ``name`` by the kind's naming policy (DNS-1123 subdomain by
    default, label for namespaces, DNS-1035 for services, path segment for RBAC and core
    events), the namespace, labels, annotations, owner references and finalizers; the generic
    path-segment rule last, only when everything else passed.

    On update, as kube-apiserver does, the generic registry checks run first (the create-time
    rules with the path-segment name rule, then the update rules: no new finalizers while
    deleting, generation, immutable name, namespace, uid and creationTimestamp), then the
    kind's own update rules (the update rules again, labels, annotations, owner references).
    So an update error is reported twice, as the real server reports it. The caller has
    already carried over the system fields a client may omit, as ``rest.BeforeUpdate`` does.
    """
    meta = obj.get("metadata") or {}
    policy = str(rt.extra.get("name_validation", NAME_DNS_SUBDOMAIN))
    if old is None:
        causes = _meta_accessor(rt, meta, policy)
        if not causes and policy != NAME_PATH_SEGMENT and meta.get("name"):
            # The generic registry checks path segments last, after the kind's own rules.
            causes.extend(
                invalid("metadata.name", meta["name"], m)
                for m in _path_segment(meta["name"], False)
            )
        return causes
    old_meta = old.get("metadata") or {}
    causes = _meta_accessor(rt, meta, NAME_PATH_SEGMENT)
    causes.extend(_meta_accessor_update(meta, old_meta))
    causes.extend(_meta_accessor_update(meta, old_meta))
    causes.extend(validate_labels(meta.get("labels"), "metadata.labels"))
    causes.extend(validate_annotations(meta.get("annotations"), "metadata.annotations"))
    causes.extend(_owner_references(meta.get("ownerReferences"), "metadata.ownerReferences"))
    return causes


def meta_warnings(obj: dict[str, Any]) -> list[str]:
    """Warnings the server sends for metadata: finalizer names without a domain."""
    warnings = []
    for f in (obj.get("metadata") or {}).get("finalizers") or []:
        if isinstance(f, str) and "/" not in f and f not in _STANDARD_FINALIZERS:
            warnings.append(
                f'metadata.finalizers: "{f}": prefer a domain-qualified finalizer name including '
                "a path (/) to avoid accidental conflicts with other finalizer writers"
            )
    return warnings
