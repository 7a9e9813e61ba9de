"""``opframe local up`` / ``opframe local down``: a background local control plane.

:func:`up` starts a detached process (its own session) that runs a
:class:`~opframe.testing.cluster.LocalCluster` (API server + kubelet) and writes, in the
state directory, ``kubeconfig``, ``pid`` and ``control-plane.log``. It returns once the API
server answers, so the next command can be ``kubectl --kubeconfig DIR/kubeconfig get pods``.
:func:`down` stops it: SIGTERM (the process stops its pods and exits), then SIGKILL to its
process group if it does not exit in time; container processes carry a parent-death signal,
so none outlives the control plane.

Example::

    kubeconfig = up(Path("/tmp/demo"))
    ...
    down(Path("/tmp/demo"))
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from opframe.errors import OpframeError
from opframe.testing.kubelet.images import parse_image_mapping

__all__ = ["ControlPlaneError", "default_state_dir", "down", "status", "up"]


class ControlPlaneError(OpframeError):
    """The background control plane failed to start or to stop."""


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/opframe`` (default ``~/.local/state/opframe``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "opframe"


def _pid(state_dir: Path) -> int | None:
    """The control plane's PID if its pid file names a live process."""
    try:
        pid = int((state_dir / "pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def status(state_dir: Path | None = None) -> int | None:
    """The PID of the control plane running in ``state_dir``, or None."""
    return _pid(state_dir or default_state_dir())


def up(
    state_dir: Path | None = None,
    kubelet: bool = True,
    *,
    images: Sequence[str] = (),
    controllers: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Start the background control plane (if not running); return its kubeconfig path.

    ``controllers``: run the kube-controller-manager controllers (Deployments, StatefulSets,
    Jobs...); ``False`` for an API server that only stores objects.
    ``images``: ``PATTERN=PROGRAM`` image mappings tried before the built-in ones (see
    :func:`~opframe.testing.kubelet.images.parse_image_mapping`), e.g.
    ``"myapp:*=python3 -m myapp -- run"`` or ``"example.com/tools:*=host"``.

    Raises:
        ValueError: an image mapping is malformed (the message names it).

    Raises:
        ControlPlaneError: it did not come up within ``timeout`` seconds (the message holds
            the end of its log).
    """
    directory = (state_dir or default_state_dir()).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    kubeconfig = directory / "kubeconfig"
    if _pid(directory) is not None and kubeconfig.exists():
        return kubeconfig
    (directory / "pid").unlink(missing_ok=True)
    read_fd, write_fd = os.pipe()
    log_path = directory / "control-plane.log"
    cmd = [
        sys.executable,
        "-m",
        "opframe.testing._local_main",
        "--state-dir",
        str(directory),
        "--ready-fd",
        str(write_fd),
    ]
    if not kubelet:
        cmd.append("--no-kubelet")
    if not controllers:
        cmd.append("--no-controllers")
    for mapping in images:
        parse_image_mapping(mapping)  # a malformed mapping fails here, not in the child
        cmd += ["--image", mapping]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
            start_new_session=True,
            close_fds=True,
        )
    os.close(write_fd)
    try:
        # The child writes one line on the pipe once the server answers; EOF means it died.
        ready, _, _ = select.select([read_fd], [], [], timeout)
        line = os.read(read_fd, 64) if ready else b""
    except BaseException:
        # Ctrl-C while waiting: do not leave a half-started control plane behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        os.close(read_fd)
    if line.strip() != b"ready":
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        tail = log_path.read_text(errors="replace")[-2000:]
        raise ControlPlaneError(f"the local control plane did not start; its log ends:\n{tail}")
    # Popen's handle is dropped on purpose: the control plane is detached and outlives us.
    proc.returncode = 0
    return kubeconfig


def _wait_gone(pid: int, limit: float) -> bool:
    """Wait up to ``limit`` seconds for ``pid`` to exit (pidfd: no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], limit)
        return bool(ready)
    finally:
        os.close(fd)


def down(state_dir: Path | None = None, *, grace: float = 15.0) -> None:
    """Stop the control plane of ``state_dir`` (no-op if none runs); leave no process.

    Raises:
        ControlPlaneError: the process survived SIGKILL (should not happen).
    """
    directory = (state_dir or default_state_dir()).resolve()
    pid = _pid(directory)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, grace):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            if not _wait_gone(pid, 5.0):
                raise ControlPlaneError(f"control plane process {pid} does not exit")
        # Anything left in its process group (helpers it forked) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        # If up() ran in this very process, the control plane is our child: reap it.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    (directory / "pid").unlink(missing_ok=True)
