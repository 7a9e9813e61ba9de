"""Generated CRDs served by the embedded API server: accepted, defaulting, validating.

The embedded server applies kube-apiserver's CRD checks (structural schema, defaults, CEL
compilation), so a generated CRD it rejects is a generator bug.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from etcd_operator.models import EtcdCluster

from opframe.client import Client
from opframe.crd import crd_for
from opframe.errors import Invalid
from opframe.resource import Resource
from tests import models_zoo as zoo

pytest.importorskip("opframe.testing.apiserver.http.server")
from opframe.testing.apiserver.http.server import ApiServer

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with ApiServer() as server:
        async with await Client.from_kubeconfig(server.kubeconfig) as c:
            yield c


async def _install(client: Client, *models: type[Resource]) -> None:
    crd = crd_for(*models)
    await client.request("POST", CRDS, body=crd)
    path = f"{CRDS}/{crd['metadata']['name']}"
    async with asyncio.timeout(10):
        while True:
            status = (await client.request("GET", path)).get("status") or {}
            conditions = status.get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return
            await asyncio.sleep(0.05)  # polling the server's answer, not synchronising


ETCD_PATH = "/apis/etcd.opframe.dev/v1alpha1/namespaces/default/etcdclusters"
MINIMAL: dict[str, Any] = {
    "apiVersion": "etcd.opframe.dev/v1alpha1",
    "kind": "EtcdCluster",
    "metadata": {"name": "demo", "namespace": "default"},
    "spec": {},
}


@pytest.mark.parametrize(
    "models",
    [(EtcdCluster,), (zoo.Gizmo,), (zoo.Backup,), (zoo.TenantV1Alpha1, zoo.TenantV1)],
    ids=lambda ms: ms[0].__name__,
)
async def test_generated_crd_is_accepted_and_established(
    client: Client, models: tuple[type[Resource], ...]
) -> None:
    await _install(client, *models)


async def test_etcd_cluster_defaults_come_from_the_model(client: Client) -> None:
    await _install(client, EtcdCluster)
    created = await client.request("POST", ETCD_PATH, body=MINIMAL)
    cluster = EtcdCluster.from_dict(created)
    assert (cluster.spec.size, cluster.spec.version) == (3, "3.5.1")
    assert cluster.spec.storage.empty_dir is not None
    assert cluster.image == "quay.io/coreos/etcd:v3.5.1"


async def test_etcd_cluster_size_out_of_range_is_rejected_naming_the_field(
    client: Client,
) -> None:
    await _install(client, EtcdCluster)
    body = copy.deepcopy(MINIMAL)
    body["spec"]["size"] = 10
    with pytest.raises(Invalid) as err:
        await client.request("POST", ETCD_PATH, body=body)
    assert any(c.field == "spec.size" for c in err.value.causes)


async def test_etcd_cluster_storage_is_immutable(client: Client) -> None:
    await _install(client, EtcdCluster)
    created = await client.request("POST", ETCD_PATH, body=MINIMAL)
    created["spec"]["storage"] = {"volumeClaimTemplate": {"size": "5Gi"}}
    with pytest.raises(Invalid, match="storage cannot be changed after creation"):
        await client.request("PUT", f"{ETCD_PATH}/demo", body=created)


async def test_etcd_cluster_scale_subresource_reads_spec_size(client: Client) -> None:
    await _install(client, EtcdCluster)
    await client.request("POST", ETCD_PATH, body=MINIMAL)
    scale = await client.request("GET", f"{ETCD_PATH}/demo/scale")
    assert scale["spec"]["replicas"] == 3
