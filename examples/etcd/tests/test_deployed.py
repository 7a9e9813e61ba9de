"""The etcd operator deployed by its own manifests (``kubectl apply -k deploy``) on LocalCluster.

The operator runs as a pod of its Deployment, under its ServiceAccount with the generated
least-privilege RBAC and leader election on, exactly as on a real cluster: nothing runs in the
test process but the workload and the checks. Rules followed: a ReplicaSet replaces a deleted
pod (``pkg/controller/replicaset/replica_set.go`` manageReplicas); a standby takes a Lease once
``leaseDurationSeconds`` passed since the holder's last renewal
(``staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go`` tryAcquireOrRenew).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from etcd_e2e import EtcdEnv, settled

from opframe.testing import LocalCluster, eventually

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SYSTEM = "etcd-operator-system"
SELECTOR = "app.kubernetes.io/name=etcd-operator"
NAME = "demo"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.kubectl,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]
log = logging.getLogger("etcd-deployed")


async def kubectl(cluster: LocalCluster, *args: str, stdin: str | None = None) -> str:
    """The real kubectl against the cluster's kubeconfig; fail with its stderr if it fails."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    proc = await asyncio.to_thread(
        subprocess.run,
        ["kubectl", *args],
        input=stdin.encode() if stdin else None,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr.decode()!r}"
    return proc.stdout.decode()


async def operator_pods(cluster: LocalCluster) -> list[dict[str, Any]]:
    """The operator Deployment's pods that are not being deleted."""
    path = f"/api/v1/namespaces/{SYSTEM}/pods"
    body = await cluster.client.request("GET", path, params={"labelSelector": SELECTOR})
    return [p for p in body["items"] if not p["metadata"].get("deletionTimestamp")]


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status", {})
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return status.get("phase") == "Running" and conditions.get("Ready") == "True"


async def ready_operators(cluster: LocalCluster, count: int, deadline: float = 240.0) -> list[str]:
    """Wait until ``count`` operator pods are Running and Ready; return their names."""
    names: list[str] = []

    async def holds() -> bool:
        pods = await operator_pods(cluster)
        names[:] = sorted(p["metadata"]["name"] for p in pods if _ready(p))
        return len(pods) == count and len(names) == count

    await eventually(holds, message=f"{count} operator pods Running and Ready", timeout=deadline)
    return names


async def lease_holder(cluster: LocalCluster) -> str:
    """The operator Lease's holderIdentity ("" when there is none yet)."""
    path = f"/apis/coordination.k8s.io/v1/namespaces/{SYSTEM}/leases/etcd-operator"
    try:
        lease = await cluster.client.request("GET", path)
    except Exception:  # not created yet
        return ""
    return str(lease.get("spec", {}).get("holderIdentity") or "")


async def leader_pod(cluster: LocalCluster, pods: list[str]) -> str:
    """The pod (of ``pods``) that holds the Lease: the identity is ``<hostname>_<uuid>``."""
    found: list[str] = []

    async def holds() -> bool:
        holder = await lease_holder(cluster)
        found[:] = [p for p in pods if holder.startswith(p)]
        return len(found) == 1

    await eventually(holds, message="one operator pod holds the Lease", timeout=120.0)
    return found[0]


async def deploy(cluster: LocalCluster, replicas: int) -> list[str]:
    """``kubectl apply -k deploy``, scale the Deployment, wait for its pods to be Ready."""
    start = time.monotonic()
    await kubectl(cluster, "apply", "--server-side", "-k", str(DEPLOY))
    await kubectl(
        cluster, "-n", SYSTEM, "scale", "deployment/etcd-operator", f"--replicas={replicas}"
    )
    names = await ready_operators(cluster, replicas)
    log.info("deployed %d operator pod(s) Ready after %.1fs", replicas, time.monotonic() - start)
    return names


async def create_demo(env: EtcdEnv) -> None:
    manifest = (DEPLOY / "example-cluster.yaml").read_text()
    await kubectl(env.cluster, "apply", "-n", "default", "-f", "-", stdin=manifest)


async def test_deployed_operator_scales_and_its_replacement_pod_finishes_a_scale() -> None:
    """Deployed by `kubectl apply -k`, the operator pod brings up 3 members, scales to 5 and
    back; deleted mid-scale, the pod the ReplicaSet makes in its place finishes the job, and
    every key acknowledged throughout reads back."""
    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        env = EtcdEnv(cluster)
        [first] = await deploy(cluster, replicas=1)
        await create_demo(env)
        await env.until(settled(3), "3 members Available", deadline=300.0, name=NAME)
        async with env.writing(NAME):
            await env.patch({"size": 5}, name=NAME)
            # Mid-scale: the operator has started the fourth member.
            await eventually(
                lambda: _more_pods(env, 3), message="the scale to 5 started", timeout=180.0
            )
            start = time.monotonic()
            await kubectl(cluster, "-n", SYSTEM, "delete", "pod", first, "--wait=false")
            [second] = await ready_operators(cluster, 1)
            assert second != first
            log.info("replacement operator pod Ready after %.1fs", time.monotonic() - start)
            await env.until(settled(5), "5 members after the replacement", 400.0, NAME)
            assert (await lease_holder(cluster)).startswith(second)
            await env.patch({"size": 3}, name=NAME)
            await env.until(settled(3), "back to 3 members", deadline=400.0, name=NAME)
            await eventually(
                lambda: _pod_count(env, 3), message="3 member pods left", timeout=120.0
            )


async def _pod_count(env: EtcdEnv, count: int) -> bool:
    return len(await env.pod_names(NAME)) == count


async def _more_pods(env: EtcdEnv, than: int) -> bool:
    return len(await env.pod_names(NAME)) > than


async def test_standby_operator_takes_the_lease_when_the_leader_is_killed() -> None:
    """Two operator pods: the Lease holder stops dead (SIGSTOP: it neither renews nor, as a
    restarted container would, competes again), and the standby takes the Lease within the
    lease duration (plus a retry period) and keeps managing: a scale step succeeds. The frozen
    leader is then SIGKILLed; its restarted container comes back as a standby."""
    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        env = EtcdEnv(cluster)
        pods = await deploy(cluster, replicas=2)
        leader = await leader_pod(cluster, pods)
        [standby] = [p for p in pods if p != leader]
        await create_demo(env)
        await env.until(settled(3), "3 members Available", deadline=300.0, name=NAME)
        async with env.writing(NAME):
            start = time.monotonic()
            seen = [await lease_holder(cluster)]
            log.info("leader %s standby %s holder %r", leader, standby, seen[0])
            cluster.chaos.kill(SYSTEM, leader, sig=signal.SIGSTOP)
            try:

                async def standby_leads() -> bool:
                    now = await lease_holder(cluster)
                    if now != seen[-1]:
                        seen.append(now)
                        log.info("holder %r at %.1fs", now, time.monotonic() - start)
                    return now.startswith(standby)

                await eventually(standby_leads, message="the standby holds the Lease", timeout=90.0)
                took = time.monotonic() - start
                log.info("standby took the Lease after %.1fs", took)
                # leaseDurationSeconds 15 + retry period 2, with room for a loaded machine.
                assert took < 15.0 + 2.0 + 10.0, f"the standby took the Lease after {took:.1f}s"
            except AssertionError:
                logs = await kubectl(cluster, "-n", SYSTEM, "logs", standby)
                log.info("standby's log: %s", logs[-4000:])
                raise
            finally:
                cluster.chaos.kill(SYSTEM, leader)  # SIGKILL ends a stopped process too
            await env.patch({"size": 4}, name=NAME)
            await env.until(settled(4), "4 members under the new leader", 400.0, NAME)
            assert (await lease_holder(cluster)).startswith(standby)
