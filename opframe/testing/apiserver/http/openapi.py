"""``/openapi/v3`` (one document per group version) and ``/openapi/v2`` (one swagger 2.0
document): the OpenAPI documents clients read.

kubectl reads them to decide whether the server validates fields itself (a PATCH operation
with a ``fieldValidation`` query parameter for the kind), to explain a kind's fields and to
validate manifests. Custom resources get their CRD's schema; built-in kinds the real
definitions (:mod:`~opframe.testing.apiserver.builtins.openapi_schemas`), with field
descriptions and the ``x-kubernetes-*`` merge annotations.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from opframe.testing.apiserver.builtins.openapi_schemas import definition_name, definitions_for
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import Registry

__all__ = ["group_version_document", "root_document", "swagger_document"]

_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "description": "ObjectMeta is metadata that all persisted resources must have.",
    "properties": {
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "generateName": {"type": "string", "description": "Prefix for a generated name."},
        "namespace": {"type": "string", "description": "The namespace of the object."},
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Map of string keys and values to organize and select objects.",
        },
        "annotations": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Unstructured key value map stored with a resource.",
        },
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer", "format": "int64"},
        "creationTimestamp": {"type": "string", "format": "date-time"},
        "deletionTimestamp": {"type": "string", "format": "date-time"},
        "managedFields": {"type": "array", "items": {"type": "object"}},
    },
}


def _path_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rt: ResourceType) -> str:
    known = None if rt.custom else definition_name(rt.group, rt.version, rt.kind)
    if known:
        return known
    if rt.custom:
        return ".".join(reversed(rt.group.split("."))) + f".{rt.version}.{rt.kind}"
    group = rt.group.split(".")[0] if rt.group else "core"
    return f"io.k8s.api.{group}.{rt.version}.{rt.kind}"


def _type_schema(rt: ResourceType) -> dict[str, Any]:
    if rt.custom and rt.schema:
        schema = copy.deepcopy(rt.schema)
    else:
        schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation.",
    }
    props["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the REST resource.",
    }
    props["metadata"] = {
        "allOf": [{"$ref": f"#/components/schemas/{_META_REF}"}],
        "description": "Standard object's metadata.",
    }
    schema["x-kubernetes-group-version-kind"] = [
        {"group": rt.group, "kind": rt.kind, "version": rt.version}
    ]
    return schema


def _operations(rt: ResourceType) -> dict[str, dict[str, Any]]:
    gvk = {"group": rt.group, "kind": rt.kind, "version": rt.version}
    ref = {"$ref": f"#/components/schemas/{_schema_name(rt)}"}
    body = {"content": {"application/json": {"schema": ref}}, "required": True}
    answer = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
    query = [
        {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for name in ("dryRun", "fieldManager", "fieldValidation")
    ]
    prefix = "/" + _path_key(rt.group, rt.version)
    collection = (
        f"{prefix}/namespaces/{{namespace}}/{rt.plural}"
        if rt.namespaced
        else (f"{prefix}/{rt.plural}")
    )

    def op(action: str, **extra: Any) -> dict[str, Any]:
        return {
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "responses": answer,
            **extra,
        }

    return {
        collection: {
            "get": op("list"),
            "post": op("post", parameters=query, requestBody=body),
        },
        f"{collection}/{{name}}": {
            "get": op("get"),
            "put": op("put", parameters=query, requestBody=body),
            "patch": op("patch", parameters=[*query, _force()], requestBody=body),
            "delete": op("delete"),
        },
    }


def _force() -> dict[str, Any]:
    return {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": True}}


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any]:
    """The OpenAPI v3 document of one served group version."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {_META_REF: _OBJECT_META}
    known = []
    for rt in registry.resources(group, version):
        paths.update(_operations(rt))
        if not rt.custom and definition_name(rt.group, rt.version, rt.kind):
            known.append(_schema_name(rt))
        else:
            schemas[_schema_name(rt)] = _type_schema(rt)
    schemas.update(definitions_for(known, "#/components/schemas/"))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.36.2"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def root_document(registry: Registry) -> dict[str, Any]:
    """``/openapi/v3``: where each group version's document is, with a content hash."""
    paths = {}
    for group in registry.groups():
        for version in registry.versions(group):
            doc = group_version_document(registry, group, version)
            digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()
            key = _path_key(group, version)
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest.upper()}"}
    return {"paths": paths}


def _v2_schema(schema: Any) -> Any:
    # Swagger 2.0 has no allOf-wrapped references and names them under #/definitions/.
    if isinstance(schema, list):
        return [_v2_schema(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _v2_schema(v) for k, v in schema.items()}
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        del out["allOf"]
        out["$ref"] = all_of[0]["$ref"]
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        out["$ref"] = "#/definitions/" + ref[len("#/components/schemas/") :]
    return out


def _v2_paths(rt: ResourceType) -> dict[str, Any]:
    gvk = {"group": rt.group, "kind": rt.kind, "version": rt.version}
    ref = {"$ref": f"#/definitions/{_schema_name(rt)}"}
    prefix = "/" + _path_key(rt.group, rt.version)
    collection = (
        f"{prefix}/namespaces/{{namespace}}/{rt.plural}"
        if rt.namespaced
        else f"{prefix}/{rt.plural}"
    )
    body = [{"name": "body", "in": "body", "required": True, "schema": ref}]
    query = [
        {"name": n, "in": "query", "type": "string", "uniqueItems": True}
        for n in ("dryRun", "fieldManager", "fieldValidation")
    ]

    def op(action: str, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "operationId": f"{action}{rt.kind}",
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "parameters": params or [],
            "responses": {"200": {"description": "OK", "schema": ref}},
        }

    return {
        collection: {"get": op("list"), "post": op("post", body + query)},
        f"{collection}/{{name}}": {
            "get": op("get"),
            "put": op("put", body + query),
            "patch": op("patch", [*query, _force()]),
            "delete": op("delete"),
        },
    }


def swagger_document(registry: Registry) -> dict[str, Any]:
    """``/openapi/v2``: one swagger 2.0 document with every served kind's definition."""
    definitions: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for group in registry.groups():
        for version in registry.versions(group):
            doc = group_version_document(registry, group, version)
            for name, schema in doc["components"]["schemas"].items():
                definitions.setdefault(name, _v2_schema(schema))
            for rt in registry.resources(group, version):
                for path, item in _v2_paths(rt).items():
                    paths[path] = {
                        verb: {**o, "parameters": [_v2_schema(p) for p in o["parameters"]]}
                        for verb, o in item.items()
                    }
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.36.2"},
        "paths": paths,
        "definitions": definitions,
    }
