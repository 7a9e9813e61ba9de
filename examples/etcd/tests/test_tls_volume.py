"""The local kubelet updates a mounted Secret in place, as kubelet does.

Rule: kubelet ``pkg/volume/secret`` + ``pkg/volume/util/atomic_writer.go``: a Secret volume
(not a ``subPath`` mount) follows the Secret; the new files appear together through one
symlink swap, and the container is not restarted. This is what lets a renewed etcd
certificate reach a running member.
"""

from __future__ import annotations

import asyncio

import pytest

from opframe import Pod, Secret
from opframe.testing import LocalCluster, eventually

pytestmark = [pytest.mark.timeout(90)]


async def test_running_pod_sees_a_changed_secret_without_a_restart() -> None:
    async with LocalCluster() as cluster:
        client = cluster.client
        await client.create(
            Secret(metadata={"name": "tls", "namespace": "default"}, string_data={"v": "one"})
        )
        script = "while true; do cat /tls/v; echo; sleep 0.2; done"
        await client.create(
            Pod.model_validate(
                {
                    "metadata": {"name": "reader", "namespace": "default"},
                    "spec": {
                        "containers": [
                            {
                                "name": "main",
                                "image": "busybox:1.36",
                                "command": ["sh", "-c", script],
                                "volumeMounts": [
                                    {"name": "tls", "mountPath": "/tls", "readOnly": True}
                                ],
                            }
                        ],
                        "volumes": [{"name": "tls", "secret": {"secretName": "tls"}}],
                    },
                }
            )
        )

        async def logged(text: str) -> bool:
            seen = b""
            try:
                async with asyncio.timeout(5):
                    logs = cluster.kubelet.pod_log("default", "reader", None, follow=True)
                    async for chunk in logs:
                        seen += chunk
                        if text.encode() in seen:
                            return True
            except (LookupError, TimeoutError):
                pass  # not running yet, or not written yet: look again
            return False

        await eventually(lambda: logged("one"), message="the Secret mounted", timeout=30)
        await client.patch(Secret, "tls", {"stringData": {"v": "two"}}, namespace="default")
        await eventually(lambda: logged("two"), message="the new value in place", timeout=30)
        pod = await client.get(Pod, "reader", "default")
        statuses = (pod.status.container_statuses if pod.status else None) or []
        assert statuses and statuses[0].restart_count == 0
