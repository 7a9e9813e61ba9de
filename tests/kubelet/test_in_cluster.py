"""A pod sees the cluster as in a real one: service-account token, CA, namespace, env.

Rules from kubelet: the projected ``kube-api-access-*`` volume is filled from the TokenRequest
API with a token bound to the pod (``pkg/kubelet/token/token_manager.go``: refreshed at 80% of
its lifetime), ``ca.crt`` from the ``kube-root-ca.crt`` ConfigMap and ``namespace`` from the
downward API (``pkg/volume/projected``); ``KUBERNETES_SERVICE_HOST``/``_PORT`` come from the
``kubernetes`` service (``pkg/kubelet/kubelet_pods.go`` makeEnvironmentVariables).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

from opframe.client import Client, ConnectionConfig
from opframe.errors import ApiError
from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet.volumes import ProjectedToken
from tests.kubelet.helpers import condition, create, wait_pod

Obj = dict[str, Any]

# A tiny in-cluster program: no kubeconfig anywhere, only what the pod was given.
_PROGRAM = """
import asyncio, os
from opframe import Client

async def main():
    assert "KUBECONFIG" not in os.environ
    async with await Client.default() as client:
        me = await client.request(
            "GET", f"/api/v1/namespaces/{client.namespace}/pods/{os.environ['HOSTNAME']}"
        )
        print("in-cluster", client.host, client.namespace, me["metadata"]["uid"], flush=True)

asyncio.run(main())
"""


async def _grant_view(cluster: LocalCluster) -> None:
    """The server enforces RBAC: let the pods' default ServiceAccount read (ClusterRole view)."""
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "default-sa-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
    }
    path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
    await cluster.client.request("POST", path, body=binding)


def _finished(pod: Obj | None) -> bool:
    return (pod or {}).get("status", {}).get("phase") in ("Succeeded", "Failed")


async def _log(cluster: LocalCluster, name: str) -> str:
    return b"".join([c async for c in cluster.kubelet.pod_log("default", name, None)]).decode()


async def test_client_default_inside_a_pod_talks_to_the_api_server(
    local_cluster: LocalCluster,
) -> None:
    await _grant_view(local_cluster)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "incluster"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "py", "image": "python:3.12", "command": ["python", "-c", _PROGRAM]}
            ],
        },
    }
    created = await create(local_cluster, "pods", pod)
    done = await wait_pod(local_cluster, "incluster", _finished, limit=60)
    text = await _log(local_cluster, "incluster")
    assert done is not None and done["status"]["phase"] == "Succeeded", text
    _, host, namespace, uid = text.split()
    assert host == local_cluster.api_server.url
    assert namespace == "default"
    assert uid == created["metadata"]["uid"]


def _client_with(cluster: LocalCluster, token: ProjectedToken) -> Client:
    """A client that authenticates with the pod's token file, as the pod's clients do."""
    server = cluster.api_server
    ssl_context = ssl.create_default_context(cafile=str(server.ca_file))
    return Client(ConnectionConfig(server.url, ssl_context=ssl_context, token_file=token.file))


async def _running_token(cluster: LocalCluster, name: str) -> ProjectedToken:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sleep", "60"]}]},
    }
    created = await create(cluster, "pods", pod)
    await wait_pod(cluster, name, lambda p: condition(p, "Ready") == "True")
    (token,) = cluster.kubelet.volumes.tokens[created["metadata"]["uid"]]
    return token


async def test_pod_token_is_a_bound_token_the_server_accepts(local_cluster: LocalCluster) -> None:
    await _grant_view(local_cluster)
    token = await _running_token(local_cluster, "sa-token")
    value = token.file.read_text()
    assert value and value != local_cluster.api_server.token
    assert token.request["spec"]["boundObjectRef"]["name"] == "sa-token"
    assert (token.file.parent / "namespace").read_text() == "default"
    assert (token.file.parent / "ca.crt").read_bytes().startswith(b"-----BEGIN CERTIFICATE")
    async with _client_with(local_cluster, token) as api:
        assert (await api.request("GET", "/api/v1/namespaces/default"))["metadata"]["name"]


async def test_refreshed_token_replaces_the_file_and_is_accepted(
    local_cluster: LocalCluster,
) -> None:
    await _grant_view(local_cluster)
    token = await _running_token(local_cluster, "sa-refresh")
    before = token.file.read_text()
    # 3607 s requested by the API server's admission: refreshed at 80% of that lifetime.
    assert token.refresh_at == pytest.approx(token.issued + 0.8 * (token.expires - token.issued))
    assert token.expires - token.issued == pytest.approx(3607, abs=2)
    await local_cluster.kubelet.volumes.refresh(token)
    after = token.file.read_text()
    assert after != before
    async with _client_with(local_cluster, token) as api:
        await api.request("GET", "/api/v1/namespaces/default/pods")


async def test_token_request_refuses_a_short_expiration(local_cluster: LocalCluster) -> None:
    """pkg/apis/authentication/validation: expirationSeconds below 10 minutes is invalid."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": 60}}  # fmt: skip
    path = "/api/v1/namespaces/default/serviceaccounts/default/token"
    await asyncio.wait_for(_default_sa(local_cluster), 10)
    with pytest.raises(ApiError) as info:
        await local_cluster.client.request("POST", path, body=body)
    assert info.value.status == 422
    assert "may not specify a duration less than 10 minutes" in str(info.value)


async def test_token_request_for_a_missing_service_account_is_not_found(
    local_cluster: LocalCluster,
) -> None:
    path = "/api/v1/namespaces/default/serviceaccounts/nobody/token"
    with pytest.raises(ApiError) as info:
        await local_cluster.client.request("POST", path, body={"spec": {}})
    assert info.value.status == 404


async def _default_sa(cluster: LocalCluster) -> None:
    await create(cluster, "configmaps", {"metadata": {"name": "ensure-ns"}})
