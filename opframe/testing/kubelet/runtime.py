"""Container processes: start one in a private mount namespace, capture its logs, stop it.

Each container runs as::

    setpriv --pdeathsig KILL -- unshare -m -u --propagation private -- /bin/sh -c SCRIPT

(``unshare -Urmu`` when not root), where SCRIPT bind-mounts the pod's hosts file over
``/etc/hosts`` and each volume directory over its mount path, sets the pod's hostname and
``exec``\\ s the container's program. ``exec`` keeps one PID from ``setpriv`` to the program,
so the PID we hold *is* the container, the parent-death signal reaches it if the kubelet dies
without cleaning up, and the process group (each container starts its own session) holds
whatever it forks. Mount points that do not exist are created on the host (as a container
runtime would inside the image); a mount point that cannot be created is skipped with a note
in the container's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import shlex
import shutil
import signal
import struct
import termios
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from opframe.testing.kubelet.logs import LogFile

__all__ = [
    "ContainerProcess",
    "Mount",
    "Sandbox",
    "TerminalProcess",
    "exec_in_container",
    "exit_code",
    "live_process_groups",
    "run_in_sandbox",
    "wrap_argv",
]

# Every process group this process ever started, for leak checks (see live_process_groups).
_STARTED_GROUPS: set[int] = set()

_CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _tool(name: str) -> str:
    found = shutil.which(name, path=_CONTAINER_PATH + ":" + os.environ.get("PATH", ""))
    if found is None:
        raise RuntimeError(f"the local kubelet needs {name!r} (util-linux) on PATH")
    return found


@dataclass(frozen=True)
class Mount:
    """A host directory (or file) made visible at ``target`` inside the container."""

    source: Path
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Sandbox:
    """The pod-level view a container gets: hosts file, hostname, mounts."""

    hosts_file: Path
    hostname: str
    mounts: tuple[Mount, ...] = ()


def wrap_argv(argv: Sequence[str], sandbox: Sandbox, workdir: str | None = None) -> list[str]:
    """The host argv that runs ``argv`` inside a private mount and UTS namespace."""
    mount, mkdir, hostname = _tool("mount"), _tool("mkdir"), _tool("hostname")
    q = shlex.quote
    steps = [f"{mount} --bind {q(str(sandbox.hosts_file))} /etc/hosts"]
    for m in sandbox.mounts:
        make = f"{mkdir} -p {q(m.target)}" if m.source.is_dir() else f": > {q(m.target)}"
        bind = f"{mount} --bind {q(str(m.source))} {q(m.target)}"
        if m.read_only:
            bind += f" && {mount} -o remount,bind,ro {q(m.target)}"
        steps.append(
            f"{{ {{ [ -e {q(m.target)} ] || {make}; }} && {bind}; }} 2>/dev/null"
            f" || echo {q(f'opframe: cannot mount a volume at {m.target}')} >&2"
        )
    if sandbox.hostname:
        steps.append(f"{hostname} {q(sandbox.hostname)} 2>/dev/null || true")
    if workdir:
        steps.append(f"cd {q(workdir)}")
    steps.append("exec " + " ".join(q(a) for a in argv))
    script = "\n".join(steps)
    userns = [] if os.geteuid() == 0 else ["-U", "-r"]
    namespaces = [*userns, *"-m -u --propagation private --".split()]
    setpriv, unshare = _tool("setpriv"), _tool("unshare")
    return [setpriv, "--pdeathsig", "KILL", "--", unshare, *namespaces, "/bin/sh", "-ec", script]


def exit_code(returncode: int) -> int:
    """A container exit code: a process killed by signal N reports 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class ContainerProcess:
    """One running instance of a container.

    Use :meth:`start`, then :meth:`wait` for its exit code; :meth:`stop` is the graceful
    SIGTERM, grace period, SIGKILL sequence. Everything in its process group is killed when
    the main process exits, as a container's processes die with its PID 1.
    """

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        log: LogFile,
        output: asyncio.StreamReader,
        stdin: asyncio.StreamWriter | None = None,
        terminal: int | None = None,
    ) -> None:
        self._proc = proc
        self.log = log
        self._output = output
        #: the container's stdin (``stdin: true`` in its spec), for ``kubectl attach -i``
        self.stdin = stdin
        self._terminal = terminal  # the pty master of a ``tty: true`` container
        self._pump = asyncio.create_task(self._copy_output(), name=f"logs-{proc.pid}")
        self._exited: int | None = None
        self._execs: set[int] = set()  # process groups of `kubectl exec` commands in it

    @property
    def pid(self) -> int:
        """The container's PID (also its process group id)."""
        return self._proc.pid

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        sandbox: Sandbox,
        log: LogFile,
        workdir: str | None = None,
        stdin: bool = False,
        tty: bool = False,
    ) -> ContainerProcess:
        """Start ``argv`` in ``sandbox`` with exactly ``env`` (plus a default PATH).

        ``stdin``: keep a pipe to the container's stdin open (the spec's ``stdin: true``);
        ``tty``: run it on a pseudo-terminal, its controlling terminal (``tty: true``).
        """
        full_env = {"PATH": _CONTAINER_PATH, **({"TERM": "xterm"} if tty else {}), **env}
        loop = asyncio.get_running_loop()
        if tty:
            return await cls._start_on_terminal(argv, full_env, sandbox, log, workdir, stdin)
        # Our own pipe rather than asyncio's: asyncio's Process.wait() also waits for its
        # pipes to close, which a forked child holding stdout would delay past the exit.
        read_end, write_end = os.pipe()
        in_read, in_write = os.pipe() if stdin else (None, None)
        try:
            proc = await asyncio.create_subprocess_exec(
                *wrap_argv(argv, sandbox, workdir),
                env=full_env,
                stdin=in_read if in_read is not None else asyncio.subprocess.DEVNULL,
                stdout=write_end,
                stderr=write_end,
                start_new_session=True,
            )
        except BaseException:
            os.close(read_end)
            if in_write is not None:
                os.close(in_write)
            raise
        finally:
            os.close(write_end)
            if in_read is not None:
                os.close(in_read)
        _STARTED_GROUPS.add(proc.pid)
        try:
            reader = asyncio.StreamReader(loop=loop)
            await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
                os.fdopen(read_end, "rb", 0),
            )
            writer = await _writer(in_write) if in_write is not None else None
        except BaseException:
            # Cancelled (kubelet shutdown) or failed after the fork: no caller holds the
            # process yet, so it must die here or it outlives the kubelet.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        return cls(proc, log, reader, writer)

    @classmethod
    async def _start_on_terminal(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        sandbox: Sandbox,
        log: LogFile,
        workdir: str | None,
        stdin: bool,
    ) -> ContainerProcess:
        # A session of its own (so a group to kill) with the pty as its controlling
        # terminal, as a runtime sets up a tty container.
        proc, master, reader, writer = await _start_on_pty(
            wrap_argv(argv, sandbox, workdir), env, stdin
        )
        return cls(proc, log, reader, writer, terminal=master)

    def resize(self, width: int, height: int) -> None:
        """Resize the container's terminal (``kubectl attach -t``); no-op without one."""
        if self._terminal is not None:
            with contextlib.suppress(OSError):
                size = struct.pack("HHHH", height, width, 0, 0)
                fcntl.ioctl(self._terminal, termios.TIOCSWINSZ, size)

    async def _copy_output(self) -> None:
        try:
            while True:
                try:
                    chunk = await self._output.read(65536)
                except OSError:  # a terminal's master answers EIO once the container is gone
                    break
                if not chunk:
                    break
                await self.log.append(chunk)
        finally:
            await self.log.close()
            if self.stdin is not None:
                self.stdin.close()

    async def wait(self) -> int:
        """Wait for the container to exit; return its exit code (128 + signal if killed)."""
        if self._exited is None:
            rc = await self._proc.wait()
            self.kill_group()
            # The pipe closes once every process holding it is gone, which the kill ensures.
            await self._pump
            self._exited = exit_code(rc)
        return self._exited

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the container's main process (ignored once it has exited)."""
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, sig)

    def kill_group(self) -> None:
        """SIGKILL every process in the container's group, and its exec'd commands, now."""
        for group in (self._proc.pid, *self._execs):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)

    def adopt(self, group: int) -> None:
        """Kill process group ``group`` with the container (an exec'd command, which a real
        runtime would have started inside the container's PID namespace)."""
        self._execs.add(group)

    async def stop(self, grace: float) -> int:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; return the exit code."""
        if self._proc.returncode is None:
            # A frozen process cannot act on SIGTERM; thaw it as a runtime would.
            self.send_signal(signal.SIGCONT)
            self.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(max(grace, 0.0)):
                    await asyncio.shield(self._proc.wait())
            except TimeoutError:
                self.kill_group()
        return await self.wait()

    async def kill(self) -> int:
        """SIGKILL the whole process group at once; return the exit code."""
        self.kill_group()
        return await self.wait()


async def run_in_sandbox(
    argv: Sequence[str], *, env: Mapping[str, str], sandbox: Sandbox, time_limit: float
) -> tuple[int, str]:
    """Run a short command (an exec probe) in a sandbox like the container's.

    Returns the exit code and the output (last 1 KiB); a timeout kills the command's group
    and reports exit code 124 as ``timeout(1)`` does.
    """
    proc = await asyncio.create_subprocess_exec(
        *wrap_argv(argv, sandbox),
        env={"PATH": _CONTAINER_PATH, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    _STARTED_GROUPS.add(proc.pid)
    try:
        async with asyncio.timeout(time_limit):
            out, _ = await proc.communicate()
    except TimeoutError:
        return 124, "command timed out"
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            await proc.wait()
    return exit_code(proc.returncode or 0), out.decode(errors="replace")[-1024:]


async def _start_on_pty(
    argv: Sequence[str], env: Mapping[str, str], stdin: bool
) -> tuple[asyncio.subprocess.Process, int, asyncio.StreamReader, asyncio.StreamWriter | None]:
    """Start ``argv`` under ``setsid --ctty`` with a new pseudo-terminal as stdin, stdout,
    stderr and controlling terminal; returns the process, the pty master, a reader of the
    terminal's output and (if ``stdin``) a writer to its input."""
    master, slave = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            _tool("setsid"), "--ctty", *argv,
            env=env, stdin=slave, stdout=slave, stderr=slave,
        )  # fmt: skip
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    _STARTED_GROUPS.add(proc.pid)
    loop = asyncio.get_running_loop()
    try:
        reader = asyncio.StreamReader(loop=loop)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(master, "rb", 0)
        )
        writer = await _writer(os.dup(master)) if stdin else None
    except BaseException:
        # As for a pipe container: nobody holds the process yet, so it dies here.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc, master, reader, writer


async def _writer(fd: int) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader(loop=loop), loop=loop),
        os.fdopen(fd, "wb", 0),
    )
    return asyncio.StreamWriter(transport, protocol, None, loop)


class TerminalProcess:
    """An exec'd command on a pseudo-terminal (``kubectl exec -t``): one output stream."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        master: int,
        stdin: asyncio.StreamWriter | None,
        stdout: asyncio.StreamReader,
    ) -> None:
        self._proc = proc
        self._master = master
        self.stdin = stdin
        self.stdout: asyncio.StreamReader | None = stdout
        self.stderr: asyncio.StreamReader | None = None
        self.pid = proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited."""
        return self._proc.returncode

    async def wait(self) -> int:
        """Wait for the command to exit; return its exit code."""
        return exit_code(await self._proc.wait())

    def kill(self) -> None:
        """SIGKILL the command's process group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)

    def resize(self, width: int, height: int) -> None:
        """The client's terminal changed size (``TIOCSWINSZ``, as a runtime's resize)."""
        with contextlib.suppress(OSError):
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


async def exec_in_container(
    pid: int,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    workdir: str | None = None,
    stdin: bool = False,
    tty: bool = False,
) -> asyncio.subprocess.Process | TerminalProcess:
    """Start ``argv`` inside the namespaces of container process ``pid`` (``kubectl exec``).

    ``nsenter`` joins its mount and UTS namespaces (and its user namespace when not root),
    so the command sees the pod's ``/etc/hosts``, volumes and hostname; ``env`` is the
    container's environment. stdout and stderr are pipes, stdin one if asked; with ``tty``
    all three are a new pseudo-terminal, made the command's controlling terminal.
    """
    userns = [] if os.geteuid() == 0 else ["-U", "--preserve-credentials"]
    wd = [f"--wd={workdir}"] if workdir else ["-w"]
    host_argv = [_tool("nsenter"), "-t", str(pid), *userns, "-m", "-u", *wd, "--", *argv]
    full_env = {"PATH": _CONTAINER_PATH, **({"TERM": "xterm"} if tty else {}), **env}
    if not tty:
        proc = await asyncio.create_subprocess_exec(
            *host_argv,
            env=full_env,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        _STARTED_GROUPS.add(proc.pid)
        return proc
    # A new session whose controlling terminal is the pty (job control).
    proc, master, reader, writer = await _start_on_pty(host_argv, full_env, stdin)
    return TerminalProcess(proc, master, writer, reader)


def live_process_groups() -> list[int]:
    """Process groups started by kubelets in this process that still have a live member.

    Empty after every kubelet has stopped: the leak check of the test suite. Zombies
    (killed, not yet reaped by init) do not count.
    """
    alive: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) in _STARTED_GROUPS:
            alive.add(int(fields[2]))
    return sorted(alive)
