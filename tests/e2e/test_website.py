"""e2e: a Website operator (a CR owning a Deployment, a Service and a ConfigMap, written with
opframe as in docs/tutorial.md) reaches Available on real pods of the local kubelet, and
kubectl's rollout status/history/undo work on its Deployment (the controllers of
``opframe.testing.controllers`` do what kube-controller-manager does)."""

from __future__ import annotations

import asyncio
from typing import Any

from _kubectl import kubectl_ok as kubectl

from opframe import (
    ConfigMap,
    Context,
    Controller,
    Deployment,
    KubeModel,
    Manager,
    ObjectMeta,
    Resource,
    Service,
    install_crds,
    set_controller_reference,
)
from opframe.testing.cluster import LocalCluster
from tests.controllers._helpers import get, list_items, pod_template, wait_for

FIELD_MANAGER = "website-operator"


class WebsiteSpec(KubeModel):
    replicas: int = 2
    content: str = "hello"
    command: str = "sleep 3600"


class WebsiteStatus(KubeModel):
    available_replicas: int = 0
    phase: str = "Pending"


class Website(Resource, group="e2e.opframe.dev", version="v1"):
    spec: WebsiteSpec
    status: WebsiteStatus | None = None


async def reconcile(ctx: Context, site: Website) -> None:
    name, ns = site.name, site.namespace
    labels = {"app": name}
    cm = ConfigMap(metadata=ObjectMeta(name=name, namespace=ns), data={"index.html":
                   site.spec.content})  # fmt: skip
    template = pod_template(labels, site.spec.command)
    deploy = Deployment.model_validate({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": site.spec.replicas, "selector": {"matchLabels": labels},
                 "template": template},
    })  # fmt: skip
    svc = Service.model_validate(
        {
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": labels, "ports": [{"port": 80}]},
        }
    )
    for child in (cm, deploy, svc):
        set_controller_reference(site, child)
        await ctx.client.apply(child, field_manager=FIELD_MANAGER, force=True)
    current = ctx.cache.get(Deployment, name, ns)
    available = (current.status.available_replicas or 0) if current and current.status else 0
    phase = "Available" if available >= site.spec.replicas else "Progressing"
    await ctx.client.patch_status(Website, name, {"status": {
        "availableReplicas": available, "phase": phase}}, namespace=ns)  # fmt: skip


async def test_website_operator_reaches_available_and_rolls_with_kubectl(
    local_cluster: LocalCluster,
) -> None:
    client = local_cluster.client
    await install_crds(client, Website)
    manager = Manager(client, health_address=None, metrics_address=None)
    manager.add(
        Controller(for_=Website, reconciler=reconcile).owns(Deployment).owns(Service)
        .owns(ConfigMap)
    )  # fmt: skip
    task = asyncio.create_task(manager.run(handle_signals=False))
    try:
        site = Website(metadata=ObjectMeta(name="blog", namespace="default"),
                       spec=WebsiteSpec(replicas=2))  # fmt: skip
        await client.create(site)

        async def website() -> Any:
            return await client.get(Website, "blog", "default")

        await wait_for(website, lambda w: w.status and w.status.phase == "Available", within=60,
                       message="website never Available")  # fmt: skip
        pods = await list_items(client, "pods", selector="app=blog")
        assert len([p for p in pods if p["status"].get("phase") == "Running"]) == 2
        endpoints = await get(client, "endpoints", "blog")
        assert endpoints is not None and len(endpoints["subsets"][0]["addresses"]) == 2
        out = await kubectl(local_cluster, "rollout", "status", "deployment/blog",
                            "--timeout=60s")  # fmt: skip
        assert "successfully rolled out" in out
        await client.patch(Website, "blog", {"spec": {"command": "sleep 3601"}},
                           namespace="default")  # fmt: skip
        await wait_for(
            lambda: get(client, "deployments", "blog"),
            lambda d: d["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == "2",
        )
        await kubectl(local_cluster, "rollout", "status", "deployment/blog", "--timeout=60s")
        history = await kubectl(local_cluster, "rollout", "history", "deployment/blog")
        assert [ln.split()[0] for ln in history.splitlines()[2:] if ln.strip()] == ["1", "2"]
        await kubectl(local_cluster, "rollout", "undo", "deployment/blog")
        await kubectl(local_cluster, "rollout", "status", "deployment/blog", "--timeout=60s")
        # As on a real cluster, the operator owns the template: the undo (revision 3) is
        # reverted by its next reconcile, which brings revision 2's ReplicaSet back as 4.
        d = await wait_for(
            lambda: get(client, "deployments", "blog"),
            lambda d: d["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == "4",
        )
        assert d["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "sleep 3601"
        (rs,) = [
            r
            for r in await list_items(client, "replicasets")
            if r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
        ]
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "2"
    finally:
        manager.stop()
        await task
