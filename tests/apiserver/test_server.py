"""The embedded API server as a process-level thing: auth, TLS, kubeconfig, persistence."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from opframe.testing.apiserver import ApiServer
from tests.apiserver._crds import OBJECT, gizmo_crd


async def _get(server: ApiServer, path: str, token: str | None = None) -> tuple[int, Any]:
    ctx = ssl.create_default_context(cafile=str(server.ca_file)) if server.ca_file else None
    headers = {"Authorization": f"Bearer {token or server.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.url + path, headers=headers, ssl=ctx) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def test_a_wrong_token_is_unauthorized(api_server: ApiServer) -> None:
    status, body = await _get(api_server, "/api/v1/namespaces", token="wrong")
    assert status == 401
    assert body["reason"] == "Unauthorized"


async def test_https_is_verified_by_the_generated_ca(api_server: ApiServer) -> None:
    assert api_server.url.startswith("https://127.0.0.1:")
    status, body = await _get(api_server, "/api/v1/namespaces/default")
    assert (status, body["metadata"]["name"]) == (200, "default")


def _read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


async def test_the_kubeconfig_names_the_server_and_token(api_server: ApiServer) -> None:
    config = _read_yaml(Path(api_server.kubeconfig))
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    user = next(u for u in config["users"] if u["name"] == context["context"]["user"])
    assert cluster["cluster"]["server"] == api_server.url
    assert user["user"]["token"] == api_server.token
    assert cluster["cluster"]["certificate-authority-data"]


async def test_version_is_public(api_server: ApiServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(api_server.url + "/version", ssl=False) as resp,
    ):
        assert resp.status == 200
        assert (await resp.json())["major"] == "1"


async def test_objects_survive_a_restart_with_a_state_dir(tmp_path: Path) -> None:
    async with ApiServer(tls=False, state_dir=tmp_path) as first:
        token = first.token
        body = {"metadata": {"name": "kept"}, "data": {"a": "1"}}
        async with (
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s,
            s.post(first.url + "/api/v1/namespaces/default/configmaps", json=body) as resp,
        ):
            created = await resp.json()
    async with ApiServer(tls=False, state_dir=tmp_path, token=token) as second:
        status, again = await _get(second, "/api/v1/namespaces/default/configmaps/kept")
    assert status == 200
    assert again["metadata"]["uid"] == created["metadata"]["uid"]
    assert int(again["metadata"]["resourceVersion"]) <= second.store.rv


async def test_the_module_runs_as_a_process_writing_its_kubeconfig(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "opframe.testing.apiserver",
        "--state-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), timeout=30)).decode().strip()
        config = _read_yaml(tmp_path / "kubeconfig")
        assert config["clusters"][0]["cluster"]["server"] == url
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    assert not (tmp_path / "apiserver.pid").exists()


async def test_openapi_v3_offers_server_side_field_validation(api_server: ApiServer) -> None:
    status, root = await _get(api_server, "/openapi/v3")
    assert status == 200
    url = root["paths"]["api/v1"]["serverRelativeURL"]
    status, doc = await _get(api_server, url)
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "",
        "kind": "ConfigMap",
        "version": "v1",
    }
    assert any(p["name"] == "fieldValidation" for p in patch["parameters"])


async def test_crds_and_their_resources_survive_a_restart(tmp_path: Path) -> None:
    crd = gizmo_crd(schema=OBJECT)
    gizmo = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
    path = "/apis/example.com/v1/namespaces/default/gizmos"
    async with ApiServer(tls=False, state_dir=tmp_path) as first:
        token = first.token
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            crds = first.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
            async with s.post(crds, json=crd) as resp:
                assert resp.status == 201
            async with s.post(first.url + path, json=gizmo) as resp:
                assert resp.status == 201
    async with ApiServer(tls=False, state_dir=tmp_path, token=token) as second:
        status, body = await _get(second, path + "/g")
    assert (status, body["kind"]) == (200, "Gizmo")


async def test_a_cluster_ip_in_use_cannot_be_requested_again(api_server_http: ApiServer) -> None:
    server = api_server_http
    svc = {"metadata": {"name": "a"}, "spec": {"clusterIP": "10.0.0.50", "ports": [{"port": 80}]}}
    path = server.url + "/api/v1/namespaces/default/services"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {server.token}"}) as s:
        async with s.post(path, json=svc) as resp:
            assert resp.status == 201
        svc["metadata"]["name"] = "b"
        async with s.post(path, json=svc) as resp:
            assert resp.status == 422


async def test_objects_are_served_as_yaml_when_asked(api_server_http: ApiServer) -> None:
    server = api_server_http
    headers = {"Authorization": f"Bearer {server.token}", "Accept": "application/yaml"}
    async with (
        aiohttp.ClientSession(headers=headers) as s,
        s.get(server.url + "/api/v1/namespaces/default") as resp,
    ):
        assert resp.headers["Content-Type"] == "application/yaml"
        assert yaml.safe_load(await resp.text())["metadata"]["name"] == "default"
