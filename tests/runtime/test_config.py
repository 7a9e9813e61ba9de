"""Client.default(): where a client finds its cluster, in the order controller-runtime uses.

The rule (controller-runtime ``pkg/client/config/config.go`` ``loadConfig``, over client-go's
``clientcmd`` loading rules and ``rest.InClusterConfig``): an explicit kubeconfig path, then
``$KUBECONFIG``, then the pod's service account when ``KUBERNETES_SERVICE_HOST`` is set, then
``~/.kube/config``. In-cluster settings are the ``token``, ``ca.crt`` and ``namespace`` files
of the mounted service account (client-go ``rest/config.go`` ``InClusterConfig``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opframe import Client, ConfigError, Namespace
from opframe.testing.apiserver import ApiServer


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with ApiServer(tls=True, state_dir=tmp_path / "server") as server:
        yield server


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No kubeconfig anywhere, not in a pod: each test adds what it needs."""
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPFRAME_SERVICE_ACCOUNT_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def service_account(server: ApiServer, folder: Path, namespace: str = "ops") -> Path:
    """The files a kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount."""
    folder.mkdir(parents=True)
    (folder / "token").write_text(server.token + "\n")
    assert server.ca_file is not None
    (folder / "ca.crt").write_bytes(server.ca_file.read_bytes())
    (folder / "namespace").write_text(namespace)
    return folder


def in_a_pod(monkeypatch: pytest.MonkeyPatch, server: ApiServer) -> None:
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)


async def test_in_a_pod_the_default_client_uses_the_service_account(
    server: ApiServer, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = service_account(server, tmp_path / "sa")
    in_a_pod(clean_env, server)
    async with await Client.default(service_account_dir=folder) as client:
        assert (await client.get(Namespace, "default")).name == "default"
        assert client.namespace == "ops"


async def test_the_service_account_folder_can_come_from_the_environment(
    server: ApiServer, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = service_account(server, tmp_path / "sa")
    in_a_pod(clean_env, server)
    clean_env.setenv("OPFRAME_SERVICE_ACCOUNT_DIR", str(folder))
    async with await Client.default() as client:
        assert (await client.get(Namespace, "default")).name == "default"


async def test_an_explicit_kubeconfig_wins_over_the_service_account(
    server: ApiServer, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")  # a pod with no token mounted
    clean_env.setenv("KUBECONFIG", str(server.kubeconfig))
    async with await Client.default() as client:
        assert client.host == server.url


async def test_outside_a_pod_the_home_kubeconfig_is_used(
    server: ApiServer, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home_config = tmp_path / "home" / ".kube" / "config"
    home_config.parent.mkdir(parents=True)
    home_config.write_text(server.kubeconfig.read_text())
    async with await Client.default() as client:
        assert client.host == server.url


async def test_with_no_kubeconfig_and_no_pod_the_error_is_one_line_saying_what_to_set(
    clean_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError) as info:
        await Client.default()
    message = str(info.value)
    assert "\n" not in message
    assert "no kubeconfig at" in message
    assert "KUBERNETES_SERVICE_HOST unset" in message
    assert "set KUBECONFIG" in message


async def test_a_kubeconfig_path_that_does_not_exist_is_named(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("KUBECONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match=r"no kubeconfig at .*missing\.yaml"):
        await Client.default()


async def test_a_pod_without_a_mounted_token_says_so(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    with pytest.raises(ConfigError, match="token is missing"):
        await Client.default(service_account_dir=tmp_path / "empty")


async def test_in_cluster_outside_a_pod_says_to_use_a_kubeconfig(
    clean_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError, match="not running in a pod"):
        Client.in_cluster()
