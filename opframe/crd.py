"""CustomResourceDefinitions generated from :class:`~opframe.resource.Resource` models.

The output is an ``apiextensions.k8s.io/v1`` CRD with a structural OpenAPI v3 schema, the
kind a real kube-apiserver accepts::

    print(crd_yaml(EtcdCluster))

- types: ``str``/``int``/``float``/``bool``, ``datetime`` (``format: date-time``), ``Literal``
  and ``Enum`` (``enum``), ``int | str`` (``x-kubernetes-int-or-string``), ``list[X]``,
  ``set[X]`` (a list of type ``set``), ``dict[str, X]`` (``additionalProperties``), nested
  models (inlined); ``X | None`` is ``nullable``; fields without a default are ``required``;
- pydantic constraints (``ge``, ``gt``, ``le``, ``lt``, ``multiple_of``, ``min_length``,
  ``max_length``, ``pattern``) become schema constraints, defaults become ``default``, and
  field descriptions (``Field(description=...)`` or an attribute docstring) and model
  docstrings become ``description``;
- markers in ``typing.Annotated``: :class:`PreserveUnknownFields`, :class:`EmbeddedResource`,
  :class:`ListType`, :class:`MapType`, :class:`Validation` (CEL), :class:`PrinterColumn`;
- class keywords of the resource: ``printer_columns``, ``scale`` (:class:`Scale`),
  ``validations``, ``served``/``storage``/``deprecated``, short names and categories.

What a structural schema cannot express (a recursive model, a union of different types, a
bare ``Any`` without :class:`PreserveUnknownFields`) raises :class:`~opframe.errors.SchemaError`
naming the model and the field.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import yaml

from opframe._markers import (
    AGE_COLUMN,
    EmbeddedResource,
    ListType,
    MapType,
    PreserveUnknownFields,
    PrinterColumn,
    Scale,
    Validation,
)
from opframe._schema_gen import FieldColumn, SchemaBuilder, model_description
from opframe.errors import SchemaError
from opframe.resource import Resource, ResourceInfo

if TYPE_CHECKING:
    from opframe.client import Client
    from opframe.webhook.configuration import ClientConfig

__all__ = [
    "AGE_COLUMN",
    "EmbeddedResource",
    "ListType",
    "MapType",
    "PreserveUnknownFields",
    "PrinterColumn",
    "Scale",
    "Validation",
    "crd_for",
    "crd_yaml",
    "crds_for",
    "install_crds",
    "schema_for",
]

_API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values."
)
_KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. In CamelCase."
)
_TYPE_META = ("api_version", "kind", "metadata")


def schema_for(model: type[Resource]) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of one resource version.

    Raises:
        SchemaError: the model has a construct a structural schema cannot express.
    """
    return _version(model)["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def crd_for(*models: type[Resource], conversion: ClientConfig | None = None) -> dict[str, Any]:
    """The CRD serving ``models``: one kind, one model per version.

    Versions are listed newest first (``v1``, ``v1beta1``, ``v1alpha1``), as Kubernetes
    orders them; exactly one must be the storage version. With ``conversion`` (where the
    API server reaches the :class:`~opframe.webhook.ConversionWebhook`) a CRD of several
    versions gets ``spec.conversion.strategy: Webhook`` (``conversionReviewVersions: [v1]``,
    path ``/convert``); a CRD of one version needs no conversion and gets none.

    Raises:
        SchemaError: the models are not versions of one kind, their names or scope disagree,
            there is not exactly one storage version, or a schema cannot be expressed.
    """
    if not models:
        raise TypeError("crd_for() needs at least one Resource class")
    first = _info(models[0])
    for model in models[1:]:
        info = _info(model)
        if (info.group, info.kind) != (first.group, first.kind):
            raise SchemaError(
                f"{model.__name__} is {info.group}/{info.kind}, not {first.group}/{first.kind}: "
                "one CRD serves one kind; use crds_for() for several kinds"
            )
        for attr in ("plural", "singular", "namespaced", "short_names", "categories"):
            if getattr(info, attr) != getattr(first, attr):
                raise SchemaError(
                    f"{model.__name__} and {models[0].__name__} disagree on {attr} "
                    f"({getattr(info, attr)!r} vs {getattr(first, attr)!r}); every version of "
                    "a kind shares its names and scope"
                )
    versions = [_info(m).version for m in models]
    duplicates = sorted({v for v in versions if versions.count(v) > 1})
    if duplicates:
        raise SchemaError(f"{first.kind}: version(s) {', '.join(duplicates)} declared twice")
    storage = [m.__name__ for m in models if _info(m).storage]
    if len(storage) != 1:
        raise SchemaError(
            f"{first.kind}: exactly one version must be the storage version, found "
            f"{len(storage)} ({', '.join(storage) or 'none'}); pass storage=False on the others"
        )
    _check_group(first, models[0])
    names: dict[str, Any] = {
        "kind": first.kind,
        "listKind": first.list_kind,
        "plural": first.plural,
        "singular": first.singular,
    }
    if first.short_names:
        names["shortNames"] = list(first.short_names)
    if first.categories:
        names["categories"] = list(first.categories)
    ordered = sorted(models, key=lambda m: _version_priority(_info(m).version))
    spec: dict[str, Any] = {
        "group": first.group,
        "names": names,
        "scope": first.scope,
        "versions": [_version(m) for m in ordered],
    }
    if conversion is not None and len(models) > 1:
        from opframe.webhook.configuration import crd_conversion

        spec["conversion"] = crd_conversion(conversion)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": first.crd_name},
        "spec": spec,
    }


def crds_for(
    *models: type[Resource], conversion: ClientConfig | None = None
) -> list[dict[str, Any]]:
    """One CRD per kind among ``models`` (versions of a kind merged), in first-seen order.

    ``conversion`` is passed to :func:`crd_for` for each.
    """
    by_kind: dict[tuple[str, str], list[type[Resource]]] = {}
    for model in models:
        info = _info(model)
        group = by_kind.setdefault((info.group, info.kind), [])
        if model not in group:
            group.append(model)
    return [crd_for(*group, conversion=conversion) for group in by_kind.values()]


def crd_yaml(*models: type[Resource], conversion: ClientConfig | None = None) -> str:
    """The CRDs of ``models`` as YAML, one document per CRD, each starting with ``---``."""
    return dump_yaml(crds_for(*models, conversion=conversion))


def dump_yaml(documents: Iterable[dict[str, Any]]) -> str:
    """Documents as multi-document YAML, keys in the order they were built."""
    return "".join(
        "---\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100)
        for doc in documents
    )


def _info(model: type[Resource]) -> ResourceInfo:
    info: ResourceInfo | None = getattr(model, "__resource__", None)
    if not (isinstance(model, type) and issubclass(model, Resource)) or info is None:
        raise SchemaError(f"{getattr(model, '__name__', model)!r} is not a declared Resource class")
    if info.builtin:
        raise SchemaError(
            f"{model.__name__} is the built-in kind {info.api_version} {info.kind}; "
            "the API server serves it, there is no CRD to generate"
        )
    return info


def _check_group(info: ResourceInfo, model: type[Resource]) -> None:
    # The API server requires a CRD group to be a DNS subdomain with at least one dot.
    label = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    if not re.fullmatch(rf"{label}(\.{label})+", info.group):
        raise SchemaError(
            f"{model.__name__}: group {info.group!r} must be a DNS subdomain with at least one "
            "dot, such as 'example.com'"
        )


def _version(model: type[Resource]) -> dict[str, Any]:
    info = _info(model)
    builder = SchemaBuilder(model.__name__)
    schema = builder.model_schema(model, skip=_TYPE_META)
    properties = {
        "apiVersion": {"description": _API_VERSION_DESCRIPTION, "type": "string"},
        "kind": {"description": _KIND_DESCRIPTION, "type": "string"},
        "metadata": {"type": "object"},
        **schema.get("properties", {}),
    }
    root: dict[str, Any] = {}
    description = model_description(model)
    if description:
        root["description"] = description
    root["type"] = "object"
    root["properties"] = properties
    if "required" in schema:
        root["required"] = schema["required"]
    rules = [
        *schema.get("x-kubernetes-validations", []),
        *(v.to_schema() for v in info.validations),
    ]
    if rules:
        root["x-kubernetes-validations"] = rules
    version: dict[str, Any] = {"name": info.version, "served": info.served, "storage": info.storage}
    if info.deprecated:
        version["deprecated"] = True
        if info.deprecation_warning:
            version["deprecationWarning"] = info.deprecation_warning
    columns = [_field_column(c) for c in builder.columns]
    columns += [_class_column(c, root, model) for c in info.printer_columns]
    if columns:
        version["additionalPrinterColumns"] = columns
    version["schema"] = {"openAPIV3Schema": root}
    subresources: dict[str, Any] = {}
    if info.status_subresource:
        if "status" not in properties:
            raise SchemaError(f"{model.__name__}: a status subresource needs a 'status' field")
        subresources["status"] = {}
    if info.scale is not None:
        _check_scale(info.scale, root, model)
        subresources["scale"] = info.scale.to_schema()
    if subresources:
        version["subresources"] = subresources
    return version


def _column(column: PrinterColumn, json_path: str, type_: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": column.name, "type": type_, "jsonPath": json_path}
    optional = {
        "format": column.format,
        "description": column.description,
        "priority": column.priority,
    }
    out.update((k, v) for k, v in optional.items() if v)  # omitempty
    return out


def _field_column(found: FieldColumn) -> dict[str, Any]:
    return _column(found.column, found.json_path, found.column.type or _column_type(found.schema))


def _class_column(
    column: PrinterColumn, root: dict[str, Any], model: type[Resource]
) -> dict[str, Any]:
    if column.json_path is None:
        raise SchemaError(f"{model.__name__}: printer column {column.name!r} needs a json_path")
    if column.type is not None:
        return _column(column, column.json_path, column.type)
    node = _resolve(root, column.json_path)
    if node is None:
        raise SchemaError(
            f"{model.__name__}: printer column {column.name!r} path {column.json_path!r} "
            "is not in the schema; give its type=... explicitly"
        )
    return _column(column, column.json_path, _column_type(node))


def _column_type(node: dict[str, Any]) -> str:
    if node.get("format") == "date-time":
        return "date"
    kind = node.get("type")
    return kind if kind in ("integer", "number", "boolean", "string") else "string"


def _resolve(root: dict[str, Any], json_path: str) -> dict[str, Any] | None:
    """The schema node at a simple JSON path such as ``.spec.size``, if there is one."""
    if json_path == ".metadata.creationTimestamp":
        return {"type": "string", "format": "date-time"}
    if not re.fullmatch(r"(\.[A-Za-z0-9_-]+)+", json_path):
        return None
    node: dict[str, Any] | None = root
    for step in json_path.split(".")[1:]:
        node = (node or {}).get("properties", {}).get(step)
        if node is None:
            return None
    return node


def _check_scale(scale: Scale, root: dict[str, Any], model: type[Resource]) -> None:
    where = f"{model.__name__}: scale subresource"
    spec_node = _resolve(root, scale.spec_replicas_path)
    if not scale.spec_replicas_path.startswith(".spec.") or spec_node is None:
        raise SchemaError(
            f"{where}: spec_replicas_path {scale.spec_replicas_path!r} "
            "must name a field under .spec"
        )
    if spec_node.get("type") != "integer":
        raise SchemaError(f"{where}: {scale.spec_replicas_path} must be an integer field")
    if not scale.status_replicas_path.startswith(".status."):
        raise SchemaError(
            f"{where}: status_replicas_path {scale.status_replicas_path!r} must be under .status"
        )
    status_node = _resolve(root, scale.status_replicas_path)
    if status_node is not None and status_node.get("type") != "integer":
        raise SchemaError(f"{where}: {scale.status_replicas_path} must be an integer field")
    path = scale.label_selector_path
    if path is not None and not path.startswith((".spec.", ".status.")):
        raise SchemaError(f"{where}: label_selector_path {path!r} must be under .spec or .status")


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def _version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting versions in Kubernetes priority order: GA, beta, alpha, then others."""
    match = _VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


_CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


async def install_crds(
    client: Client,
    *models: type[Resource],
    field_manager: str = "opframe",
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for the whole install
) -> list[str]:
    """Install (or update) the CRDs of ``models`` and wait until each is ``Established``.

    Server-side apply makes this idempotent: running it again with changed models updates
    the CRDs. Returns the CRD names. Raises ``TimeoutError`` naming the CRD that did not
    become Established within ``timeout`` seconds::

        await install_crds(client, EtcdCluster)
    """
    names: list[str] = []
    for crd in crds_for(*models):
        name = crd["metadata"]["name"]
        await client.request(
            "PATCH",
            f"{_CRD_PATH}/{name}",
            params={"fieldManager": field_manager, "force": "true"},
            body=crd,
            content_type="application/apply-patch+yaml",
        )
        names.append(name)
    async with asyncio.timeout(timeout):
        for name in names:
            delay = 0.02
            while not await _established(client, name):
                # The server sets the condition asynchronously; back off gently until it does.
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
    return names


async def _established(client: Client, name: str) -> bool:
    body = await client.request("GET", f"{_CRD_PATH}/{name}")
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
