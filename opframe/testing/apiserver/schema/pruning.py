"""Pruning: drop every field of a custom resource that its structural schema does not declare.

The real server prunes while decoding the request body, before defaulting and validation, and
reports each dropped field as ``unknown field "spec.foo"``: in a ``Warning`` header (the default
``fieldValidation=Warn``), as a ``400 BadRequest`` (``Strict``), or not at all (``Ignore``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from opframe.testing.apiserver.errors import StatusError, bad_request
from opframe.testing.apiserver.schema.nodes import Node, compile_schema

__all__ = ["OBJECT_META_FIELDS", "prune", "strict_error", "unknown_field_warnings"]

#: The fields of ``metav1.ObjectMeta``; anything else in a CR's metadata is dropped.
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _prune_meta(meta: Any, path: str, out: list[str]) -> None:
    if not isinstance(meta, dict):
        return
    for k in [k for k in meta if k not in OBJECT_META_FIELDS]:
        del meta[k]
        out.append(_join(path, k))


class _Pruner:
    """One pruning pass; collects schema-pruned paths and embedded-metadata paths apart."""

    def __init__(self) -> None:
        self.pruned: list[str] = []
        self.meta: list[str] = []

    def prune(self, x: Any, s: Node | None, path: str) -> None:
        if s is not None and s.preserve_unknown:
            self.skip(x, s, path)
            return
        if isinstance(x, dict):
            if s is None:
                for k in list(x):
                    self.pruned.append(_join(path, k))
                    del x[k]
                return
            for k, v, child in self.fields(x, s, path):
                if child is not None:
                    if type(v) is dict or type(v) is list:
                        self.prune(v, child, _join(path, k))
                elif s.additional_present and s.additional_allows:
                    # additionalProperties: true keeps the value as it is.
                    continue
                else:
                    self.pruned.append(_join(path, k))
                    del x[k]
        elif isinstance(x, list):
            items = s.items if s is not None else None
            for i, v in enumerate(x):
                if type(v) is dict or type(v) is list:
                    self.prune(v, items, f"{path}[{i}]")

    def skip(self, x: Any, s: Node, path: str) -> None:
        """Inside ``x-kubernetes-preserve-unknown-fields``: prune only below declared fields."""
        if isinstance(x, dict):
            for k, v, child in self.fields(x, s, path):
                if child is not None:
                    self.prune(v, child, _join(path, k))
        elif isinstance(x, list) and s.items is not None:
            for i, v in enumerate(x):
                self.skip(v, s.items, f"{path}[{i}]")

    def fields(
        self, x: dict[str, Any], s: Node, path: str
    ) -> Iterator[tuple[str, Any, Node | None]]:
        """Each field of ``x`` with the schema that declares it (a property, else
        ``additionalProperties``, else None); an embedded resource's kept metadata is left out.
        The caller may delete the field it is given."""
        for k in list(x):
            v = x[k]
            if s.embedded and self.keep_meta(k, v, path):
                continue
            prop = s.properties.get(k)
            yield k, v, (prop if prop is not None else s.additional)

    def keep_meta(self, k: str, v: Any, path: str) -> bool:
        # An embedded resource keeps apiVersion, kind and metadata whatever its schema says;
        # its metadata is coerced to ObjectMeta's fields.
        if k in ("apiVersion", "kind"):
            return isinstance(v, str)
        if k == "metadata" and isinstance(v, dict):
            if path:
                _prune_meta(v, _join(path, "metadata"), self.meta)
            return True
        return False


def prune(obj: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Remove from ``obj``, in place, every field ``schema`` does not declare.

    Returns the removed paths in the order the real server reports them: unknown fields of
    ``metadata`` first, then the schema-pruned paths sorted, then unknown fields of the
    metadata of embedded resources. ``apiVersion``, ``kind`` and ``metadata`` at the root are
    never pruned by the schema; ``metadata`` keeps only ObjectMeta's fields.
    ``x-kubernetes-preserve-unknown-fields`` keeps a subtree (still pruning below the fields it
    declares), ``additionalProperties`` keeps any key with its value pruned by that schema.
    """
    node = compile_schema(schema)
    meta: list[str] = []
    _prune_meta(obj.get("metadata"), "metadata", meta)
    pruner = _Pruner()
    root = node
    if not root.embedded:
        # The resource root behaves as an embedded resource: type and object meta are kept.
        root = dataclasses.replace(node, embedded=True)
    pruner.prune(obj, root, "")
    pruner.pruned.sort()
    return meta + pruner.pruned + pruner.meta


def unknown_field_warnings(paths: list[str]) -> list[str]:
    """The ``Warning`` header values for pruned paths: ``299 - "unknown field \\"spec.x\\""``.

    Several warnings go into one header joined with ``", "`` (as the transcripts show them).
    """
    out = []
    for p in paths:
        text = f'unknown field "{p}"'.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'299 - "{text}"')
    return out


def strict_error(kind: str, version: str, paths: list[str]) -> StatusError:
    """The ``400 BadRequest`` that ``fieldValidation=Strict`` answers for unknown fields.

    ``Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown
    field "spec.bogus"`` (several fields are joined with ``", "``).
    """
    errors = ", ".join(f'unknown field "{p}"' for p in paths)
    return bad_request(
        f'{kind} in version "{version}" cannot be handled as a {kind}: '
        f"strict decoding error: {errors}"
    )
