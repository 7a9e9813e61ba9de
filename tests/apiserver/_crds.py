"""CustomResourceDefinition bodies for the tests: any kind with :func:`crd`, and the one most
API server tests install, ``gizmos.example.com`` (:func:`gizmo_crd`)."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from opframe.testing import eventually

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
#: A schema that keeps every field (no pruning).
OPEN = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
#: A schema that only says "an object" (unknown fields are pruned).
OBJECT = {"openAPIV3Schema": {"type": "object"}}


def spec_schema(**properties: Any) -> dict[str, Any]:
    """A version's schema: an object whose ``spec`` has ``properties``."""
    spec = {"type": "object", "properties": properties}
    return {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}}


def crd(
    group: str,
    kind: str,
    *versions: str,
    plural: str = "",
    singular: str = "",
    schema: dict[str, Any] = OPEN,
    scope: str = "Namespaced",
    **spec: Any,
) -> dict[str, Any]:
    """The CRD of ``kind`` in ``group`` (plural: ``kind`` lower-cased plus ``s``): each of
    ``versions`` (default ``v1``) served with ``schema``, the first one stored; ``spec`` adds
    fields (``conversion``)."""
    plural = plural or kind.lower() + "s"
    names = {"plural": plural, "kind": kind} | ({"singular": singular} if singular else {})
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": names,
            "versions": [
                {"name": v, "served": True, "storage": i == 0, "schema": schema}
                for i, v in enumerate(versions or ("v1",))
            ],
            **spec,
        },
    }


def gizmo_crd(*versions: str, **options: Any) -> dict[str, Any]:
    """The CRD of kind ``Gizmo`` in ``example.com`` (``options`` as :func:`crd` takes them)."""
    return crd("example.com", "Gizmo", *versions, **options)


async def create_established(api: client.ApiClient, body: dict[str, Any], deadline: float) -> None:
    """Create the CRD ``body`` with kubernetes_asyncio; return once it is ``Established``."""
    ext = client.ApiextensionsV1Api(api)
    name = body["metadata"]["name"]
    await ext.create_custom_resource_definition(body)

    async def established() -> bool:
        got = await ext.read_custom_resource_definition(name)
        conditions = (got.status.conditions or []) if got.status else []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    await eventually(established, timeout=deadline, message=f"CRD {name} Established")
