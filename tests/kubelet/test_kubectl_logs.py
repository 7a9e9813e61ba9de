"""`kubectl logs` options against the local kubelet (issue 10.3), through the real kubectl.

Validation follows ``pkg/apis/core/validation`` ``ValidatePodLogOptions``; the meaning of
each option follows kubelet's ``pkg/kubelet/kuberuntime/logs/logs.go``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opframe.testing.kubelet.logs import format_timestamp, parse_timestamp
from tests.kubelet.kubectl_fixtures import kubeconfig, kubectl, needs_kubectl, run_kubectl

pytestmark = needs_kubectl
__all__ = ["kubeconfig"]

# Two groups of lines 2.5 s apart, so a `since` between them is unambiguous.
SCRIPT = "echo one; echo two; echo three; sleep 2.5; echo late; sleep 3600"


@pytest.fixture(scope="module")
def talker(kubeconfig: Path) -> Iterator[str]:
    kubectl(kubeconfig, "run", "talker", "--image=busybox", "--command", "--", "sh", "-c", SCRIPT)
    # Follow the log until the late line is there (a condition, not a sleep).
    kubectl(kubeconfig, "wait", "--for=condition=Ready", "pod/talker", "--timeout=30s")
    proc = run_kubectl(kubeconfig, "logs", "-f", "talker", "--limit-bytes=19", timeout=30)
    assert proc.stdout == b"one\ntwo\nthree\nlate\n"
    yield "talker"


def test_logs_tail(kubeconfig: Path, talker: str) -> None:
    assert kubectl(kubeconfig, "logs", talker, "--tail=2") == "three\nlate\n"


def test_logs_limit_bytes(kubeconfig: Path, talker: str) -> None:
    assert kubectl(kubeconfig, "logs", talker, "--limit-bytes=6") == "one\ntw"


def test_logs_timestamps(kubeconfig: Path, talker: str) -> None:
    lines = kubectl(kubeconfig, "logs", talker, "--timestamps").splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "two", "three", "late"]
    stamps = [parse_timestamp(line.split(" ", 1)[0]) for line in lines]
    assert stamps == sorted(stamps)
    assert stamps[3] - stamps[2] >= 2_000_000_000


def _stamps(kubeconfig: Path, pod: str) -> list[int]:
    lines = kubectl(kubeconfig, "logs", pod, "--timestamps").splitlines()
    return [parse_timestamp(line.split(" ", 1)[0]) for line in lines]


def test_logs_since_time(kubeconfig: Path, talker: str) -> None:
    late = _stamps(kubeconfig, talker)[3]
    # kubectl sends whole seconds: the second of the late line is after every early line.
    since = format_timestamp(late // 1_000_000_000 * 1_000_000_000).split(".")[0] + "Z"
    assert kubectl(kubeconfig, "logs", talker, f"--since-time={since}") == "late\n"


def test_logs_since(kubeconfig: Path, talker: str) -> None:
    late = _stamps(kubeconfig, talker)[3]
    # A window reaching 1-2 s before the late line: after the early ones (2.5 s before).
    seconds = math.floor((time.time_ns() - late) / 1e9) + 2
    assert kubectl(kubeconfig, "logs", talker, f"--since={seconds}s") == "late\n"


def test_logs_negative_tail_is_invalid(kubeconfig: Path, talker: str) -> None:
    proc = run_kubectl(
        kubeconfig, "get", "--raw", f"/api/v1/namespaces/default/pods/{talker}/log?tailLines=-2"
    )
    assert proc.returncode != 0
    assert b"tailLines: Invalid value: -2: must be greater than or equal to 0" in proc.stderr


def test_logs_since_and_since_time_together_are_invalid(kubeconfig: Path, talker: str) -> None:
    query = "sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z"
    path = f"/api/v1/namespaces/default/pods/{talker}/log?{query}"
    proc = run_kubectl(kubeconfig, "get", "--raw", path)
    assert b"at most one of `sinceTime` or `sinceSeconds` may be specified" in proc.stderr
