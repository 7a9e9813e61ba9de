"""kubectl exec, cp, attach and port-forward against the local kubelet (issue 11.4).

Wire protocols: client-go ``tools/remotecommand/websocket.go`` (``v5.channel.k8s.io``: a
channel byte per message, the exit status as a ``metav1.Status`` on channel 3, channel 255
to close stdin) and ``tools/portforward/tunneling_connection.go`` (SPDY/3.1 tunnelled in a
WebSocket). Exec runs in the container's mount and UTS namespaces with its environment, as
a container runtime's exec does.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from opframe.testing.kubelet.images import find_etcd
from tests.kubelet.kubectl_fixtures import kubeconfig, kubectl, needs_kubectl, run_kubectl

pytestmark = needs_kubectl
__all__ = ["kubeconfig"]

POD = """
apiVersion: v1
kind: Pod
metadata: {name: box, labels: {app: box}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo started; exec sleep 3600"]
    env: [{name: GREETING, value: hello-from-env}]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, emptyDir: {}}]
"""


@pytest.fixture(scope="module")
def box(kubeconfig: Path) -> Iterator[str]:
    kubectl(kubeconfig, "apply", "--validate=false", "-f", "-", stdin=POD)
    kubectl(kubeconfig, "wait", "--for=condition=Ready", "pod/box", "--timeout=30s")
    yield "box"


def test_exec_runs_in_the_container_with_its_env_and_hostname(kubeconfig: Path, box: str) -> None:
    out = kubectl(kubeconfig, "exec", box, "--", "sh", "-c", "echo $GREETING; hostname")
    assert out == "hello-from-env\nbox\n"


def test_exec_sees_the_pod_volumes_and_hosts_file(kubeconfig: Path, box: str) -> None:
    kubectl(kubeconfig, "exec", box, "--", "sh", "-c", "echo kept > /data/file")
    assert kubectl(kubeconfig, "exec", box, "--", "cat", "/data/file") == "kept\n"
    assert "Kubernetes-managed hosts file" in kubectl(
        kubeconfig, "exec", box, "--", "cat", "/etc/hosts"
    )


def test_exec_exit_code_and_stderr_reach_kubectl(kubeconfig: Path, box: str) -> None:
    proc = run_kubectl(kubeconfig, "exec", box, "--", "sh", "-c", "echo oops >&2; exit 3")
    assert proc.returncode == 3
    assert b"oops" in proc.stderr


def test_exec_stdin_reaches_the_command(kubeconfig: Path, box: str) -> None:
    out = kubectl(kubeconfig, "exec", "-i", box, "--", "sh", "-c", "tr a-z A-Z", stdin="shout\n")
    assert out == "SHOUT\n"


def test_exec_of_a_missing_program_fails_with_a_message(kubeconfig: Path, box: str) -> None:
    proc = run_kubectl(kubeconfig, "exec", box, "--", "no-such-program")
    assert proc.returncode != 0
    assert b"no-such-program" in proc.stderr


def test_cp_to_and_from_the_pod(kubeconfig: Path, box: str, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("copied through tar\n")
    kubectl(kubeconfig, "cp", str(source), f"{box}:/data/in.txt")
    assert kubectl(kubeconfig, "exec", box, "--", "cat", "/data/in.txt") == "copied through tar\n"
    target = tmp_path / "out.txt"
    kubectl(kubeconfig, "cp", f"{box}:/data/in.txt", str(target))
    assert target.read_text() == "copied through tar\n"


WEB = """
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers:
  - name: main
    image: python:3.12
    command: ["python", "-c", PROGRAM]
    env: [{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
    volumeMounts: [{name: srv, mountPath: /srv}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
  volumes: [{name: srv, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_port_forward_to_a_service_reaches_the_pod(kubeconfig: Path, tmp_path: Path) -> None:
    program = (
        "import http.server as h, os; os.chdir('/srv'); "
        "h.test(h.SimpleHTTPRequestHandler, port=8080, bind=os.environ['POD_IP'])"
    )
    server = WEB.replace("PROGRAM", json.dumps(program))
    kubectl(kubeconfig, "apply", "--validate=false", "-f", "-", stdin=server)
    kubectl(kubeconfig, "wait", "--for=condition=Ready", "pod/web", "--timeout=60s")
    kubectl(kubeconfig, "exec", "web", "--", "sh", "-c", "echo forwarded > /srv/index.html")
    port = _free_port()
    env_proc = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(kubeconfig), "port-forward", "svc/web", f"{port}:80"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert env_proc.stdout is not None
        line = env_proc.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 8080"
        assert b"Forwarding from" in line, env_proc.stderr.read() if env_proc.stderr else line
        for _ in range(3):  # three connections through one tunnel
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                reply = b""
                while chunk := conn.recv(65536):
                    reply += chunk
            assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(b"forwarded\n")
    finally:
        env_proc.terminate()
        env_proc.wait(timeout=10)


ETCD = """
apiVersion: v1
kind: Pod
metadata: {name: etcd-0, labels: {app: etcd}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: etcd
    image: quay.io/coreos/etcd:v3.4.23
    command:
    - etcd
    - --data-dir=/var/lib/etcd
    - --listen-client-urls=http://$(POD_IP):2379
    - --advertise-client-urls=http://$(POD_IP):2379
    - --listen-peer-urls=http://$(POD_IP):2380
    - --initial-advertise-peer-urls=http://$(POD_IP):2380
    - --initial-cluster=etcd-0=http://$(POD_IP):2380
    - --name=etcd-0
    env:
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: ETCDCTL_ENDPOINTS, value: "http://$(POD_IP):2379"}
    readinessProbe: {httpGet: {path: /health, port: 2379}, periodSeconds: 1}
    volumeMounts: [{name: data, mountPath: /var/lib/etcd}]
  volumes: [{name: data, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: etcd}
spec:
  selector: {app: etcd}
  ports: [{name: client, port: 2379, targetPort: 2379}]
"""

needs_etcd = pytest.mark.skipif(find_etcd("3.4.23") is None, reason="no Debian etcd 3.4.23")


@pytest.fixture(scope="module")
def etcd(kubeconfig: Path) -> Iterator[str]:
    kubectl(kubeconfig, "apply", "--validate=false", "-f", "-", stdin=ETCD)
    kubectl(kubeconfig, "wait", "--for=condition=Ready", "pod/etcd-0", "--timeout=60s")
    yield "etcd-0"


@needs_etcd
def test_exec_etcdctl_endpoint_health(kubeconfig: Path, etcd: str) -> None:
    proc = run_kubectl(kubeconfig, "exec", etcd, "--", "etcdctl", "endpoint", "health")
    assert proc.returncode == 0, proc.stderr
    assert b"is healthy" in proc.stdout + proc.stderr  # etcdctl reports health on stderr


@needs_etcd
def test_port_forward_svc_2379_then_etcdctl_through_it(kubeconfig: Path, etcd: str) -> None:
    forward = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(kubeconfig), "port-forward", "svc/etcd", ":2379"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline().decode()  # Forwarding from 127.0.0.1:PORT -> 2379
        local = line.split("127.0.0.1:", 1)[1].split(" ", 1)[0]
        endpoint = f"--endpoints=127.0.0.1:{local}"
        put = subprocess.run(
            ["etcdctl", endpoint, "put", "greeting", "through-the-tunnel"],
            capture_output=True, timeout=30, check=False, env={"ETCDCTL_API": "3"},
        )  # fmt: skip
        assert put.returncode == 0, put.stderr
        got = subprocess.run(
            ["etcdctl", endpoint, "get", "greeting", "--print-value-only"],
            capture_output=True, timeout=30, check=False, env={"ETCDCTL_API": "3"},
        )  # fmt: skip
        assert got.stdout == b"through-the-tunnel\n"
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def test_attach_streams_the_containers_output_until_it_exits(kubeconfig: Path) -> None:
    script = "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 0.3; done"
    kubectl(
        kubeconfig, "run", "ticker", "--image=busybox", "--restart=Never", "--command", "--",
        "sh", "-c", script,
    )  # fmt: skip
    kubectl(kubeconfig, "wait", "--for=condition=Ready", "pod/ticker", "--timeout=30s")
    out = kubectl(kubeconfig, "attach", "ticker")
    assert "tick 10\n" in out


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script(1)")
def test_exec_it_gives_an_interactive_shell_on_a_terminal(kubeconfig: Path, box: str) -> None:
    """`kubectl exec -it`: the command runs on a pseudo-terminal (kubectl needs a terminal
    of its own to ask for one, which script(1) provides)."""
    inner = f"kubectl --kubeconfig {kubeconfig} exec -it {box} -- sh"
    proc = subprocess.run(
        ["script", "-qec", inner, "/dev/null"],
        input=b"tty; exit 4\n", capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert b"/dev/pts/" in proc.stdout
    assert proc.returncode == 4


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script(1)")
def test_kubectl_run_it_rm_gives_a_shell_in_a_new_pod(kubeconfig: Path) -> None:
    """`kubectl run -it --rm`: a pod with stdin and tty, attached to, then deleted."""
    inner = (
        f"kubectl --kubeconfig {kubeconfig} run -it --rm once --image=busybox --restart=Never -- sh"
    )
    proc = subprocess.run(
        ["script", "-qec", inner, "/dev/null"],
        input=b"echo inside-$HOSTNAME; exit\n", capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert b"inside-once" in proc.stdout
    assert b'pod "once" deleted' in proc.stdout
