"""opframe as a library a user installs: built, installed outside the checkout, typed, tested.

The wheel goes into a fresh virtualenv in a temporary folder. Its dependencies come from the
test's own environment through a ``.pth`` file naming a folder that holds everything installed
there except opframe and the example operator (so nothing is downloaded, and nothing of the
checkout leaks in); opframe itself is installed from the wheel with ``--no-index``. In that
virtualenv ``opframe init`` makes a project whose tests pass and which ``mypy --strict`` checks
against the wheel's types.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("opframe", "etcd_operator", "__editable__", "_opframe")


def run(*args: str | Path, cwd: Path, timeout: float = 300) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KUBECONFIG")},
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def build(project: Path, out: Path) -> tuple[Path, Path]:
    """``python -m build`` (sdist, then the wheel from it) without downloading a backend."""
    log = run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, project, cwd=out)
    assert "SetuptoolsDeprecationWarning" not in log, log
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def dependencies_only(into: Path) -> Path:
    """A folder of links to this environment's packages, opframe and the example left out."""
    into.mkdir()
    purelib = Path(sysconfig.get_paths()["purelib"])
    for entry in purelib.iterdir():
        if entry.name.startswith(OURS) or entry.suffix == ".pth":
            continue
        (into / entry.name).symlink_to(entry)
    return into


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    sdist, wheel = build(ROOT, out)
    assert sdist.name == "opframe-0.1.0.tar.gz"
    return wheel


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A virtualenv outside the checkout with the wheel installed; returns its python."""
    home = tmp_path_factory.mktemp("user")
    assert ROOT not in home.parents
    run(sys.executable, "-m", "venv", "--without-pip", home / "venv", cwd=home)
    python = home / "venv" / "bin" / "python"
    target = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=home)
        .strip()
        .splitlines()[-1]
    )
    deps = dependencies_only(home / "deps")
    (target / "_deps.pth").write_text(f"{deps}\n")
    run(python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", wheel, cwd=home)
    return python


def test_the_wheel_ships_the_typed_marker_the_plugin_and_the_data_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "opframe/py.typed" in names
    assert "opframe/testing/apiserver/protobuf/messages.txt" in names
    assert not any(n.startswith(("tests/", "examples/")) for n in names)
    metadata = zipfile.ZipFile(wheel).read("opframe-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    entry_points = zipfile.ZipFile(wheel).read("opframe-0.1.0.dist-info/entry_points.txt")
    assert b"opframe = opframe.testing.plugin" in entry_points


def test_the_installed_wheel_is_imported_from_the_virtualenv(venv: Path) -> None:
    where = run(venv, "-c", "import opframe; print(opframe.__file__)", cwd=venv.parent)
    assert str(venv.parents[1]) in where and str(ROOT) not in where


def test_a_scaffolded_project_passes_its_tests_and_mypy_strict_there(venv: Path) -> None:
    work = venv.parents[1]
    run(venv, "-m", "opframe", "init", "shop-operator", cwd=work)
    project = work / "shop-operator"
    out = run(venv, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert "2 passed" in out, out
    out = run(venv, "-m", "mypy", "--strict", "shop_operator", "tests", cwd=project)
    assert "Success" in out, out


def test_the_etcd_operator_builds_an_sdist_and_a_wheel(tmp_path: Path) -> None:
    _, wheel = build(ROOT / "examples" / "etcd", tmp_path)
    assert wheel.name.startswith("etcd_operator-0.1.0")
    assert "etcd_operator/py.typed" in zipfile.ZipFile(wheel).namelist()
