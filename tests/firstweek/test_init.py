"""``opframe init``: the project it makes, and one-line refusals."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import yaml

from opframe.cli import main


def test_init_makes_the_project_files(tmp_path: Path) -> None:
    assert main(["init", "shop-operator", "--dir", str(tmp_path / "p")]) == 0
    made = {str(p.relative_to(tmp_path / "p")) for p in (tmp_path / "p").rglob("*") if p.is_file()}
    assert {
        "pyproject.toml",
        "Dockerfile",
        "shop_operator/models.py",
        "shop_operator/reconciler.py",
        "shop_operator/__main__.py",
        "tests/test_operator.py",
        "deploy/kustomization.yaml",
        "deploy/crd.yaml",
        "deploy/rbac.yaml",
    } <= made


def test_the_generated_rbac_grants_what_the_manager_watches_and_no_more(tmp_path: Path) -> None:
    """The scaffold's RBAC is opframe.rbac's (what the controller watches and declares)."""
    assert main(["init", "shop", "--dir", str(tmp_path / "p")]) == 0
    docs = list(yaml.safe_load_all((tmp_path / "p" / "deploy" / "rbac.yaml").read_text()))
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    rules = {(r["apiGroups"][0], r["resources"][0]): r["verbs"] for r in role["rules"]}
    assert rules == {
        ("shop.example.com", "shops"): ["get", "list", "watch"],
        ("shop.example.com", "shops/status"): ["update"],
        ("", "configmaps"): ["get", "list", "watch", "create", "patch"],
        ("", "events"): ["create", "patch"],
    }
    (lease_role,) = [d for d in docs if d["kind"] == "Role"]
    assert lease_role["metadata"]["namespace"] == "shop-system"


def test_init_works_in_a_process_that_imported_another_module_of_the_same_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``opframe init shop`` imports the new package to derive its CRD and RBAC: a plain
    module ``shop`` imported before (another test's, a user's script) must neither break
    that import ("'shop' is not a package") nor be lost after it."""
    other = types.ModuleType("shop")
    monkeypatch.setitem(sys.modules, "shop", other)
    assert main(["init", "shop", "--dir", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "deploy" / "rbac.yaml").exists()
    assert sys.modules["shop"] is other


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["init", "Shop_Operator"], "must be a DNS label"),
        (["init", "shop", "--kind", "shop"], "must be CamelCase"),
        (["init", "shop", "--group", "nodots"], "must be a DNS subdomain"),
    ],
)
def test_init_refuses_bad_names_in_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([*args, "--dir", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_init_refuses_a_folder_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["init", "shop", "--dir", str(tmp_path)]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"
