"""The chaos suite's harness: operator processes, a recording writer, a verifier, figures.

Every scenario writes keys throughout (:class:`~etcd_operator_demo.workload.KeyWriter` records
each acknowledged write and when), then :func:`verify` reads every acknowledged key back
linearizably and checks that every member answers with the one cluster ID status recorded
and that the member list has no duplicate. :data:`FIGURES` collects, per scenario, writes
acknowledged and lost, time to converge and the longest gap between acknowledged writes; the
chaos ``conftest.py`` prints them at the end of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from etcd_e2e import EtcdEnv, settled
from etcd_operator.membership import EtcdAdmin, MembershipError
from etcd_operator_demo.workload import KeyWriter

from opframe.kinds import Event
from opframe.testing import eventually

LONG = os.environ.get("OPFRAME_CHAOS", "") == "long"
"""``./run chaos`` sets ``OPFRAME_CHAOS=long``: every scenario runs, not only the short form."""

HERE = Path(__file__).resolve().parent

__all__ = ["FIGURES", "LONG", "Figures", "OperatorProcess", "events", "operators", "scenario"]


@dataclass(frozen=True)
class Figures:
    """What one scenario measured."""

    scenario: str
    acknowledged: int
    lost: int
    converge_s: float
    longest_gap_s: float


FIGURES: list[Figures] = []


class OperatorProcess:
    """``operator_proc.py`` as a child process: start, SIGKILL, SIGSTOP/SIGCONT, wait."""

    def __init__(self, kubeconfig: Path, identity: str | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.identity = identity
        self.proc: asyncio.subprocess.Process | None = None
        self.log = kubeconfig.parent / f"operator-{identity or 'single'}.log"
        """Its stderr (the operator's log), shown when a scenario fails."""

    async def start(self) -> OperatorProcess:
        args = [str(HERE / "operator_proc.py"), str(self.kubeconfig)]
        if self.identity:
            args += ["--leader-elect", self.identity]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), *sys.path])}
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *args,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        return self

    def log_tail(self, lines: int = 80) -> str:
        """The last ``lines`` lines of its log."""
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def leading(self, deadline: float = 30.0) -> None:
        """Wait until its controllers run (it holds the Lease, when leader-elected)."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(deadline):
            line = await self.proc.stdout.readline()
        assert line.strip() == b"leading", f"operator process said {line!r}"

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def exited(self, deadline: float) -> int | None:
        """Its exit code once it exits within ``deadline`` seconds, else ``None``."""
        assert self.proc is not None
        try:
            async with asyncio.timeout(deadline):
                return await self.proc.wait()
        except TimeoutError:
            return None

    async def kill(self) -> None:
        """SIGKILL (after a SIGCONT, in case it is frozen) and reap."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
                self.proc.kill()
            await self.proc.wait()


@contextlib.asynccontextmanager
async def operators(env: EtcdEnv, *identities: str | None) -> AsyncIterator[list[OperatorProcess]]:
    """Operator processes against ``env``'s control plane, all killed on exit."""
    procs = [OperatorProcess(env.cluster.kubeconfig, i) for i in identities]
    try:
        for p in procs:
            await p.start()
        yield procs
    except BaseException:
        for p in procs:
            print(f"--- operator {p.identity or 'single'}: last lines of {p.log} ---")
            print(p.log_tail())
        await _print_member_logs(env)
        raise
    finally:
        for p in procs:
            await p.kill()


async def _print_member_logs(env: EtcdEnv, lines: int = 30) -> None:
    """The last lines of every running etcd member's log (from the kubelet itself, so this
    works while the API server is down): the temp directory holding them goes with the test."""
    kubelet = env.cluster.kubelet
    for worker in list(kubelet.workers.values()):
        print(f"--- etcd member {worker.namespace}/{worker.name}: last {lines} lines ---")
        try:
            async for chunk in kubelet.pod_log(
                worker.namespace, worker.name, "etcd", tail_lines=lines
            ):
                print(chunk.decode(errors="replace"), end="")
        except LookupError as e:
            print(f"(no log: {e})")


async def events(env: EtcdEnv, reason: str, name: str = "e2e") -> int:
    """How many times an Event of ``reason`` was recorded about the cluster (counts summed)."""
    listed = await env.client.list(Event, "default")
    return sum(
        e.count or 1 for e in listed.items if e.reason == reason and e.involved_object.name == name
    )


async def _membership(env: EtcdEnv, name: str) -> tuple[list[str], list[str], set[int]]:
    """Live member names and peer URLs, and the cluster IDs every member pod answers with."""
    endpoints = await env.endpoints(name)
    async with EtcdAdmin(endpoints) as admin:
        members = await admin.member_list()
        ids = {(await admin.status(e)).cluster_id for e in endpoints}
    learners = [m.name or "(learner)" for m in members if m.is_learner]
    names = [m.name for m in members if not m.is_learner] + learners
    return names, [u for m in members for u in m.peer_urls], ids


def _live_converged(env: EtcdEnv, size: int, name: str) -> Callable[[], Awaitable[bool]]:
    """etcd itself (not only status) shows ``size`` started voters, one per pod."""

    async def check() -> bool:
        try:
            names, _, ids = await _membership(env, name)
        except MembershipError:
            return False
        return len(names) == size and all(names) and len(set(names)) == size and len(ids) == 1

    return check


async def verify(env: EtcdEnv, writer: KeyWriter, size: int, name: str = "e2e") -> int:
    """Every acknowledged write reads back; one cluster ID; no duplicate member. Returns the
    number of lost writes (the caller asserts 0, after recording the figure)."""
    lost: list[str] = []

    async def read_back() -> bool:
        nonlocal lost
        try:
            lost = await writer.verify()
        except ConnectionError:
            return False
        return True

    await eventually(read_back, message="every acknowledged write read back", timeout=30)
    cluster = await env.get(name)
    assert cluster.status is not None and cluster.status.cluster_id
    recorded = int(cluster.status.cluster_id, 16)
    names, urls, ids = await _membership(env, name)
    assert ids == {recorded}, f"members answer with cluster IDs {ids}, status has {recorded:x}"
    assert len(urls) == len(set(urls)), f"duplicate peer URLs in {urls}"
    assert len(names) == len(set(names)) == size, f"members {names}, expected {size}"
    return len(lost)


@contextlib.asynccontextmanager
async def scenario(
    env: EtcdEnv, title: str, size: int, name: str = "e2e"
) -> AsyncIterator[KeyWriter]:
    """Write throughout: writes must flow before the block (the disruption), the cluster must
    settle at ``size`` after it and writes flow again; then :func:`verify`.

    The time to converge counts from the start of the block to settled.
    """
    writer = KeyWriter(lambda: env.endpoints(name))
    task = asyncio.create_task(writer.run())
    try:
        await eventually(_acked(writer, 20), message=f"{title}: writes flowing before", timeout=30)
        start = time.monotonic()
        yield writer
        # Status can still show the state before the disruption: etcd itself must agree.
        await eventually(
            _live_converged(env, size, name), message=f"{title}: etcd at {size}", timeout=120
        )
        await env.until(settled(size), f"{title}: converged at {size}", 120, name=name)
        converge = time.monotonic() - start
        await eventually(
            _acked(writer, len(writer.acknowledged) + 20),
            message=f"{title}: writes flowing after",
            timeout=30,
        )
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)
        assert done, "the key writer did not stop"
    lost = await verify(env, writer, size, name)
    FIGURES.append(Figures(title, len(writer.acknowledged), lost, converge, writer.longest_gap()))
    assert lost == 0, f"{lost} acknowledged writes lost"


def _acked(writer: KeyWriter, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(writer.acknowledged) >= n

    return check
