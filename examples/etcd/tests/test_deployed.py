"""The etcd operator deployed by its own manifests (``kubectl apply -k deploy``) on LocalCluster.

The operator runs as a pod of its Deployment, under its ServiceAccount with the generated
least-privilege RBAC and leader election on, exactly as on a real cluster: nothing runs in the
test process but the workload and the checks. The steps are those of ``./run demo --deployed``
(:class:`etcd_operator_demo.deployed.Deployed`), so the demo and this test cannot drift apart.
Rules followed: a ReplicaSet replaces a deleted pod (``pkg/controller/replicaset/replica_set.go``
manageReplicas); a standby takes a Lease once ``leaseDurationSeconds`` passed since the holder's
last renewal (``staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go``
tryAcquireOrRenew).
"""

from __future__ import annotations

import shutil

import pytest
from etcd_operator_demo.deployed import Deployed
from etcd_operator_demo.workload import write_throughout

from opframe.testing import LocalCluster

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.kubectl,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]


async def test_deployed_operator_scales_and_its_replacement_pod_finishes_a_scale() -> None:
    """Deployed by `kubectl apply -k`, the operator pod brings up 3 members, scales to 5 and
    back; deleted mid-scale, the pod the ReplicaSet makes in its place finishes the job, and
    every key acknowledged throughout reads back."""
    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        steps = Deployed(cluster)
        [first] = await steps.deploy(replicas=1)
        await steps.apply_example()
        async with write_throughout(steps.endpoints):
            second = await steps.replace_operator_mid_scale(first)
        assert second != first


async def test_standby_operator_takes_the_lease_when_the_leader_is_killed() -> None:
    """Two operator pods: the Lease holder stops dead, and the standby takes the Lease within
    the lease duration (plus a retry period) and keeps managing: a scale step succeeds."""
    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        steps = Deployed(cluster)
        pods = await steps.deploy(replicas=2)
        await steps.apply_example()
        async with write_throughout(steps.endpoints):
            took = await steps.fail_over(pods)
        # leaseDurationSeconds 15 + retry period 2, with room for a loaded machine.
        assert took < 15.0 + 2.0 + 10.0, f"the standby took the Lease after {took:.1f}s"
