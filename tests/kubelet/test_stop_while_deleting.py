"""A LocalCluster stops promptly while the kubelet is still stopping a deleted pod.

Found by the etcd day-2 metrics e2e (it deletes its cluster and ends at once): one run in ten
hung in teardown until pytest-timeout. The kubelet's shutdown cancelled the pod's stop task,
whose cleanup removed the pod directory under the still-running worker; the worker's log pump
then failed (FileNotFoundError) on the way out, its task group raised that instead of the
cancellation, and the worker's guard caught it as an ordinary failure and went on waiting,
the cancel request swallowed, so the kubelet's task group never finished.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet import ImageResolver, LocalImage
from tests.kubelet.helpers import busybox_pod, create, wait_pod


def _running(pod: dict[str, object] | None) -> bool:
    return bool(pod) and (pod or {}).get("status", {}).get("phase") == "Running"  # type: ignore[union-attr]


@pytest.mark.timeout(90)  # the regression is a hang: it shows as this test's timeout
async def test_the_cluster_stops_while_a_noisy_pod_is_being_deleted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    resolver = ImageResolver()
    resolver.register("busybox*", LocalImage.host())
    # Ignores SIGTERM (its stop waits out the grace period) and writes without pause (the log
    # pump has output to write when the shutdown cuts the stop short).
    script = "trap '' TERM; while :; do echo line; done"
    loop = asyncio.get_running_loop()
    for _ in range(3):  # the interleaving that hung is likely, not certain, in one round
        async with LocalCluster(resolver=resolver, backoff_base=0.3, heartbeat=1.0) as cluster:
            pod = busybox_pod("noisy", script, terminationGracePeriodSeconds=30)
            await create(cluster, "pods", pod)
            await wait_pod(cluster, "noisy", _running)
            await cluster.client.request("DELETE", "/api/v1/namespaces/default/pods/noisy")
            await wait_pod(
                cluster,
                "noisy",
                lambda p: bool(p) and bool((p or {}).get("metadata", {}).get("deletionTimestamp")),
            )
            stopping = loop.time()
        # Leaving the block stops the kubelet in the middle of the pod's 30 s grace period.
        assert loop.time() - stopping < 20, "the LocalCluster took the pod's whole grace period"
    # The pod's worker ends before its directory is removed: no failure on the way out.
    failed = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failed == []
