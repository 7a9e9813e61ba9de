"""Validation and defaulting of ``CustomResourceDefinition`` objects, as apiextensions does it.

:func:`validate_crd` returns the causes of the 422 the real server answers for a CRD it refuses:
names (``metadata.name`` must be ``<plural>.<group>``, plural/singular/kind/listKind), scope,
versions (non-empty, unique DNS-1035 names, exactly one storage version), a structural schema
per version (see :mod:`.structural`), CEL rules that compile, printer columns, scale paths and
the conversion strategy. :func:`default_crd` fills in what the server defaults before that.
"""

from __future__ import annotations

import re
from typing import Any

from opframe.testing.apiserver import fielderrors as fe
from opframe.testing.apiserver.builtins.meta import is_dns1035_label, is_dns1123_subdomain
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.schema.cel import compile_error
from opframe.testing.apiserver.schema.structural import schema_causes

__all__ = ["default_crd", "is_established", "validate_crd"]

_PRINTER_TYPES = ["boolean", "date", "integer", "number", "string"]
_PRINTER_FORMATS = ["byte", "date", "date-time", "double", "float", "int32", "int64", "password"]
_ROOT_WITH_STATUS = {
    "description",
    "type",
    "format",
    "title",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "required",
    "items",
    "properties",
    "externalDocs",
    "example",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
}


def default_crd(crd: dict[str, Any]) -> None:
    """Apply the server's defaults to a CRD in place (``apiextensions/v1`` ``SetDefaults``).

    ``spec.conversion.strategy: None``; ``names.singular`` = lower-case kind; ``names.listKind``
    = kind + ``List``.
    """
    spec = crd.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    conversion = spec.get("conversion")
    if not isinstance(conversion, dict):
        spec["conversion"] = {"strategy": "None"}
    elif not conversion.get("strategy"):
        conversion["strategy"] = "None"
    names = spec.get("names")
    if isinstance(names, dict) and names.get("kind"):
        if not names.get("singular"):
            names["singular"] = str(names["kind"]).lower()
        if not names.get("listKind"):
            names["listKind"] = f"{names['kind']}List"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(d: Any, key: str) -> str:
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, str) else ""


def _names_causes(names: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(names, dict):
        return out
    for key in ("plural", "singular"):
        v = _str(names, key)
        if v and (errs := is_dns1035_label(v)):
            out.append(fe.invalid(f"{path}.{key}", v, ",".join(errs)))
    for key in ("kind", "listKind"):
        v = _str(names, key)
        if v and (errs := is_dns1035_label(v.lower())):
            out.append(
                fe.invalid(
                    f"{path}.{key}",
                    v,
                    "may have mixed case, but should otherwise match: " + ",".join(errs),
                )
            )
    for key in ("shortNames", "categories"):
        for i, v in enumerate(names.get(key) or []):
            if errs := is_dns1035_label(str(v)):
                out.append(fe.invalid(f"{path}.{key}[{i}]", v, ",".join(errs)))
    kind = _str(names, "kind")
    if kind and kind == _str(names, "listKind"):
        out.append(fe.invalid(f"{path}.listKind", kind, "kind and listKind may not be the same"))
    return out


def _simple_json_path(value: str, path: str) -> list[Cause]:
    if not value:
        return [fe.invalid(path, value, "must not be empty")]
    if not value.startswith("."):
        return [fe.invalid(path, value, "must be a simple json path starting with .")]
    return []


def _column_causes(col: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(col, dict):
        return out
    if not _str(col, "name"):
        out.append(fe.required(f"{path}.name"))
    typ = _str(col, "type")
    must = "must be one of " + ",".join(_PRINTER_TYPES)
    if not typ:
        out.append(fe.required(f"{path}.type", must))
    elif typ not in _PRINTER_TYPES:
        out.append(fe.invalid(f"{path}.type", typ, must))
    fmt = _str(col, "format")
    if fmt and fmt not in _PRINTER_FORMATS:
        out.append(
            fe.invalid(f"{path}.format", fmt, "must be one of " + ",".join(_PRINTER_FORMATS))
        )
    jp = _str(col, "jsonPath")
    if not jp:
        out.append(fe.required(f"{path}.JSONPath"))
    else:
        out.extend(_simple_json_path(jp, f"{path}.JSONPath"))
    return out


def _subresource_causes(sub: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    scale = sub.get("scale") if isinstance(sub, dict) else None
    if not isinstance(scale, dict):
        return out
    for key, prefixes, where in (
        ("specReplicasPath", (".spec.",), "should be a json path under .spec"),
        ("statusReplicasPath", (".status.",), "should be a json path under .status"),
    ):
        v = _str(scale, key)
        fpath = f"{path}.scale.{key}"
        if not v:
            out.append(fe.required(fpath))
        elif errs := _simple_json_path(v, fpath):
            out.extend(errs)
        elif not v.startswith(prefixes):
            out.append(fe.invalid(fpath, v, where))
    sel = _str(scale, "labelSelectorPath")
    if sel:
        fpath = f"{path}.scale.labelSelectorPath"
        if errs := _simple_json_path(sel, fpath):
            out.extend(errs)
        elif not sel.startswith((".spec.", ".status.")):
            out.append(
                fe.invalid(fpath, sel, "should be a json path under either .spec or .status")
            )
    return out


_OLD_SELF = re.compile(r"\boldSelf\b")


def _rule_compile_causes(
    schema: Any, path: str, out: list[Cause], uncorrelatable: str | None = None
) -> None:
    """CEL compile errors, and ``oldSelf`` where old and new values cannot be paired up.

    ``uncorrelatable`` is the path of the nearest ancestor whose children have no stable
    identity across updates (an atomic or set list, an atomic map).
    """
    if not isinstance(schema, dict):
        return
    for i, rule in enumerate(schema.get("x-kubernetes-validations") or []):
        if not isinstance(rule, dict):
            continue
        rpath = f"{path}.x-kubernetes-validations[{i}]"
        errors = False
        for key in ("rule", "messageExpression"):
            text = rule.get(key)
            if isinstance(text, str) and text.strip():
                err = compile_error(text)
                if err is not None:
                    errors = True
                    out.append(fe.invalid(f"{rpath}.{key}", rule, err))
        if errors:
            continue
        text = str(rule.get("rule") or "")
        if _OLD_SELF.search(text):
            if uncorrelatable is not None:
                out.append(
                    fe.invalid(
                        f"{rpath}.rule",
                        text,
                        "oldSelf cannot be used on the uncorrelatable portion of the schema "
                        f"within {uncorrelatable}",
                    )
                )
        elif rule.get("optionalOldSelf") is not None:
            out.append(
                fe.invalid(
                    f"{rpath}.optionalOldSelf",
                    rule["optionalOldSelf"],
                    "may not be set if oldSelf is not used in rule",
                )
            )
    props = schema.get("properties")
    if isinstance(props, dict):
        below = uncorrelatable
        if below is None and schema.get("x-kubernetes-map-type") == "atomic":
            below = path
        for k, v in props.items():
            _rule_compile_causes(v, f"{path}.properties[{k}]", out, below)
    addl = schema.get("additionalProperties")
    if isinstance(addl, dict):
        _rule_compile_causes(addl, f"{path}.additionalProperties", out, uncorrelatable)
    items = schema.get("items")
    if isinstance(items, dict):
        below = uncorrelatable
        if below is None and schema.get("x-kubernetes-list-type") != "map":
            below = path
        _rule_compile_causes(items, f"{path}.items", out, below)


def _version_causes(v: dict[str, Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    if v.get("deprecationWarning") is not None and not v.get("deprecated"):
        out.append(
            fe.invalid(
                f"{path}.deprecationWarning",
                v["deprecationWarning"],
                "can only be set for deprecated versions",
            )
        )
    subs = v.get("subresources")
    status_enabled = isinstance(subs, dict) and subs.get("status") is not None
    schema = (
        (v.get("schema") or {}).get("openAPIV3Schema")
        if isinstance(v.get("schema"), dict)
        else None
    )
    if isinstance(schema, dict):
        spath = f"{path}.schema.openAPIV3Schema"
        if status_enabled:
            if schema.get("type") not in (None, "", "object"):
                out.append(
                    fe.invalid(
                        f"{path}.schema.openAPIV3Schema.type",
                        schema["type"],
                        'only "object" is allowed as the type at the root of the schema if the '
                        "status subresource is enabled",
                    )
                )
        causes = schema_causes(schema, spath)
        out.extend(causes)
        if not causes:
            _rule_compile_causes(schema, spath, out)
    out.extend(_subresource_causes(subs, f"{path}.subresources"))
    for i, col in enumerate(v.get("additionalPrinterColumns") or []):
        out.extend(_column_causes(col, f"{path}.additionalPrinterColumns[{i}]"))
    return out


def _spec_causes(spec: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    group = _str(spec, "group")
    if not group:
        out.append(fe.required("spec.group"))
    elif errs := is_dns1123_subdomain(group):
        out.append(fe.invalid("spec.group", group, ",".join(errs)))
    elif "." not in group:
        out.append(fe.invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = _str(spec, "scope")
    if not scope:
        out.append(fe.required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        out.append(fe.not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    versions = [v for v in spec.get("versions") or [] if isinstance(v, dict)]
    for i, v in enumerate(versions):
        schema = v.get("schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("openAPIV3Schema"), dict):
            out.append(fe.required(f"spec.versions[{i}].schema.openAPIV3Schema"))
    if spec.get("preserveUnknownFields"):
        out.append(
            fe.invalid(
                "spec.preserveUnknownFields",
                True,
                "must be false in order to use defaults in the schema",
            )
        )
    seen: set[str] = set()
    unique = True
    storage = 0
    for i, v in enumerate(versions):
        name = _str(v, "name")
        if v.get("storage"):
            storage += 1
        if name in seen:
            unique = False
        seen.add(name)
        if errs := is_dns1035_label(name):
            out.append(fe.invalid(f"spec.versions[{i}].name", name, ",".join(errs)))
        out.extend(_version_causes(v, f"spec.versions[{i}]"))
    if not unique:
        out.append(fe.invalid("spec.versions", fe.OMIT, "must contain unique version names"))
    if storage != 1:
        out.append(
            fe.invalid(
                "spec.versions", fe.OMIT, "must have exactly one version marked as storage version"
            )
        )
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    for key in ("plural", "singular", "kind", "listKind"):
        if not _str(names, key):
            out.append(fe.required(f"spec.names.{key}"))
    out.extend(_names_causes(names, "spec.names"))
    conversion = spec.get("conversion")
    if isinstance(conversion, dict):
        strategy = _str(conversion, "strategy")
        if not strategy:
            out.append(fe.required("spec.conversion.strategy"))
        elif strategy not in ("None", "Webhook"):
            out.append(fe.not_supported("spec.conversion.strategy", strategy, ["None", "Webhook"]))
        elif strategy == "Webhook" and not conversion.get("webhook"):
            out.append(
                fe.required("spec.conversion.webhook", "required when strategy is set to Webhook")
            )
    return out


def validate_crd(crd: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
    """The causes of the 422 the real server answers for ``crd`` (empty when it accepts it).

    Call it on the CRD as received, after :func:`default_crd`. With ``old`` (an update), group,
    plural, and (once established) scope and kind are immutable, and no version that is in
    ``status.storedVersions`` may disappear.
    """
    out: list[Cause] = []
    meta = _dict(crd.get("metadata"))
    spec = _dict(crd.get("spec"))
    name = _str(meta, "name")
    if not name and not _str(meta, "generateName"):
        out.append(fe.required("metadata.name", "name or generateName is required"))
    elif name:
        msgs = is_dns1123_subdomain(name)
        names = _dict(spec.get("names"))
        if name != f"{_str(names, 'plural')}.{_str(spec, 'group')}":
            msgs.append('must be spec.names.plural+"."+spec.group')
        out.extend(fe.invalid("metadata.name", name, m) for m in msgs)
    out.extend(_spec_causes(spec))
    if old is not None:
        out.extend(_update_causes(crd, old))
    return out


def is_established(crd: dict[str, Any]) -> bool:
    """Whether the CRD's status has the condition ``Established=True``."""
    for c in (crd.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == "Established" and c.get("status") == "True":
            return True
    return False


def _update_causes(crd: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    spec = crd.get("spec") or {}
    old_spec = old.get("spec") or {}
    immutable = "field is immutable"
    checks = [("spec.group", spec.get("group"), old_spec.get("group"))]
    names, old_names = spec.get("names") or {}, old_spec.get("names") or {}
    checks.append(("spec.names.plural", names.get("plural"), old_names.get("plural")))
    if is_established(old):
        checks.insert(0, ("spec.scope", spec.get("scope"), old_spec.get("scope")))
        checks.insert(1, ("spec.names.kind", names.get("kind"), old_names.get("kind")))
    for path, new_v, old_v in checks:
        if new_v != old_v:
            out.append(fe.invalid(path, new_v, immutable))
    stored = (crd.get("status") or {}).get("storedVersions") or []
    present = {v.get("name") for v in spec.get("versions") or [] if isinstance(v, dict)}
    for i, v in enumerate(stored):
        if v not in present:
            out.append(
                fe.invalid(
                    f"status.storedVersions[{i}]",
                    v,
                    f"missing from spec.versions; {v} was previously a storage version, and must "
                    f"remain in spec.versions until a storage migration ensures no data remains "
                    f"persisted in {v} and removes {v} from status.storedVersions",
                )
            )
    return out
