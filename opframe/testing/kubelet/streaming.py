"""What ``kubectl exec``, ``attach``, ``cp`` and ``port-forward`` reach on the local node.

The API server speaks the wire protocols (``opframe.testing.apiserver.http.pod_streams``);
the kubelet provides the three operations on a running container, as kubelet's CRI streaming
server does: a command run inside the container's namespaces with its environment (``cp``
is ``tar`` run this way), the container's output from now on, and a TCP connection to a port
of the pod's address.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from opframe.testing.kubelet.container import ContainerRunner
from opframe.testing.kubelet.images import ImageNotFound
from opframe.testing.kubelet.pod import PodWorker
from opframe.testing.kubelet.runtime import TerminalProcess, exec_in_container

__all__ = ["Attachment", "attach", "exec_command", "port_forward"]


def _running(worker: PodWorker, container: str) -> ContainerRunner:
    for runner in worker.all_runners():
        if runner.name == container:
            if runner.process is None:
                raise LookupError(
                    f'unable to upgrade connection: container not found ("{container}")'
                )
            return runner
    raise LookupError(f"container {container} is not valid for pod {worker.name}")


async def exec_command(
    worker: PodWorker, container: str, command: list[str], *, stdin: bool, tty: bool = False
) -> asyncio.subprocess.Process | TerminalProcess:
    """Start ``command`` in ``container`` of ``worker``'s pod.

    Raises:
        LookupError: the container is not running, or its image has no such program
            (the message is the one kubectl prints).
    """
    runner = _running(worker, container)
    process = runner.process
    assert process is not None
    try:
        argv = runner.host_argv(command)
    except ImageNotFound as exc:
        raise LookupError(
            "OCI runtime exec failed: exec failed: unable to start container process: "
            f'exec: "{command[0]}": executable file not found in $PATH: {exc}'
        ) from None
    started = await exec_in_container(
        process.pid,
        argv,
        env=runner.env,
        workdir=runner.spec.get("workingDir"),
        stdin=stdin,
        tty=tty,
    )
    process.adopt(started.pid)
    return started


class Attachment:
    """``kubectl attach`` to a running container: its output from now on, its stdin (when
    the spec has ``stdin: true``) and its terminal (``tty: true``)."""

    def __init__(self, runner: ContainerRunner) -> None:
        process = runner.process
        assert process is not None
        self._process = process
        self._log = runner.logs[-1]
        self.stdin = process.stdin
        self.stdin_once = bool(runner.spec.get("stdinOnce"))

    def output(self) -> AsyncIterator[bytes]:
        """The container's output from now on, until the instance exits."""
        return self._log.read(follow=True, tail_lines=0)

    def resize(self, width: int, height: int) -> None:
        """The client's terminal size."""
        self._process.resize(width, height)


def attach(worker: PodWorker, container: str) -> Attachment:
    """Attach to ``container`` of ``worker``'s pod.

    Raises:
        LookupError: the container is not running.
    """
    return Attachment(_running(worker, container))


async def port_forward(
    worker: PodWorker, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to ``port`` on the pod's address.

    Raises:
        LookupError: the pod has no address yet.
        OSError: nothing listens there.
    """
    if not worker.ip:
        raise LookupError(f"pod {worker.name} has no IP address yet")
    return await asyncio.open_connection(worker.ip, port)
