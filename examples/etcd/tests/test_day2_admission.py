"""The day-2 fields are checked at admission: the real ``kubectl apply`` of a bad value gets a
one-line field error from the API server (the embedded one, serving deploy/crd.yaml), and the
EtcdCluster never reaches the operator.

What each rule follows:
- ``quotaBackendBytes``, ``minReclaimableBytes``: ``resource.Quantity`` is written in a CRD as
  an int-or-string node with a pattern (controller-gen's form); the API server applies the
  pattern to strings and ``minimum`` to integers (OpenAPI value validations apply to values of
  their type). The accepted syntax is the byte subset the operator parses
  (``etcd_operator.settings.parse_quantity``): no fractions, exponents or milli-units.
- ``autoCompaction.retention``: etcd reads a periodic retention as an integer of hours or a Go
  ``time.ParseDuration`` string (``1.5h``, ``1h30m``), a revision retention as an integer
  (etcd ``embed/config.go``, ``parseCompactionRetention``); the revision rule is CEL.
- ``defragmentation``: ``fragmentedPercent`` in 0..100; ``schedule`` five cron fields.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from opframe.testing.apiserver import ApiServer

KUBECTL = shutil.which("kubectl")
CRD = Path(__file__).parents[1] / "deploy" / "crd.yaml"
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")


class Kubectl:
    """The real kubectl against one API server."""

    def __init__(self, kubeconfig: Path) -> None:
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig)}

    async def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        assert KUBECTL is not None
        p = await asyncio.create_subprocess_exec(
            KUBECTL,
            *args,
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(p.communicate(stdin.encode() if stdin else None), 60)
        assert p.returncode is not None
        return p.returncode, out.decode()

    async def apply(self, spec: dict[str, object], name: str = "bad") -> tuple[int, str]:
        """``kubectl apply`` of an EtcdCluster ``name`` with ``spec``."""
        manifest = {
            "apiVersion": "etcd.opframe.dev/v1alpha1",
            "kind": "EtcdCluster",
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec,
        }
        return await self("apply", "-f", "-", stdin=json.dumps(manifest))


@pytest_asyncio.fixture
async def kubectl(api_server: ApiServer) -> AsyncIterator[Kubectl]:
    """kubectl with the deployed EtcdCluster CRD installed and Established."""
    k = Kubectl(api_server.kubeconfig)
    code, out = await k("apply", "-f", str(CRD))
    assert code == 0, out
    code, out = await k("wait", "--for=condition=Established", "crd/etcdclusters.etcd.opframe.dev")
    assert code == 0, out
    yield k


BAD = [
    ({"quotaBackendBytes": "16 MB"}, "spec.quotaBackendBytes", "16 MB"),
    ({"quotaBackendBytes": "1.5Gi"}, "spec.quotaBackendBytes", "1.5Gi"),
    ({"quotaBackendBytes": "500m"}, "spec.quotaBackendBytes", "500m"),
    ({"quotaBackendBytes": -1}, "spec.quotaBackendBytes", "-1"),
    (
        {"autoCompaction": {"mode": "periodic", "retention": "1 hour"}},
        "spec.autoCompaction.retention",
        "1 hour",
    ),
    (
        {"autoCompaction": {"mode": "revision", "retention": "1h"}},
        "spec.autoCompaction",
        "number of revisions",
    ),
    (
        {"defragmentation": {"minReclaimableBytes": "64MB"}},
        "spec.defragmentation.minReclaimableBytes",
        "64MB",
    ),
    (
        {"defragmentation": {"fragmentedPercent": 150}},
        "spec.defragmentation.fragmentedPercent",
        "150",
    ),
    (
        {"defragmentation": {"schedule": "every night"}},
        "spec.defragmentation.schedule",
        "every night",
    ),
    (
        {"defragmentation": {"schedule": "0 3 * *"}},
        "spec.defragmentation.schedule",
        "0 3 * *",
    ),
]


async def test_bad_day2_values_get_a_one_line_field_error_from_kubectl(
    kubectl: Kubectl,
) -> None:
    for spec, field, value in BAD:
        code, out = await kubectl.apply({"size": 1, **spec})
        assert code != 0, f"{spec} was admitted: {out}"
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == 1, f"{spec}: not one line: {out}"
        assert lines[0].startswith('The EtcdCluster "bad" is invalid: '), out
        assert field in lines[0] and value in lines[0], f"{spec}: {out}"
        assert "Traceback" not in out
    code, out = await kubectl("get", "etcdclusters", "-n", "default", "-o", "name")
    assert code == 0 and "bad" not in out, out


async def test_good_day2_values_are_admitted_as_written(kubectl: Kubectl) -> None:
    good = {
        "size": 1,
        "quotaBackendBytes": "8Gi",
        "autoCompaction": {"mode": "periodic", "retention": "1.5h"},
        "defragmentation": {
            "minReclaimableBytes": 67108864,
            "fragmentedPercent": 30,
            "schedule": "*/30 2-4 * * MON-FRI",
        },
    }
    code, out = await kubectl.apply(good, name="good")
    assert code == 0, out
    for spec in (
        {"size": 1, "quotaBackendBytes": 17179869184},
        {"size": 1, "quotaBackendBytes": "2G", "autoCompaction": {"retention": "1h30m"}},
        {"size": 1, "autoCompaction": {"mode": "revision", "retention": "1000"}},
    ):
        code, out = await kubectl.apply(spec, name="good")
        assert code == 0, f"{spec}: {out}"
    code, out = await kubectl("get", "etcdcluster", "good", "-n", "default", "-o", "json")
    assert code == 0, out
    assert json.loads(out)["spec"]["autoCompaction"]["retention"] == "1000"
