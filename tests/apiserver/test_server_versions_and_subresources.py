"""Deprecated CRD versions warn on every request; writes through /status and /scale are
recorded in managedFields under their subresource."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from opframe.testing.apiserver import ApiServer
from opframe.testing.apiserver.registry.crds import deprecation_warning
from tests.apiserver._crds import CRDS, gizmo_crd

SCHEMA = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}


def _spec(*versions: dict[str, Any]) -> dict[str, Any]:
    return {"group": "example.com", "names": {"kind": "Gizmo"}, "versions": list(versions)}


def _v(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "served": True, "storage": False, **extra}


def test_a_deprecated_version_names_the_newest_served_version() -> None:
    """apiextensions-apiserver customresource_handler.go defaultDeprecationWarning."""
    spec = _spec(_v("v1alpha1", deprecated=True), _v("v1beta1"), _v("v1"), _v("v2beta1"))
    assert deprecation_warning(spec, spec["versions"][0]) == (
        "example.com/v1alpha1 Gizmo is deprecated; use example.com/v1 Gizmo"
    )


def test_a_deprecated_version_without_a_newer_one_only_says_so() -> None:
    """defaultDeprecationWarning: only newer, served, not deprecated versions are suggested."""
    spec = _spec(_v("v1", deprecated=True), _v("v1beta1"))
    assert deprecation_warning(spec, spec["versions"][0]) == "example.com/v1 Gizmo is deprecated"


def test_a_deprecation_warning_of_the_crd_wins() -> None:
    """CustomResourceDefinitionVersion.deprecationWarning replaces the default text."""
    spec = _spec(_v("v1beta1", deprecated=True, deprecationWarning="use v1"), _v("v1"))
    assert deprecation_warning(spec, spec["versions"][0]) == "use v1"


def test_a_version_that_is_not_deprecated_warns_nothing() -> None:
    spec = _spec(_v("v1"))
    assert deprecation_warning(spec, spec["versions"][0]) == ""


async def _request(
    session: aiohttp.ClientSession,
    server: ApiServer,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
) -> tuple[int, Any, list[str]]:
    async with session.request(
        method, server.url + path, json=body, headers={"Content-Type": content_type}
    ) as resp:
        return resp.status, await resp.json(content_type=None), resp.headers.getall("Warning", [])


async def test_every_request_to_a_deprecated_version_has_the_warning(
    api_server_http: ApiServer,
) -> None:
    """apiextensions-apiserver: the warning is added to each request the version serves."""
    crd = gizmo_crd("v1", "v1beta1", schema=SCHEMA)
    crd["spec"]["versions"][1]["deprecated"] = True
    headers = {"Authorization": f"Bearer {api_server_http.token}"}
    path = "/apis/example.com/v1beta1/namespaces/default/gizmos"
    warning = '299 - "example.com/v1beta1 Gizmo is deprecated; use example.com/v1 Gizmo"'
    async with aiohttp.ClientSession(headers=headers) as s:
        assert (await _request(s, api_server_http, "POST", CRDS, crd))[0] == 201
        gizmo = {"apiVersion": "example.com/v1beta1", "kind": "Gizmo", "metadata": {"name": "g"}}
        async with asyncio.timeout(10):  # until the CRD is Established and served
            while True:
                if (await _request(s, api_server_http, "GET", path))[0] == 200:
                    break
                await asyncio.sleep(0.02)
        created = await _request(s, api_server_http, "POST", path, gizmo)
        listed = await _request(s, api_server_http, "GET", path)
        missing = await _request(s, api_server_http, "GET", path + "/nope")
        current = await _request(s, api_server_http, "GET", path.replace("v1beta1", "v1"))
    assert (created[0], created[2]) == (201, [warning])
    assert (listed[0], listed[2]) == (200, [warning])
    assert (missing[0], missing[2]) == (404, [warning])
    assert current[2] == []


async def test_status_and_scale_writes_are_recorded_with_their_subresource(
    api_server_http: ApiServer,
) -> None:
    """apiserver/pkg/endpoints/handlers/fieldmanager: the entry names the subresource."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }
    base = "/apis/apps/v1/namespaces/default/deployments"
    headers = {"Authorization": f"Bearer {api_server_http.token}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        await _request(s, api_server_http, "POST", base, deployment)
        patch = {"status": {"observedGeneration": 1}}
        merge = "application/merge-patch+json"
        await _request(s, api_server_http, "PATCH", base + "/web/status", patch, merge)
        await _request(
            s, api_server_http, "PATCH", base + "/web/scale", {"spec": {"replicas": 3}}, merge
        )
        _, obj, _ = await _request(s, api_server_http, "GET", base + "/web")
    entries = {e.get("subresource", ""): e for e in obj["metadata"]["managedFields"]}
    assert set(entries) == {"", "status", "scale"}
    assert entries["status"]["fieldsV1"] == {"f:status": {"f:observedGeneration": {}}}
    assert entries["scale"]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
