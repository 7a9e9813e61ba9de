"""Chaos for tests: kill, freeze and thaw containers, wipe emptyDirs, lose the node.

Each operation names a pod (and optionally a container, default: the pod's first) on the
local node and acts on the real process or directory, so what an operator sees afterwards
is what a real failure would show: a container restart with ``lastState.terminated``, a
member that stops answering, a member with an empty data directory, a NotReady node.

Example::

    chaos = Chaos(cluster.kubelet)
    pid = chaos.kill("default", "etcd-0")
    chaos.freeze("default", "etcd-1"); ...; chaos.thaw("default", "etcd-1")
"""

from __future__ import annotations

import signal

from opframe.testing.kubelet.container import ContainerRunner
from opframe.testing.kubelet.kubelet import Kubelet

__all__ = ["Chaos"]


class Chaos:
    """Failure injection on one :class:`~opframe.testing.kubelet.kubelet.Kubelet`."""

    def __init__(self, kubelet: Kubelet) -> None:
        self._kubelet = kubelet

    def _runner(self, namespace: str, pod: str, container: str | None) -> ContainerRunner:
        worker = self._kubelet.worker(namespace, pod)
        runners = worker.all_runners()
        if container is None:
            return worker.runners[0]
        for runner in runners:
            if runner.name == container:
                return runner
        raise LookupError(f"pod {namespace}/{pod} has no container {container!r}")

    def pid(self, namespace: str, pod: str, container: str | None = None) -> int | None:
        """The PID of the container's running process, or None if it is not running."""
        process = self._runner(namespace, pod, container).process
        return None if process is None else process.pid

    def _signal(self, namespace: str, pod: str, container: str | None, sig: signal.Signals) -> int:
        runner = self._runner(namespace, pod, container)
        pid = None if runner.process is None else runner.process.pid
        if pid is None or not runner.signal(sig):
            raise LookupError(f"container {runner.name} of pod {namespace}/{pod} is not running")
        return pid

    def kill(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        sig: signal.Signals = signal.SIGKILL,
    ) -> int:
        """Kill the container's process (SIGKILL by default); return the PID killed.

        The kubelet then sees the exit and restarts the container per ``restartPolicy``.
        """
        return self._signal(namespace, pod, container, sig)

    def freeze(self, namespace: str, pod: str, container: str | None = None) -> int:
        """Stop the process (SIGSTOP): it holds its sockets but answers nothing."""
        return self._signal(namespace, pod, container, signal.SIGSTOP)

    def thaw(self, namespace: str, pod: str, container: str | None = None) -> int:
        """Resume a frozen process (SIGCONT)."""
        return self._signal(namespace, pod, container, signal.SIGCONT)

    def wipe_empty_dir(self, namespace: str, pod: str, volume: str) -> None:
        """Delete everything in one of the pod's emptyDir volumes (a lost local disk)."""
        worker = self._kubelet.worker(namespace, pod)
        volumes = {v["name"]: v for v in (worker.pod.get("spec") or {}).get("volumes") or []}
        if "emptyDir" not in volumes.get(volume, {}):
            raise LookupError(f"pod {namespace}/{pod} has no emptyDir volume {volume!r}")
        self._kubelet.volumes.wipe_empty_dir(worker.uid, volume)

    async def node_not_ready(self) -> None:
        """Make the node NotReady: heartbeats stop, Ready turns Unknown, pods turn unready."""
        await self._kubelet.node.set_ready(False)
        for worker in self._kubelet.workers.values():
            worker.changed()

    async def node_ready(self) -> None:
        """Bring the node back: heartbeats resume and pods report their real readiness."""
        await self._kubelet.node.set_ready(True)
        for worker in self._kubelet.workers.values():
            worker.changed()
