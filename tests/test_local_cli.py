"""kubectl against the background control plane of `opframe local up` (API server + kubelet)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from opframe.testing.local import down, status, up

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

POD = """
apiVersion: v1
kind: Pod
metadata: {name: talker, labels: {app: talker}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c", "trap 'exit 0' TERM; echo hello from $(POD_NAME); sleep 60 & wait"]
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
"""


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`opframe local up` in a private state dir; `down` afterwards, checked to leave nothing."""
    state = tmp_path_factory.mktemp("local")
    kubeconfig = up(state)
    pid = status(state)
    try:
        yield kubeconfig
    finally:
        down(state)
    assert pid is not None
    assert not Path(f"/proc/{pid}").exists()
    assert status(state) is None


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    proc = subprocess.run(
        ["kubectl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def talker(control_plane: Path) -> Path:
    # Client-side validation needs the OpenAPI document, which is not what this test is about.
    kubectl(control_plane, "create", "--validate=false", "-f", "-", stdin=POD)
    kubectl(control_plane, "wait", "--for=condition=Ready", "pod/talker", "--timeout=30s")
    return control_plane


def test_up_writes_a_kubeconfig_kubectl_can_use(control_plane: Path) -> None:
    assert control_plane.name == "kubeconfig"
    assert "Ready" in kubectl(control_plane, "get", "nodes")


def test_get_pods_wide_shows_ip_and_node(talker: Path) -> None:
    out = kubectl(talker, "get", "pods", "-o", "wide")
    pod = json.loads(kubectl(talker, "get", "pod", "talker", "-o", "json"))
    line = next(x for x in out.splitlines() if x.startswith("talker"))
    assert "Running" in line
    assert pod["status"]["podIP"] in line
    assert pod["spec"]["nodeName"] in line


def test_logs_show_the_containers_output(talker: Path) -> None:
    assert kubectl(talker, "logs", "talker").startswith("hello from talker")


def test_delete_pod_stops_it(talker: Path) -> None:
    out = kubectl(talker, "delete", "pod", "talker", "--timeout=30s")
    assert 'pod "talker" deleted' in out
    assert "talker" not in kubectl(talker, "get", "pods", "-o", "name")


def test_up_again_on_the_state_dir_comes_back_at_the_same_address_and_token(
    tmp_path: Path,
) -> None:
    """Issue 13.6: kubeconfigs handed out before a restart keep working after it."""
    state = tmp_path / "state"
    first = up(state).read_text()
    saved = tmp_path / "kubeconfig-before"
    saved.write_text(first)
    try:
        kubectl(saved, "create", "configmap", "kept", "--from-literal=a=b")
        down(state)
        assert up(state).read_text() == first  # same URL, CA and token
        assert kubectl(saved, "get", "configmap", "kept", "-o", "jsonpath={.data.a}") == "b"
    finally:
        down(state)


def test_a_client_reconnects_by_itself_across_a_restart(tmp_path: Path) -> None:
    import asyncio

    from opframe import Client

    state = tmp_path / "state"
    kubeconfig = up(state)

    async def scenario() -> None:
        async with await Client.from_kubeconfig(kubeconfig) as client:
            await client.request("GET", "/api/v1/namespaces/default")
            await asyncio.to_thread(down, state)
            await asyncio.to_thread(up, state)
            namespace = await client.request("GET", "/api/v1/namespaces/default")
            assert namespace["metadata"]["name"] == "default"

    try:
        asyncio.run(scenario())
    finally:
        down(state)
