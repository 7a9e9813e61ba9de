"""Generate ``opframe/testing/apiserver/builtins/openapi_schemas.json.gz``: the OpenAPI
definitions of every built-in kind the embedded API server serves.

The shape and the field descriptions of the Kubernetes API are public facts; the generated
models of the ``kubernetes_asyncio`` client carry them (``openapi_types``, ``attribute_map``,
the property docstrings, the setters that refuse ``None`` for required fields). The merge
annotations (``x-kubernetes-patch-merge-key`` ...) come from our own description of how each
kind merges (:mod:`opframe.testing.apiserver.merge.strategic`). Run once after adding a kind:

    .venv/bin/python tools/gen_builtin_openapi.py

The server reads the data file and never imports the client for it.
"""

from __future__ import annotations

import gzip
import inspect
import json
import re
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import models

from opframe.testing.apiserver.builtins.kinds import BUILTIN_TYPES
from opframe.testing.apiserver.merge.strategic import Node, builtin_node

OUT = (
    Path(__file__).resolve().parents[1]
    / "opframe/testing/apiserver/builtins/openapi_schemas.json.gz"
)

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
# Types of k8s.io/apimachinery; the rest live in the package of the first kind reaching them.
_APIMACHINERY = {
    "ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "OwnerReference",
    "ManagedFieldsEntry", "Condition", "Status", "StatusDetails", "StatusCause",
    "DeleteOptions", "Preconditions",
}  # fmt: skip
_PACKAGES = {
    "": "io.k8s.api.core",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
}
_INT_OR_STRING = {
    "port",
    "target_port",
    "max_surge",
    "max_unavailable",
    "min_available",
    "partition",
}
_TIME = {"type": "string", "format": "date-time"}
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def _package(group: str) -> str:
    if group in _PACKAGES:
        return _PACKAGES[group]
    return "io.k8s.api." + group.split(".")[0]


def _description(cls: type, attr: str) -> str:
    prop = getattr(cls, attr, None)
    doc = inspect.getdoc(prop.fget) if isinstance(prop, property) and prop.fget else ""
    lines = (doc or "").split("\n")
    body = [ln for ln in lines[1:] if not ln.startswith(":")]
    text = "\n".join(body).strip()
    return re.sub(r"\s*# noqa: E501", "", text).strip()


def _required(cls: type, attr: str) -> bool:
    prop = getattr(cls, attr, None)
    if not isinstance(prop, property) or prop.fset is None:
        return False
    try:
        source = inspect.getsource(prop.fset)
    except OSError:
        return False
    return "must not be `None`" in source


class _Builder:
    def __init__(self) -> None:
        self.definitions: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}

    def name_of(self, cls_name: str, package: str) -> str:
        if cls_name not in self.names:
            match = re.match(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)(.*)$", cls_name)
            assert match is not None, cls_name
            prefix, version, kind = match.groups()
            if prefix and prefix not in ("Core",):
                # Disambiguated client names (RbacV1Subject): the prefix names the package.
                package = "io.k8s.api." + prefix.lower()
            elif prefix == "Core":
                package = "io.k8s.api.core"
            if kind in _APIMACHINERY:
                self.names[cls_name] = _META + kind
            else:
                self.names[cls_name] = f"{package}.{version.lower()}.{kind}"
        return self.names[cls_name]

    def type_schema(
        self, type_str: str, package: str, attr: str, node: Node | None
    ) -> dict[str, Any]:
        if type_str.startswith("list["):
            item = self.type_schema(type_str[5:-1], package, attr, node.item() if node else None)
            return {"type": "array", "items": item}
        if type_str.startswith("dict("):
            value = type_str[5:-1].split(", ", 1)[1]
            if value == "str" and attr in (
                "limits",
                "requests",
                "capacity",
                "allocatable",
                "hard",
                "used",
                "max",
                "min",
                "default",
                "default_request",
                "max_limit_request_ratio",
            ):
                return {"type": "object", "additionalProperties": {"$ref": _QUANTITY}}
            return {
                "type": "object",
                "additionalProperties": self.type_schema(value, package, attr, None),
            }
        if type_str == "str":
            return {"type": "string"}
        if type_str == "int":
            return {"type": "integer", "format": "int32"}
        if type_str == "float":
            return {"type": "number", "format": "double"}
        if type_str == "bool":
            return {"type": "boolean"}
        if type_str == "datetime":
            return {"$ref": _META + "Time"}
        if type_str == "object":
            if attr in _INT_OR_STRING:
                return {"$ref": "io.k8s.apimachinery.pkg.util.intstr.IntOrString"}
            return {"type": "object"}
        return {"$ref": self.model(type_str, package, node)}

    def model(self, cls_name: str, package: str, node: Node | None) -> str:
        name = self.name_of(cls_name, package)
        if name in self.definitions:
            return name
        cls = getattr(models, cls_name)
        schema: dict[str, Any] = {"type": "object", "properties": {}}
        self.definitions[name] = schema
        own_package = name.rsplit(".", 2)[0] if not name.startswith(_META) else package
        required = []
        for attr, type_str in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            child = node.child(json_name) if node is not None and node.declares(json_name) else None
            prop = self.type_schema(type_str, own_package, attr, child)
            description = _description(cls, attr)
            if description:
                prop["description"] = description
            if child is not None:
                _annotate(prop, child)
            schema["properties"][json_name] = prop
            if _required(cls, attr):
                required.append(json_name)
        if required:
            schema["required"] = required
        if node is not None and node.atomic:
            schema["x-kubernetes-map-type"] = "atomic"
        return name


def _annotate(prop: dict[str, Any], node: Node) -> None:
    if node.kind == "list":
        if node.merge_key:
            prop["x-kubernetes-patch-merge-key"] = node.merge_key
        strategy = ",".join(s for s in ("merge", "retainKeys") if s in node.strategy)
        if strategy:
            prop["x-kubernetes-patch-strategy"] = strategy
        prop["x-kubernetes-list-type"] = node.list_type
        if node.list_type == "map":
            prop["x-kubernetes-list-map-keys"] = list(node.keys)
    elif node.kind == "map" and node.atomic:
        prop["x-kubernetes-map-type"] = "atomic"
    elif "retainKeys" in node.strategy:
        prop["x-kubernetes-patch-strategy"] = "retainKeys"


def _fixed(defs: dict[str, Any]) -> None:
    defs["io.k8s.apimachinery.pkg.apis.meta.v1.Time"] = {
        "description": "Time is a wrapper around time.Time which supports correct marshaling to "
        "YAML and JSON.  Wrappers are provided for many of the factory methods that the time "
        "package offers.",
        **_TIME,
    }
    defs[_QUANTITY] = {
        "description": "Quantity is a fixed-point representation of a number. It provides "
        "convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and "
        "AsInt64() accessors.",
        "type": "string",
    }
    defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in "
        "JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  "
        "This allows you to have, for example, a JSON field that can accept a name or number.",
        "type": "string",
        "format": "int-or-string",
    }


def main() -> None:
    builder = _Builder()
    kinds: dict[str, dict[str, Any]] = {}
    ordered = sorted(BUILTIN_TYPES, key=lambda rt: rt.group != "")
    for rt in ordered:
        cls_name = rt.version.capitalize() + rt.kind
        if rt.group == "apiextensions.k8s.io":
            cls_name = "V1CustomResourceDefinition"
        if not hasattr(models, cls_name):
            # The client names clashing kinds after their package (CoreV1Event).
            prefix = (rt.group or "core").split(".")[0].capitalize()
            cls_name = prefix + cls_name
        if not hasattr(models, cls_name):
            continue
        package = _package(rt.group)
        builder.names[cls_name] = f"{package}.{rt.version}.{rt.kind}"
        name = builder.model(cls_name, package, builtin_node(rt.group, rt.kind))
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        builder.definitions[name]["x-kubernetes-group-version-kind"] = [gvk]
        kinds[f"{rt.group}/{rt.version}/{rt.kind}"] = {"definition": name}
    _fixed(builder.definitions)
    data = {"definitions": builder.definitions, "kinds": kinds}
    OUT.write_bytes(gzip.compress(json.dumps(data, sort_keys=True).encode(), mtime=0))
    print(f"{OUT}: {len(kinds)} kinds, {len(builder.definitions)} definitions")


if __name__ == "__main__":
    main()
