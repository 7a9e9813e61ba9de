"""Images as a user thinks of them, through the real kubectl on `opframe local up`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kubelet.kubectl_fixtures import kubeconfig, kubectl, needs_kubectl, run_kubectl

pytestmark = needs_kubectl
__all__ = ["kubeconfig"]


def test_kubectl_run_busybox_with_args_only_runs(kubeconfig: Path) -> None:
    """`kubectl run bb --image=busybox -- sleep 3600` sets args, no command: busybox's CMD
    is replaced and, with no ENTRYPOINT, args[0] is the program."""
    kubectl(kubeconfig, "run", "bb", "--image=busybox", "--", "sleep", "3600")
    kubectl(kubeconfig, "wait", "--for=condition=Ready", "pod/bb", "--timeout=30s")
    phase = kubectl(kubeconfig, "get", "pod", "bb", "-o", "jsonpath={.status.phase}")
    assert phase == "Running"


@pytest.mark.parametrize("image", ["alpine:3.20", "docker.io/library/busybox:1.36"])
def test_kubectl_run_small_images_with_a_command(kubeconfig: Path, image: str) -> None:
    name = "cmd-" + image.split("/")[-1].split(":")[0]
    kubectl(
        kubeconfig,
        "run",
        name,
        f"--image={image}",
        "--restart=Never",
        "--command",
        "--",
        "sh",
        "-c",
        "echo from $HOSTNAME",
    )
    kubectl(
        kubeconfig,
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        f"pod/{name}",
        "--timeout=30s",
    )
    assert kubectl(kubeconfig, "logs", name) == f"from {name}\n"


def test_kubectl_create_token_gives_a_token_the_server_accepts(kubeconfig: Path) -> None:
    kubectl(kubeconfig, "wait", "--for=create", "serviceaccount/default", "--timeout=30s")
    token = kubectl(kubeconfig, "create", "token", "default", "--duration=15m").strip()
    assert token
    # The server enforces RBAC: the token authenticates (whoami needs no more than that).
    who = kubectl(
        kubeconfig,
        f"--token={token}",
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    )
    assert who == "system:serviceaccount:default:default"
    refused = run_kubectl(kubeconfig, "--token=not-issued", "get", "pods")
    assert refused.returncode != 0 and b"Unauthorized" in refused.stderr
