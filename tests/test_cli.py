"""The ``opframe`` command: crd generate, local up/down delegation, run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from opframe.cli import main

ZOO = "tests.models_zoo"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's project directory with a models module and a manager module, on sys.path."""
    (tmp_path / "shop_models.py").write_text(
        textwrap.dedent(
            '''
            from opframe.kinds import Pod  # imported, not defined here: not a CRD
            from opframe.resource import KubeModel, Resource

            class CartSpec(KubeModel):
                items: list[str] = []

            class Cart(Resource, group="shop.example.com", version="v1"):
                """A shopping cart."""
                spec: CartSpec

            class Order(Resource, group="shop.example.com", version="v1"):
                """An order."""
                spec: CartSpec

            class SpecialCart(Cart):
                """The same resource as Cart: no CRD of its own."""
            '''
        )
    )
    (tmp_path / "shop_main.py").write_text("not_a_manager = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("shop_models", "shop_main"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def _documents(text: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(text))


def test_generate_prints_one_document_per_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "generate", f"{ZOO}:Backup", f"{ZOO}:Gizmo"]) == 0
    docs = _documents(capsys.readouterr().out)
    assert [d["metadata"]["name"] for d in docs] == [
        "backups.zoo.opframe.dev",
        "gizmos.zoo.opframe.dev",
    ]


def test_generate_merges_versions_of_one_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "generate", f"{ZOO}:TenantV1Alpha1", f"{ZOO}:TenantV1"]) == 0
    (doc,) = _documents(capsys.readouterr().out)
    assert [v["name"] for v in doc["spec"]["versions"]] == ["v1", "v1alpha1"]


def test_bare_module_means_every_resource_defined_in_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["crd", "generate", "shop_models"]) == 0
    docs = _documents(capsys.readouterr().out)
    assert [d["spec"]["names"]["kind"] for d in docs] == ["Cart", "Order"]


def test_output_dir_gets_one_file_per_crd(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deploy" / "crds"
    assert main(["crd", "generate", "shop_models", "--output-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "carts.shop.example.com.yaml",
        "orders.shop.example.com.yaml",
    ]
    (doc,) = _documents((out / "carts.shop.example.com.yaml").read_text())
    assert doc["spec"]["names"]["kind"] == "Cart"
    assert capsys.readouterr().out.splitlines() == [
        str(out / "carts.shop.example.com.yaml"),
        str(out / "orders.shop.example.com.yaml"),
    ]


def test_missing_module_fails_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "generate", "no_such_module_xyz:Thing"]) == 1
    err = capsys.readouterr().err
    assert "cannot import module 'no_such_module_xyz'" in err
    assert "ModuleNotFoundError" in err


def test_module_that_fails_to_import_reports_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken_models.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["crd", "generate", "broken_models"]) == 1
    assert "RuntimeError: boom at import" in capsys.readouterr().err


def test_missing_class_fails_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "generate", f"{ZOO}:Nope"]) == 1
    assert f"module '{ZOO}' has no attribute 'Nope'" in capsys.readouterr().err


def test_non_resource_class_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "generate", f"{ZOO}:Port"]) == 1
    assert f"{ZOO}:Port is not a Resource class" in capsys.readouterr().err


def test_builtin_kind_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "generate", "opframe.kinds:Pod"]) == 1
    assert "built-in kind" in capsys.readouterr().err


def test_refused_model_fails_naming_model_and_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "generate", f"{ZOO}:BadRecursive"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "BadRecursive.spec.root.children[]" in captured.err
    assert "recursive model 'TreeNode'" in captured.err


def test_module_without_resources_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "generate", "opframe.errors"]) == 1
    assert "defines no custom Resource classes" in capsys.readouterr().err


def test_missing_subcommand_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd"]) == 2
    assert "generate" in capsys.readouterr().err


class _FakeLocal(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("opframe.testing.local")
        self.calls: list[tuple[str, Any, Any]] = []

    def up(self, state_dir: Path | None, kubelet: bool = True, **options: object) -> Path:
        self.calls.append(("up", state_dir, kubelet))
        return Path("/state/kubeconfig")

    def down(self, state_dir: Path | None) -> None:
        self.calls.append(("down", state_dir, None))


@pytest.fixture
def fake_local(monkeypatch: pytest.MonkeyPatch) -> _FakeLocal:
    fake = _FakeLocal()
    monkeypatch.setitem(sys.modules, "opframe.testing.local", fake)
    return fake


def test_local_up_prints_the_kubeconfig_path(
    fake_local: _FakeLocal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["local", "up", "--state-dir", "/tmp/x", "--no-kubelet"]) == 0
    assert fake_local.calls == [("up", Path("/tmp/x"), False)]
    captured = capsys.readouterr()
    assert captured.out == "/state/kubeconfig\n"
    assert "export KUBECONFIG=/state/kubeconfig" in captured.err


def test_local_down_delegates(fake_local: _FakeLocal) -> None:
    assert main(["local", "down"]) == 0
    assert fake_local.calls == [("down", None, None)]


def test_local_without_the_testing_module_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "opframe.testing.local", None)
    assert main(["local", "up"]) == 1
    assert "install opframe[testing]" in capsys.readouterr().err


def test_run_refuses_what_is_not_a_manager(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "shop_main:not_a_manager"]) == 1
    assert "shop_main:not_a_manager is a int, not a Manager" in capsys.readouterr().err


def test_python_dash_m_opframe_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opframe", "crd", "generate", "etcd_operator.models:EtcdCluster"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (doc,) = _documents(result.stdout)
    assert doc["metadata"]["name"] == "etcdclusters.etcd.opframe.dev"
