"""Generate ``opframe/testing/apiserver/builtins/openapi_schemas.json.gz``: the OpenAPI
definitions of every built-in kind the embedded API server serves.

The shape, field descriptions and ``x-kubernetes-*`` annotations of the Kubernetes API are
public facts, published as kube-apiserver's OpenAPI document. The ``kubernetes-validate``
package ships that document's definitions for each release (as JSON Schema: nullable types
as ``["string", "null"]``, ``$ref`` under ``#/$defs/``); this script turns the v1.36
definitions back into OpenAPI form and keeps those the served kinds reach. Run it once after
adding a kind (the ``openapi-gen`` extra installs its input):

    .venv/bin/pip install -e '.[openapi-gen]'
    .venv/bin/python tools/gen_builtin_openapi.py

The server reads the data file and needs neither package at run time.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import kubernetes_validate

from opframe.testing.apiserver.builtins.kinds import BUILTIN_TYPES

OUT = (
    Path(__file__).resolve().parents[1]
    / "opframe/testing/apiserver/builtins/openapi_schemas.json.gz"
)
RELEASE = "v1.36.0-local"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# JSON Schema cannot say these as OpenAPI does (the package writes them as oneOf).
_FIXED = {
    _INT_OR_STRING: {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used "
        "in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type. "
        " This allows you to have, for example, a JSON field that can accept a name or number.",
        "type": "string",
        "format": "int-or-string",
    },
    _QUANTITY: {
        "description": "Quantity is a fixed-point representation of a number. It provides "
        "convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and "
        "AsInt64() accessors.",
        "type": "string",
    },
}


def _openapi(schema: Any, top: bool = False) -> Any:
    if isinstance(schema, list):
        return [_openapi(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, list):
            kinds = [v for v in value if v != "null"]
            out[key] = kinds[0] if len(kinds) == 1 else kinds
        elif key == "$ref" and isinstance(value, str):
            out[key] = value.rsplit("/", 1)[-1]
        elif key == "properties" and isinstance(value, dict):
            props = {k: _openapi(v) for k, v in value.items()}
            if top:
                # The published document names no enum for a kind's apiVersion and kind.
                for name in ("apiVersion", "kind"):
                    if isinstance(props.get(name), dict):
                        props[name].pop("enum", None)
            out[key] = props
        else:
            out[key] = _openapi(value)
    return out


def _refs(schema: Any, out: set[str]) -> None:
    if isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str):
            out.add(schema["$ref"].rsplit("/", 1)[-1])
        for value in schema.values():
            _refs(value, out)
    elif isinstance(schema, list):
        for value in schema:
            _refs(value, out)


def main() -> None:
    source = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / RELEASE
        / "_definitions.json"
    )
    published: dict[str, Any] = json.loads(source.read_text())["$defs"]
    by_gvk: dict[tuple[str, str, str], str] = {}
    for name, schema in published.items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            by_gvk.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    kinds: dict[str, dict[str, str]] = {}
    todo: list[str] = []
    for rt in BUILTIN_TYPES:
        name = by_gvk.get((rt.group, rt.version, rt.kind))
        if name is None:
            print(f"no published definition for {rt.api_version} {rt.kind}")
            continue
        kinds[f"{rt.group}/{rt.version}/{rt.kind}"] = {"definition": name}
        todo.append(name)
    definitions: dict[str, Any] = {}
    while todo:
        name = todo.pop()
        if name in definitions or name not in published:
            continue
        definitions[name] = _FIXED.get(name) or _openapi(published[name], top=True)
        found: set[str] = set()
        _refs(definitions[name], found)
        todo.extend(sorted(found - set(definitions)))
    data = {"release": RELEASE, "definitions": definitions, "kinds": kinds}
    OUT.write_bytes(gzip.compress(json.dumps(data, sort_keys=True).encode(), mtime=0))
    print(f"{OUT}: {len(kinds)} kinds, {len(definitions)} definitions")


if __name__ == "__main__":
    main()
