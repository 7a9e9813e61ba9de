"""The demo (``python -m etcd_operator_demo demo``) and ``python -m etcd_operator run`` as a
user runs them: separate processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
from etcd_e2e import kubectl

from opframe.testing import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

EXAMPLE = Path(__file__).resolve().parents[1]
KUBECTL = shutil.which("kubectl")


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


async def _python(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # A test runner may ignore SIGINT for its children; the demo must see Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


async def _read_until(proc: asyncio.subprocess.Process, text: str, lines: list[str]) -> None:
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise AssertionError(f"exited before printing {text!r}:\n{''.join(lines)}")
        lines.append(line)
        if text in line:
            return


async def test_demo_walks_the_whole_scenario_and_exits_0() -> None:
    proc = await _python("-m", "etcd_operator_demo", "demo")
    out, _ = await asyncio.wait_for(proc.communicate(), 140)
    text = out.decode()
    assert proc.returncode == 0, text
    summary = [line for line in text.splitlines() if line.startswith("summary:")]
    assert summary and "0 lost" in summary[0], text
    steps = ("Available", "scaled to 5", "upgraded 5 members", "healed", "read back all")
    for step in (*steps, "backup Succeeded", "restored: demo-restored Available"):
        assert step in text, text


async def test_demo_interrupted_stops_every_process_it_started() -> None:
    proc = await _python("-m", "etcd_operator_demo", "demo")
    lines: list[str] = []
    try:
        await asyncio.wait_for(_read_until(proc, "Available", lines), 60)
        started = _descendants(proc.pid)
        assert started, "the demo runs its etcd members as child processes"
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 130, "".join(lines)
    assert not _alive(started), "processes left behind after Ctrl-C"


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
async def test_run_manages_a_cluster_applied_with_kubectl_on_a_detached_control_plane(
    tmp_path: Path,
) -> None:
    assert KUBECTL is not None
    state = tmp_path / "local"
    up = await _python("-m", "opframe", "local", "up", "--state-dir", str(state))
    await asyncio.wait_for(up.communicate(), 60)
    assert up.returncode == 0
    kubeconfig = state / "kubeconfig"
    # The CRD first: `run` refuses to start, naming it, when the cluster does not serve it.
    # Only the EtcdCluster CRD: without the EtcdBackup one, backups are off (said once) and
    # the operator still manages clusters.
    await kubectl(kubeconfig, "apply", "-f", str(EXAMPLE / "deploy" / "crd.yaml"))
    await kubectl(
        kubeconfig, "wait", "--for=condition=Established", "crd/etcdclusters.etcd.opframe.dev"
    )
    operator = await _python(
        "-m", "etcd_operator", "run", "--kubeconfig", str(kubeconfig),
        "--bind-address", "127.0.0.1", "--health-port", "0", "--metrics-port", "0",
    )  # fmt: skip
    try:
        await kubectl(kubeconfig, "apply", "-f", str(EXAMPLE / "deploy" / "example-cluster.yaml"))

        async def ready() -> bool:
            out = await kubectl(
                kubeconfig, "get", "etcd", "demo", "-o", "jsonpath={.status.readyMembers}"
            )
            return out.strip() == "3"

        await eventually(ready, message="3 members ready", timeout=60)
        table = await kubectl(kubeconfig, "get", "etcd", "demo")
        assert "Running" in table and "3.5.1" in table
    finally:
        operator.send_signal(signal.SIGTERM)
        log = (await asyncio.wait_for(operator.communicate(), 30))[0].decode()
        down = await _python("-m", "opframe", "local", "down", "--state-dir", str(state))
        await asyncio.wait_for(down.communicate(), 60)
    assert operator.returncode == 0
    assert log.count("backups are off") == 1, log
    assert "crd-backup.yaml" in log
