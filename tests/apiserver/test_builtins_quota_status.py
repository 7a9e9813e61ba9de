"""The resource quota controller's status (pkg/controller/resourcequota and the evaluators
of pkg/quota/v1/evaluator/core): ``hard`` copied from the spec, ``used`` counted."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from opframe.testing.apiserver import ApiServer
from opframe.testing.apiserver.registry.quota import quota_usage


def _pod(cpu: str, memory: str, phase: str = "Pending") -> dict[str, Any]:
    resources = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}
    return {
        "spec": {"containers": [{"name": "c", "resources": resources}]},
        "status": {"phase": phase},
    }


def test_usage_sums_requests_of_pods_that_are_not_finished() -> None:
    """pkg/quota/v1/evaluator/core/pods.go: terminal pods use nothing."""
    quota = {"spec": {"hard": {"pods": "5", "requests.cpu": "4", "limits.memory": "1Gi"}}}
    pods = [_pod("250m", "128Mi"), _pod("500m", "128Mi"), _pod("1", "1Gi", "Succeeded")]
    assert quota_usage(quota, {"/pods": pods}) == {
        "pods": "2",
        "requests.cpu": "750m",
        "limits.memory": "256Mi",
    }


def test_usage_counts_objects_by_resource_and_group() -> None:
    """pkg/quota/v1/generic: count/<resource>.<group> counts the namespace's objects."""
    quota = {"spec": {"hard": {"count/deployments.apps": "3", "configmaps": "9"}}}
    objects = {"apps/deployments": [{}, {}], "/configmaps": [{}]}
    assert quota_usage(quota, objects) == {"count/deployments.apps": "2", "configmaps": "1"}


async def test_a_quota_reports_what_its_namespace_uses() -> None:
    server = ApiServer(tls=False, quota_status=True)
    async with server:
        headers = {"Authorization": f"Bearer {server.token}"}
        base = server.url + "/api/v1/namespaces/default"
        async with aiohttp.ClientSession(headers=headers) as session:
            quota = {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": "q"},
                "spec": {"hard": {"configmaps": "10"}},
            }
            async with session.post(base + "/resourcequotas", json=quota) as resp:
                assert resp.status == 201
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
            async with session.post(base + "/configmaps", json=cm) as resp:
                assert resp.status == 201
            async with asyncio.timeout(10):
                while True:
                    async with session.get(base + "/resourcequotas/q") as resp:
                        status = (await resp.json()).get("status") or {}
                    if status.get("used") == {"configmaps": "1"}:
                        break
                    await asyncio.sleep(0.05)
            assert status["hard"] == {"configmaps": "10"}
