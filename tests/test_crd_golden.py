"""Generated CRD YAML matches the golden files in tests/golden/, reviewed by hand.

After an intended change, rewrite them with
``OPFRAME_UPDATE_GOLDEN=1 pytest tests/test_crd_golden.py`` and review the diff like code.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

import pytest
from etcd_operator.models import EtcdCluster

from opframe.crd import crd_yaml
from opframe.resource import Resource
from tests import models_zoo as zoo

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).parents[1]
DEPLOYED_CRD = ROOT / "examples" / "etcd" / "deploy" / "crd.yaml"
QUICKSTART = ROOT / "docs" / "quickstart.md"
UPDATE = os.environ.get("OPFRAME_UPDATE_GOLDEN") == "1"

CASES: dict[str, tuple[type[Resource], ...]] = {
    "etcdclusters.etcd.opframe.dev": (EtcdCluster,),
    "backups.zoo.opframe.dev": (zoo.Backup,),
    "tenants.zoo.opframe.dev": (zoo.TenantV1Alpha1, zoo.TenantV1),
    "gizmos.zoo.opframe.dev": (zoo.Gizmo,),
}


def _check(path: Path, generated: str) -> None:
    if UPDATE:
        path.write_text(generated)
    assert path.exists(), f"{path} is missing; create it with OPFRAME_UPDATE_GOLDEN=1"
    assert generated == path.read_text(), (
        f"generated CRD differs from {path}; if the change is intended, rerun with "
        "OPFRAME_UPDATE_GOLDEN=1 and review the diff"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_crd_matches_golden_file(name: str) -> None:
    _check(GOLDEN / f"{name}.yaml", crd_yaml(*CASES[name]))


def test_etcd_operator_deploy_crd_is_generated_from_its_models() -> None:
    _check(DEPLOYED_CRD, crd_yaml(EtcdCluster))


def test_quickstart_shows_the_crd_its_model_generates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = QUICKSTART.read_text()
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, flags=re.DOTALL)
    model = next(body for lang, body in blocks if lang == "python" and "class Website(" in body)
    shown = next(body for lang, body in blocks if lang == "yaml" and "CustomResource" in body)
    (tmp_path / "website.py").write_text(model)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "website", raising=False)
    website = importlib.import_module("website")
    assert crd_yaml(website.Website) == shown, "docs/quickstart.md is stale: paste the new YAML"
