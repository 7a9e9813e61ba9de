"""LocalCluster.restart_api_server: the API server restarted alone (issue 13).

The new server listens on the same port with the same token, CA, signing key and objects, so
every client (the kubelet, the controllers, kubectl with the old kubeconfig) carries on by
itself, and the kubelet's pods keep running. A watch from the last resourceVersion seen before
the restart resumes (kube-apiserver initialises its watch cache at the current revision:
``staging/src/k8s.io/apiserver/pkg/storage/cacher/watch_cache.go``).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from opframe import ConfigMap, watch
from opframe.testing import eventually
from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet import ImageResolver, LocalImage
from tests.kubelet.helpers import busybox_pod, container_status, create, get_pod

Obj = dict[str, Any]

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    resolver = ImageResolver()
    resolver.register("busybox*", LocalImage.host())
    async with LocalCluster(
        tmp_path / "state", resolver=resolver, backoff_base=0.3, heartbeat=1.0
    ) as c:
        yield c


def _running(pod: Obj | None) -> bool:
    return "running" in container_status(pod).get("state", {})


async def _pod_running(cluster: LocalCluster, name: str) -> None:
    async def check() -> bool:
        return _running(await get_pod(cluster, name))

    await eventually(check, message=f"pod {name} running", timeout=30)


async def test_restart_keeps_the_port_and_the_objects(cluster: LocalCluster) -> None:
    url = cluster.api_server.url
    await create(cluster, "configmaps", {"metadata": {"name": "kept"}, "data": {"k": "v"}})
    await cluster.restart_api_server()
    assert cluster.api_server.url == url
    cm = await cluster.client.request("GET", "/api/v1/namespaces/default/configmaps/kept")
    assert cm["data"] == {"k": "v"}


async def test_a_watch_carries_on_across_the_restart(cluster: LocalCluster) -> None:
    """The watcher's stream drops with the old server; it resumes or, on 410 Gone (no watch
    history survives a restart, as kube-apiserver's watch cache starts at the current
    revision), lists again, and delivers what was created after the restart."""
    watcher = watch(cluster.client, ConfigMap, namespace="default")
    seen: list[str] = []

    async def consume() -> None:
        async for cm in watcher.applied():
            seen.append(cm.name)

    task = asyncio.create_task(consume())
    try:
        await create(cluster, "configmaps", {"metadata": {"name": "before"}})
        await eventually(lambda: _holds("before" in seen), message="seen before", timeout=10)
        watches = watcher.stats.watches
        await cluster.restart_api_server()
        await create(cluster, "configmaps", {"metadata": {"name": "after"}})
        await eventually(lambda: _holds("after" in seen), message="seen after", timeout=20)
        assert watcher.stats.watches > watches, "the watch was never reopened"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _holds(value: bool) -> bool:
    return value


async def test_a_pod_keeps_running_across_the_restart(cluster: LocalCluster) -> None:
    await create(cluster, "pods", busybox_pod("p", "sleep 60"))
    await _pod_running(cluster, "p")
    before = await get_pod(cluster, "p")
    started = container_status(before)["state"]["running"]["startedAt"]
    await cluster.restart_api_server()
    after = await get_pod(cluster, "p")
    assert container_status(after)["state"]["running"]["startedAt"] == started
    assert container_status(after)["restartCount"] == 0


async def test_the_kubelet_keeps_updating_pod_status_after_the_restart(
    cluster: LocalCluster,
) -> None:
    await create(cluster, "pods", busybox_pod("p", "sleep 60"))
    await _pod_running(cluster, "p")
    await cluster.restart_api_server()
    cluster.chaos.kill("default", "p")

    async def restarted() -> bool:
        pod = await get_pod(cluster, "p")
        return container_status(pod).get("restartCount", 0) >= 1 and _running(pod)

    await eventually(restarted, message="restartCount written after the restart", timeout=30)


async def test_the_kubelet_runs_a_pod_created_after_the_restart(cluster: LocalCluster) -> None:
    await cluster.restart_api_server()
    await create(cluster, "pods", busybox_pod("later", "sleep 60"))
    await _pod_running(cluster, "later")


async def test_a_service_account_token_issued_before_verifies_after(
    cluster: LocalCluster,
) -> None:
    await create(cluster, "serviceaccounts", {"metadata": {"name": "robot"}})
    issued = await cluster.client.request(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts/robot/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    token = issued["status"]["token"]
    await cluster.restart_api_server()
    review = await cluster.client.request(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        },
    )
    assert review["status"].get("authenticated") is True
    assert review["status"]["user"]["username"] == "system:serviceaccount:default:robot"


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_kubectl_with_the_old_kubeconfig_still_works(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    old = tmp_path / "kubeconfig-before"
    shutil.copy(cluster.kubeconfig, old)
    await cluster.restart_api_server()
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(old), "get", "namespaces", "-o", "name",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "namespace/default" in out.decode().split()


async def test_restart_without_a_state_dir_is_refused() -> None:
    async with LocalCluster(kubelet=False, controllers=False) as c:
        with pytest.raises(RuntimeError, match="state_dir"):
            await c.restart_api_server()
