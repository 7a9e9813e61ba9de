"""The CustomResourceDefinition most API server tests install: ``gizmos.example.com``."""

from __future__ import annotations

from typing import Any

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
#: A schema that keeps every field (no pruning).
OPEN = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
#: A schema that only says "an object" (unknown fields are pruned).
OBJECT = {"openAPIV3Schema": {"type": "object"}}


def gizmo_crd(
    *versions: str, schema: dict[str, Any] = OPEN, scope: str = "Namespaced", **spec: Any
) -> dict[str, Any]:
    """The CRD of kind ``Gizmo`` in ``example.com``: each of ``versions`` (default ``v1``)
    served with ``schema``, the first one stored; ``spec`` adds fields (``conversion``)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.example.com"},
        "spec": {
            "group": "example.com",
            "scope": scope,
            "names": {"plural": "gizmos", "kind": "Gizmo"},
            "versions": [
                {"name": v, "served": True, "storage": i == 0, "schema": schema}
                for i, v in enumerate(versions or ("v1",))
            ],
            **spec,
        },
    }
