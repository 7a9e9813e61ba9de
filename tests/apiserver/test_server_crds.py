"""CRDs beyond the transcripts: several served versions, cluster scope."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from opframe.testing.apiserver import ApiServer
from tests.apiserver._crds import CRDS, gizmo_crd, spec_schema

SCHEMA = spec_schema(size={"type": "string"})


def _crd(scope: str, versions: list[str]) -> dict[str, Any]:
    return gizmo_crd(*versions, schema=SCHEMA, scope=scope)


class Api:
    def __init__(self, server: ApiServer, session: aiohttp.ClientSession) -> None:
        self.url = server.url
        self.s = session

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.s.request(method, self.url + path, json=body) as resp:
            if resp.content_type != "application/json":
                return resp.status, await resp.text()
            return resp.status, await resp.json()


@pytest.fixture
def api(api_server_http: ApiServer, admin_session: aiohttp.ClientSession) -> Api:
    return Api(api_server_http, admin_session)


async def test_an_object_written_through_one_version_reads_through_another(api: Api) -> None:
    assert (await api.call("POST", CRDS, _crd("Namespaced", ["v1", "v2"])))[0] == 201
    gizmo = {"apiVersion": "example.com/v2", "kind": "Gizmo", "metadata": {"name": "g"},
             "spec": {"size": "big"}}  # fmt: skip
    status, _ = await api.call("POST", "/apis/example.com/v2/namespaces/default/gizmos", gizmo)
    assert status == 201
    status, through_v1 = await api.call("GET", "/apis/example.com/v1/namespaces/default/gizmos/g")
    assert status == 200
    assert (through_v1["apiVersion"], through_v1["spec"]) == ("example.com/v1", {"size": "big"})


async def test_cluster_scoped_custom_resources_have_no_namespace(api: Api) -> None:
    assert (await api.call("POST", CRDS, _crd("Cluster", ["v1"])))[0] == 201
    gizmo = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
    status, created = await api.call("POST", "/apis/example.com/v1/gizmos", gizmo)
    assert status == 201
    assert "namespace" not in created["metadata"]
    # Like any unknown path in a CRD's group: a plain-text 404.
    assert await api.call("GET", "/apis/example.com/v1/namespaces/default/gizmos/g") == (
        404,
        "404 page not found\n",
    )


async def test_discovery_prefers_the_storage_version(api: Api) -> None:
    assert (await api.call("POST", CRDS, _crd("Namespaced", ["v1", "v2"])))[0] == 201
    status, group = await api.call("GET", "/apis/example.com")
    assert status == 200
    assert group["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in group["versions"]] == ["v1", "v2"]


async def test_selectable_fields_filter_custom_resources(api: Api) -> None:
    crd = _crd("Namespaced", ["v1"])
    crd["spec"]["versions"][0]["selectableFields"] = [{"jsonPath": ".spec.size"}]
    assert (await api.call("POST", CRDS, crd))[0] == 201
    path = "/apis/example.com/v1/namespaces/default/gizmos"
    for name, size in (("a", "big"), ("b", "small")):
        gizmo = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": name},
                 "spec": {"size": size}}  # fmt: skip
        assert (await api.call("POST", path, gizmo))[0] == 201
    status, listed = await api.call("GET", path + "?fieldSelector=spec.size%3Dsmall")
    assert status == 200
    assert [i["metadata"]["name"] for i in listed["items"]] == ["b"]
    status, refused = await api.call("GET", path + "?fieldSelector=spec.color%3Dred")
    assert (status, refused["message"]) == (
        400,
        '"spec.color" is not a known field selector: only "metadata.name", '
        '"metadata.namespace", "spec.size"',
    )


async def test_a_crd_status_write_changes_only_the_status(api: Api) -> None:
    assert (await api.call("POST", CRDS, _crd("Namespaced", ["v1"])))[0] == 201
    status, crd = await api.call("GET", CRDS + "/gizmos.example.com")
    crd["status"]["storedVersions"] = ["v1", "v0"]
    crd["spec"]["names"]["shortNames"] = ["gz"]
    status, written = await api.call("PUT", CRDS + "/gizmos.example.com/status", crd)
    assert status == 200
    assert written["status"]["storedVersions"] == ["v1", "v0"]
    assert "shortNames" not in written["spec"]["names"]
