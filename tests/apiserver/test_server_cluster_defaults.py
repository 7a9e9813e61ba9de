"""What a real control plane has besides the API: health checks, metrics, the root CA
ConfigMap. Each test names the Kubernetes source it follows."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from opframe.testing.apiserver import ApiServer

ROOT_CA = "/api/v1/namespaces/{}/configmaps/kube-root-ca.crt"


async def _call(
    server: ApiServer, method: str, path: str, body: Any = None, *, auth: bool = True
) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {server.token}"} if auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, server.url + path, json=body, headers=headers, ssl=False) as resp,
    ):
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/healthz"])
async def test_health_checks_answer_ok_without_a_token(
    api_server_http: ApiServer, path: str
) -> None:
    """apiserver/pkg/server/healthz: plain ``ok``; system:public-info-viewer allows anyone."""
    status, content_type, text = await _call(api_server_http, "GET", path, auth=False)
    assert (status, text) == (200, "ok")
    assert content_type.startswith("text/plain")


async def test_verbose_readyz_lists_every_check(api_server_http: ApiServer) -> None:
    """apiserver/pkg/server/healthz: ``[+]name ok`` per check, then ``readyz check passed``."""
    _, _, text = await _call(api_server_http, "GET", "/readyz?verbose")
    lines = text.splitlines()
    assert lines[0] == "[+]ping ok"
    assert "[+]etcd ok" in lines and "[+]informer-sync ok" in lines
    assert lines[-1] == "readyz check passed"


async def test_an_excluded_check_is_reported_as_excluded(api_server_http: ApiServer) -> None:
    """apiserver/pkg/server/healthz: ``?exclude=name`` skips a check and says so."""
    _, _, text = await _call(api_server_http, "GET", "/livez?verbose&exclude=etcd")
    assert "[+]etcd excluded: ok" in text.splitlines()
    assert text.endswith("livez check passed\n")


async def test_each_check_has_its_own_path(api_server_http: ApiServer) -> None:
    """apiserver/pkg/server/healthz: ``/readyz/<check>``; an unknown check is a 404."""
    assert (await _call(api_server_http, "GET", "/readyz/etcd"))[::2] == (200, "ok")
    assert (await _call(api_server_http, "GET", "/readyz/nope"))[0] == 404


async def test_metrics_count_requests_by_verb_resource_and_code(
    api_server_http: ApiServer,
) -> None:
    """apiserver/pkg/endpoints/metrics: apiserver_request_total{verb,resource,code,...}."""
    await _call(api_server_http, "GET", "/api/v1/namespaces/default/configmaps")
    await _call(api_server_http, "GET", "/api/v1/namespaces/default/configmaps/missing")
    status, content_type, text = await _call(api_server_http, "GET", "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert (
        'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",'
        'resource="configmaps",scope="namespace",subresource="",verb="LIST",version="v1"} 1'
    ) in text.splitlines()
    assert 'code="404"' in text and 'verb="GET"' in text
    assert 'apiserver_storage_objects{resource="namespaces"} 4' in text.splitlines()


async def test_metrics_need_a_token(api_server_http: ApiServer) -> None:
    """The bootstrap RBAC policy gives /metrics to system:monitoring only, not to anyone."""
    assert (await _call(api_server_http, "GET", "/metrics", auth=False))[0] == 403


async def _eventually(server: ApiServer, path: str, check: Any) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            status, _, text = await _call(server, "GET", path)
            if status == 200:
                obj: dict[str, Any] = json.loads(text)
                if check(obj):
                    return obj
            await asyncio.sleep(0.02)


async def test_every_namespace_gets_the_root_ca_configmap() -> None:
    """controller/certificates/rootcacertpublisher: kube-root-ca.crt with the server's CA."""
    async with ApiServer(publish_root_ca=True) as server:
        assert server.ca_file is not None
        ca = server.ca_file.read_text()
        await _call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}})
        for ns in ("default", "team"):
            cm = await _eventually(server, ROOT_CA.format(ns), lambda o: True)
            assert cm["data"] == {"ca.crt": ca}
            assert cm["metadata"]["annotations"]["kubernetes.io/description"].startswith(
                "Contains a CA bundle"
            )


async def test_the_root_ca_configmap_comes_back_when_deleted_or_changed() -> None:
    """controller/certificates/rootcacertpublisher: its sync runs on ConfigMap changes too."""
    async with ApiServer(publish_root_ca=True) as server:
        assert server.ca_file is not None
        ca = server.ca_file.read_text()
        path = ROOT_CA.format("default")
        await _eventually(server, path, lambda o: True)
        await _call(server, "DELETE", path)
        await _eventually(server, path, lambda o: o["data"] == {"ca.crt": ca})
        patch = {"data": {"ca.crt": "tampered"}}
        async with (
            aiohttp.ClientSession() as session,
            session.patch(
                server.url + path,
                json=patch,
                ssl=False,
                headers={
                    "Authorization": f"Bearer {server.token}",
                    "Content-Type": "application/merge-patch+json",
                },
            ),
        ):
            pass
        await _eventually(server, path, lambda o: o["data"] == {"ca.crt": ca})


async def test_a_bare_api_server_publishes_no_root_ca(api_server_http: ApiServer) -> None:
    """Only kube-apiserver runs in the recorded transcripts: the publisher is a controller."""
    assert (await _call(api_server_http, "GET", ROOT_CA.format("default")))[0] == 404
