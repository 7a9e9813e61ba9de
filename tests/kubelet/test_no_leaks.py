"""No container outlives the process that runs the LocalCluster: not on crash, not on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from tests.kubelet.helpers import wait_process_gone

# A LocalCluster in a child process; it prints the PID of its pod's container and waits.
SCRIPT = """
import asyncio
from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet import ImageResolver, LocalImage

async def main():
    resolver = ImageResolver()
    resolver.register("busybox*", LocalImage.host())
    async with LocalCluster(resolver=resolver) as cluster:
        api = cluster.client
        pod = {"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "image": "busybox", "command": ["sleep", "300"]}]}}
        await api.request("POST", "/api/v1/namespaces/default/pods", body=pod)
        pid = None
        while pid is None:  # a throwaway script: polling is fine here
            await asyncio.sleep(0.05)
            if cluster.kubelet.workers:
                pid = cluster.chaos.pid("default", "p")
        print(pid, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def _container_pid_of_child() -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = await proc.stdout.readline()
    return proc, int(line)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["crash", "ctrl-c"])
async def test_container_dies_with_the_cluster_process(sig: signal.Signals) -> None:
    proc, container = await _container_pid_of_child()
    os.kill(container, 0)  # alive
    proc.send_signal(sig)
    await proc.wait()
    await wait_process_gone(container, limit=10)
