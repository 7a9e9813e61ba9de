"""A background control plane (`opframe local up`) and a kubectl runner for kubectl tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from opframe.testing.local import down, up

needs_kubectl = [
    pytest.mark.kubectl,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`opframe local up` in a private state dir for one test module; `down` afterwards."""
    state = tmp_path_factory.mktemp("local")
    path = up(state)
    try:
        yield path
    finally:
        down(state)


def kubectl(
    kubeconfig: Path, *args: str, stdin: str | bytes | None = None, timeout: float = 60
) -> str:
    """Run kubectl against ``kubeconfig``; fail the test with its stderr if it fails."""
    proc = run_kubectl(kubeconfig, *args, stdin=stdin, timeout=timeout)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr!r}"
    return proc.stdout.decode(errors="replace")


def run_kubectl(
    kubeconfig: Path, *args: str, stdin: str | bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """Run kubectl and return the completed process, whatever its exit code."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(
        ["kubectl", *args], input=data, capture_output=True, env=env, timeout=timeout, check=False
    )
