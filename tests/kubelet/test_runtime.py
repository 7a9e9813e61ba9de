"""Container processes: private /etc/hosts and volumes, logs, graceful stop."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from opframe.testing.kubelet.logs import LogFile
from opframe.testing.kubelet.runtime import (
    ContainerProcess,
    Mount,
    Sandbox,
    live_process_groups,
    run_in_sandbox,
)


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n127.9.0.1\tetcd-0.etcd.ns.svc.cluster.local\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "member").write_text("kept\n")
    return Sandbox(hosts, "etcd-0", (Mount(data, f"/tmp/opframe-test-mount-{tmp_path.name}"),))


async def _run(sandbox: Sandbox, log: LogFile, script: str, **env: str) -> int:
    proc = await ContainerProcess.start(["sh", "-c", script], env=env, sandbox=sandbox, log=log)
    return await proc.wait()


async def test_container_sees_its_hosts_file_as_etc_hosts(sandbox: Sandbox, tmp_path: Path) -> None:
    log = LogFile(tmp_path / "log")
    assert await _run(sandbox, log, "cat /etc/hosts") == 0
    assert "etcd-0.etcd.ns.svc.cluster.local" in log.text()


async def test_host_etc_hosts_is_untouched(sandbox: Sandbox, tmp_path: Path) -> None:
    await _run(sandbox, LogFile(tmp_path / "log"), "true")
    assert "etcd-0.etcd" not in _host_etc_hosts()


async def test_volume_is_visible_at_its_mount_path(sandbox: Sandbox, tmp_path: Path) -> None:
    log = LogFile(tmp_path / "log")
    target = sandbox.mounts[0].target
    assert await _run(sandbox, log, f"cat {target}/member; echo new > {target}/written") == 0
    assert log.text() == "kept\n"
    assert (sandbox.mounts[0].source / "written").read_text() == "new\n"


async def test_env_is_exactly_the_containers(sandbox: Sandbox, tmp_path: Path) -> None:
    log = LogFile(tmp_path / "log")
    await _run(sandbox, log, "echo $FOO; echo ${OPFRAME_UNSET_IN_CONTAINER:-unset}", FOO="bar")
    assert log.text() == "bar\nunset\n"


async def test_exit_code_is_reported(sandbox: Sandbox, tmp_path: Path) -> None:
    assert await _run(sandbox, LogFile(tmp_path / "log"), "exit 7") == 7


async def test_stop_sends_sigterm_first(sandbox: Sandbox, tmp_path: Path) -> None:
    log = LogFile(tmp_path / "log")
    proc = await ContainerProcess.start(
        ["sh", "-c", "trap 'echo got-term; exit 0' TERM; echo up; while :; do sleep 0.05; done"],
        env={},
        sandbox=sandbox,
        log=log,
    )
    await _wait_for_output(log, b"up")
    assert await proc.stop(5.0) == 0
    assert "got-term" in log.text()


async def test_stop_kills_after_the_grace_period(sandbox: Sandbox, tmp_path: Path) -> None:
    log = LogFile(tmp_path / "log")
    proc = await ContainerProcess.start(
        ["sh", "-c", "trap '' TERM; echo up; sleep 30 & wait"], env={}, sandbox=sandbox, log=log
    )
    await _wait_for_output(log, b"up")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await proc.stop(0.3) == 128 + signal.SIGKILL
    assert loop.time() - started < 3.0
    assert proc.pid not in live_process_groups()


async def test_children_die_with_the_container(sandbox: Sandbox, tmp_path: Path) -> None:
    log = LogFile(tmp_path / "log")
    proc = await ContainerProcess.start(
        ["sh", "-c", "sleep 30 & echo up; exit 0"], env={}, sandbox=sandbox, log=log
    )
    assert await proc.wait() == 0
    # SIGKILL to the group is sent when the shell exits; the kernel finishes the children a
    # moment later, so wait for that (bounded) rather than race it.
    await _until_group_gone(proc.pid)


async def test_follow_streams_until_the_instance_exits(sandbox: Sandbox, tmp_path: Path) -> None:
    log = LogFile(tmp_path / "log")
    proc = await ContainerProcess.start(
        ["sh", "-c", "echo one; sleep 0.2; echo two"], env={}, sandbox=sandbox, log=log
    )
    chunks = [c async for c in log.read(follow=True, tail_lines=None)]
    await proc.wait()
    assert b"".join(chunks) == b"one\ntwo\n"


async def test_tail_lines_returns_the_last_lines(sandbox: Sandbox, tmp_path: Path) -> None:
    log = LogFile(tmp_path / "log")
    await _run(sandbox, log, "printf 'a\\nb\\nc\\n'")
    assert [c async for c in log.read(follow=False, tail_lines=2)] == [b"b\nc\n"]


async def test_exec_in_sandbox_reports_code_and_output(sandbox: Sandbox) -> None:
    assert await run_in_sandbox(
        ["sh", "-c", "echo hi; exit 3"], env={}, sandbox=sandbox, time_limit=5
    ) == (3, "hi\n")


async def test_exec_in_sandbox_times_out(sandbox: Sandbox) -> None:
    code, _ = await run_in_sandbox(["sleep", "5"], env={}, sandbox=sandbox, time_limit=0.2)
    assert code == 124


def _host_etc_hosts() -> str:
    return Path("/etc/hosts").read_text()


async def _until_group_gone(pgid: int) -> None:
    async with asyncio.timeout(5):
        while True:
            if pgid not in live_process_groups():
                return
            await asyncio.sleep(0.01)  # /proc offers nothing to wait on


async def _wait_for_output(log: LogFile, needle: bytes) -> None:
    seen = b""
    async with asyncio.timeout(5):
        async for chunk in log.read(follow=True, tail_lines=None):
            seen += chunk
            if needle in seen:
                return
