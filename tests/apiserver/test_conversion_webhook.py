"""CRDs with ``spec.conversion.strategy: Webhook``: every read and write through a version
other than the stored one goes through a ConversionReview v1 to the CRD's webhook.

Rules from ``apiextensions-apiserver/pkg/apiserver/conversion/webhook_converter.go``; the
webhook is a real HTTPS server on 127.0.0.1 (``_webhook_server``), the clients are
opframe.Client and kubectl.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from _kubectl import KUBECTL, kubectl_ok

from opframe import Client
from opframe.errors import ApiError
from opframe.testing import eventually
from opframe.testing.apiserver import ApiServer
from tests.apiserver._crds import CRDS, gizmo_crd
from tests.apiserver._webhook_server import WebhookServer

V1 = "/apis/example.com/v1/namespaces/default/gizmos"
V2 = "/apis/example.com/v2/namespaces/default/gizmos"


def convert_gizmo(obj: dict[str, Any], desired: str) -> dict[str, Any]:
    """v1 has ``spec.size`` (a string), v2 ``spec.dimension`` (the same value)."""
    out = json.loads(json.dumps(obj))
    spec = out.get("spec") or {}
    if desired.endswith("/v2") and "size" in spec:
        spec["dimension"] = spec.pop("size")
    if desired.endswith("/v1") and "dimension" in spec:
        spec["size"] = spec.pop("dimension")
    out["apiVersion"] = desired
    return out


def converting(
    convert: Callable[[dict[str, Any], str], dict[str, Any]] = convert_gizmo,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def handler(review: dict[str, Any]) -> dict[str, Any]:
        req = review["request"]
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "response": {
                "uid": req["uid"],
                "result": {"status": "Success"},
                "convertedObjects": [convert(o, req["desiredAPIVersion"]) for o in req["objects"]],
            },
        }

    return handler


async def _install_crd(client: Client, hooks: WebhookServer, url: str) -> None:
    conversion = {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {"url": url, "caBundle": hooks.ca_bundle},
            "conversionReviewVersions": ["v1"],
        },
    }
    crd = gizmo_crd("v1", "v2", conversion=conversion)
    await client.request("POST", CRDS, body=crd)

    await eventually(lambda: client.request("GET", V2), timeout=30, retry_on=(ApiError,))


def _gizmo(version: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"example.com/{version}",
        "kind": "Gizmo",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


async def test_objects_are_read_and_written_through_both_versions(
    client: Client, hooks: WebhookServer
) -> None:
    """A write through v2 is converted to the storage version v1 before it is stored, a read
    through v2 converts back; reads through the storage version call no webhook
    (webhook_converter.go Convert: only objects not at the desired version are sent)."""
    await _install_crd(client, hooks, hooks.handle("/convert", converting()))
    created = await client.request("POST", V2, body=_gizmo("v2", "g", dimension="big"))
    assert (created["apiVersion"], created["spec"]) == ("example.com/v2", {"dimension": "big"})
    stored = await client.request("GET", f"{V1}/g")
    assert (stored["apiVersion"], stored["spec"]) == ("example.com/v1", {"size": "big"})
    sent = len(hooks.received)
    await client.request("GET", f"{V1}/g")
    assert len(hooks.received) == sent
    through_v2 = await client.request("GET", f"{V2}/g")
    assert (through_v2["apiVersion"], through_v2["spec"]) == (
        "example.com/v2",
        {"dimension": "big"},
    )
    [last] = [r for _, _, r in hooks.received[sent:]]
    req = last["request"]
    assert (last["apiVersion"], last["kind"]) == ("apiextensions.k8s.io/v1", "ConversionReview")
    assert req["desiredAPIVersion"] == "example.com/v2" and req["uid"]
    assert [o["apiVersion"] for o in req["objects"]] == ["example.com/v1"]

    through_v2["spec"]["dimension"] = "small"
    updated = await client.request("PUT", f"{V2}/g", body=through_v2)
    assert updated["spec"] == {"dimension": "small"}
    assert (await client.request("GET", f"{V1}/g"))["spec"] == {"size": "small"}
    patched = await client.request(
        "PATCH", f"{V2}/g", body={"spec": {"dimension": "tiny"}},
        content_type="application/merge-patch+json",
    )  # fmt: skip
    assert patched["spec"] == {"dimension": "tiny"}
    assert (await client.request("GET", f"{V1}/g"))["spec"] == {"size": "tiny"}


async def test_a_list_is_converted_in_one_review(client: Client, hooks: WebhookServer) -> None:
    """A list sends all its objects to convert in one ConversionReview (webhook_converter.go:
    an UnstructuredList is converted as a whole)."""
    await _install_crd(client, hooks, hooks.handle("/convert", converting()))
    for name in ("a", "b", "c"):
        await client.request("POST", V1, body=_gizmo("v1", name, size=name))
    sent = len(hooks.received)
    listed = await client.request("GET", V2)
    assert [(i["apiVersion"], i["spec"]) for i in listed["items"]] == [
        ("example.com/v2", {"dimension": n}) for n in ("a", "b", "c")
    ]
    [review] = [r for _, _, r in hooks.received[sent:]]
    assert len(review["request"]["objects"]) == 3


async def test_a_watch_through_another_version_sends_converted_objects(
    client: Client, hooks: WebhookServer
) -> None:
    """Watch events are converted too, the initial ones and the later ones."""
    await _install_crd(client, hooks, hooks.handle("/convert", converting()))
    await client.request("POST", V1, body=_gizmo("v1", "before", size="1"))
    events: list[dict[str, Any]] = []
    async with (
        asyncio.timeout(60),
        client.stream("GET", V2, params={"watch": "true"}) as lines,
    ):
        async for event in lines:
            events.append(event)
            if len(events) == 1:
                await client.request("POST", V1, body=_gizmo("v1", "after", size="2"))
            if len(events) == 2:
                break
    assert [(e["type"], e["object"]["apiVersion"], e["object"]["spec"]) for e in events] == [
        ("ADDED", "example.com/v2", {"dimension": "1"}),
        ("ADDED", "example.com/v2", {"dimension": "2"}),
    ]


async def test_metadata_changes_beyond_labels_and_annotations_are_dropped(
    client: Client, hooks: WebhookServer
) -> None:
    """Of the converted metadata only labels and annotations are kept (webhook_converter.go
    restoreObjectMeta)."""

    def meddling(obj: dict[str, Any], desired: str) -> dict[str, Any]:
        out = convert_gizmo(obj, desired)
        out["metadata"]["labels"] = {"converted": "yes"}
        out["metadata"]["finalizers"] = ["example.com/sneaky"]
        return out

    await _install_crd(client, hooks, hooks.handle("/convert", converting(meddling)))
    await client.request("POST", V1, body=_gizmo("v1", "m", size="1"))
    read = await client.request("GET", f"{V2}/m")
    assert read["metadata"]["labels"] == {"converted": "yes"}
    assert "finalizers" not in read["metadata"]


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        (lambda o, d: dict(convert_gizmo(o, d), apiVersion="example.com/v1"),
         "returned invalid object at index 0: invalid groupVersion (expected example.com/v2, "
         "received example.com/v1)"),
        (lambda o, d: dict(convert_gizmo(o, d), metadata=dict(o["metadata"], name="other")),
         "returned invalid object: must have the same name: m != other"),
    ],
)  # fmt: skip
async def test_an_invalid_conversion_is_a_server_error(
    client: Client,
    hooks: WebhookServer,
    broken: Callable[[dict[str, Any], str], dict[str, Any]],
    why: str,
) -> None:
    """A converted object at the wrong version or naming another object fails the read with
    ``conversion webhook for <gvk> ...`` (webhook_converter.go validateConvertedObject)."""
    await _install_crd(client, hooks, hooks.handle("/convert", converting(broken)))
    await client.request("POST", V1, body=_gizmo("v1", "m", size="1"))
    with pytest.raises(ApiError) as err:
        await client.request("GET", f"{V2}/m")
    assert err.value.status == 500
    assert err.value.message == f"conversion webhook for example.com/v1, Kind=Gizmo {why}"


async def test_a_failed_conversion_refuses_the_write_and_a_down_webhook_the_read(
    client: Client, hooks: WebhookServer
) -> None:
    """``result.status: Failure`` is the error (its message); an unreachable webhook fails
    reads through other versions while the storage version still reads
    (webhook_converter.go getConvertedObjectsFromResponse)."""

    def refuse(review: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "response": {
                "uid": review["request"]["uid"],
                "result": {"status": "Failure", "message": "dimension must be set"},
            },
        }

    await _install_crd(client, hooks, hooks.handle("/convert", refuse))
    with pytest.raises(ApiError) as err:
        await client.request("POST", V2, body=_gizmo("v2", "x", dimension="1"))
    assert err.value.status == 500
    assert err.value.message == (
        "conversion webhook for example.com/v2, Kind=Gizmo failed: dimension must be set"
    )
    await client.request("POST", V1, body=_gizmo("v1", "y", size="1"))
    await hooks.__aexit__(None, None, None)  # the webhook goes down
    with pytest.raises(ApiError) as err:
        await client.request("GET", f"{V2}/y")
    assert err.value.status == 500
    assert err.value.message.startswith(
        "conversion webhook for example.com/v1, Kind=Gizmo failed: Post "
    )
    assert "connect: connection refused" in err.value.message
    assert (await client.request("GET", f"{V1}/y"))["spec"] == {"size": "1"}


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
async def test_kubectl_gets_either_version(
    api_server: ApiServer, client: Client, hooks: WebhookServer
) -> None:
    """kubectl reads the object through each served version, converted by the webhook."""
    await _install_crd(client, hooks, hooks.handle("/convert", converting()))
    await client.request("POST", V1, body=_gizmo("v1", "k", size="7"))
    specs = []
    for resource in ("gizmos.v1.example.com", "gizmos.v2.example.com"):
        obj = json.loads(
            await kubectl_ok(api_server, "get", resource, "k", "-n", "default", "-o", "json")
        )
        specs.append((obj["apiVersion"], obj["spec"]))
    assert specs == [("example.com/v1", {"size": "7"}), ("example.com/v2", {"dimension": "7"})]
