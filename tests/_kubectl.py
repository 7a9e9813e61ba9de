"""Running programs from the tests without blocking the event loop that serves them: one
``run`` with a deadline, and ``kubectl`` against anything that has a kubeconfig (an
``ApiServer`` or a ``LocalCluster``)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import NamedTuple, Protocol

__all__ = ["DEADLINE", "KUBECTL", "Ran", "kubectl", "kubectl_ok", "run"]

KUBECTL = shutil.which("kubectl")
DEADLINE = 120.0


class Ran(NamedTuple):
    """How a program ended: its exit code and its decoded standard output and error."""

    code: int
    out: str
    err: str


class HasKubeconfig(Protocol):
    @property
    def kubeconfig(self) -> Path: ...


async def run(
    *argv: str,
    stdin: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    deadline: float = DEADLINE,
) -> Ran:
    """Run ``argv`` with ``stdin``; killed (and the TimeoutError raised) after ``deadline``."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(deadline):
            out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return Ran(proc.returncode or 0, out.decode(), err.decode())


async def kubectl(
    target: HasKubeconfig, *args: str, stdin: str | None = None, deadline: float = DEADLINE
) -> Ran:
    """``kubectl --kubeconfig <target's> ARGS``."""
    assert KUBECTL is not None, "needs the kubectl binary"
    return await run(
        KUBECTL, "--kubeconfig", str(target.kubeconfig), *args, stdin=stdin, deadline=deadline
    )


async def kubectl_ok(
    target: HasKubeconfig, *args: str, stdin: str | None = None, deadline: float = DEADLINE
) -> str:
    """:func:`kubectl` that must succeed; its standard output."""
    ran = await kubectl(target, *args, stdin=stdin, deadline=deadline)
    assert ran.code == 0, f"kubectl {' '.join(args)} failed: {ran.err}"
    return ran.out
