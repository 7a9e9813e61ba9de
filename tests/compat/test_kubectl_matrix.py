"""The kubectl compatibility matrix: what users type, against the local control plane.

One test per row of issue 10's matrix, each on a fresh LocalCluster (API server, kubelet and
the namespace controllers) with the real kubectl binary. kubectl's ``create`` subcommands
(``create token`` included) and ``auth`` send and read protobuf
(tests/apiserver/test_protobuf.py); ``run``, ``expose``, ``apply`` and ``get`` speak JSON.

Every row passes; none is marked as expected to fail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from _kubectl import KUBECTL
from _kubectl import kubectl_ok as ok

from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet.images import ImageResolver, LocalImage

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(
        KUBECTL is None, reason="kubectl is not on PATH (the machine image ships /usr/bin/kubectl)"
    ),
]



@pytest_asyncio.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    """A fresh LocalCluster whose kubelet runs ``example.com/busybox`` commands from PATH."""
    resolver = ImageResolver()
    resolver.register("example.com/busybox*", LocalImage.host())
    async with LocalCluster(
        tmp_path / "cluster", resolver=resolver, backoff_base=0.5, heartbeat=2.0
    ) as c:
        yield c


async def get(cluster: LocalCluster, *args: str) -> dict[str, Any]:
    """``kubectl get ... -o json`` as a dict."""
    out: dict[str, Any] = json.loads(await ok(cluster, "get", *args, "-o", "json"))
    return out


async def apply(cluster: LocalCluster, manifest: str, *extra: str) -> str:
    """``kubectl apply -f -`` of ``manifest`` (client-side validation off: see the explain row)."""
    return await ok(cluster, "apply", "--validate=false", "-f", "-", *extra, stdin=manifest)


# -- create ----------------------------------------------------------------------------------------


async def test_create_namespace(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "namespace", "matrix")
    ns = await get(cluster, "namespace", "matrix")
    assert ns["status"]["phase"] == "Active"
    assert ns["spec"]["finalizers"] == ["kubernetes"]


async def test_create_configmap(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "configmap", "settings", "--from-literal=a=1", "--from-literal=b=")
    assert (await get(cluster, "configmap", "settings"))["data"] == {"a": "1", "b": ""}


async def test_create_secret_generic(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "secret", "generic", "creds", "--from-literal=password=s3cr3t")
    secret = await get(cluster, "secret", "creds")
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"password": "czNjcjN0"}


async def test_create_secret_tls(cluster: LocalCluster, tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    openssl = await asyncio.create_subprocess_exec(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
        "-out", str(cert), "-days", "1", "-subj", "/CN=matrix",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await openssl.wait() == 0
    await ok(cluster, "create", "secret", "tls", "web-tls", f"--cert={cert}", f"--key={key}")
    secret = await get(cluster, "secret", "web-tls")
    assert secret["type"] == "kubernetes.io/tls"
    assert set(secret["data"]) == {"tls.crt", "tls.key"}


async def test_create_deployment(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=0")
    deploy = await get(cluster, "deployment", "web")
    assert deploy["spec"]["replicas"] == 0  # a pointer field: protobuf's zero is kept
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"  # server defaulting ran


async def test_create_serviceaccount(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "serviceaccount", "robot")
    assert (await get(cluster, "serviceaccount", "robot"))["metadata"]["name"] == "robot"


async def test_create_role(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "role", "reader", "--verb=get,list", "--resource=pods,pods/log")
    rules = (await get(cluster, "role", "reader"))["rules"]
    assert rules == [
        {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}
    ]


async def test_create_rolebinding(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "rolebinding", "read", "--role=reader", "--user=jane")
    binding = await get(cluster, "rolebinding", "read")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "reader",
    }
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}
    ]


async def test_create_clusterrole(cluster: LocalCluster) -> None:
    await ok(
        cluster, "create", "clusterrole", "metrics", "--verb=get", "--non-resource-url=/metrics"
    )
    rules = (await get(cluster, "clusterrole", "metrics"))["rules"]
    assert rules == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]


async def test_create_pdb(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "pdb", "web", "--selector=app=web", "--min-available=50%")
    pdb = await get(cluster, "pdb", "web")
    assert pdb["spec"]["minAvailable"] == "50%"
    assert pdb["spec"]["selector"] == {"matchLabels": {"app": "web"}}


async def test_create_job(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "job", "once", "--image=example.com/busybox", "--", "true")
    job = await get(cluster, "job", "once")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


async def test_create_cronjob(cluster: LocalCluster) -> None:
    await ok(
        cluster,
        "create",
        "cronjob",
        "tick",
        "--image=example.com/busybox",
        "--schedule=*/5 * * * *",
    )
    assert (await get(cluster, "cronjob", "tick"))["spec"]["schedule"] == "*/5 * * * *"


async def test_create_quota(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "quota", "small", "--hard=pods=3,requests.cpu=1")
    assert (await get(cluster, "quota", "small"))["spec"]["hard"] == {
        "pods": "3",
        "requests.cpu": "1",
    }


async def test_create_token(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "serviceaccount", "robot")
    token = (await ok(cluster, "create", "token", "robot", "--duration=10m")).strip()
    assert token.count(".") == 2  # a JWT


# -- run, expose -----------------------------------------------------------------------------------


async def test_run(cluster: LocalCluster) -> None:
    await ok(cluster, "run", "web", "--image=nginx:1.25", "--port=80", "--labels=app=web")
    pod = await get(cluster, "pod", "web")
    container = pod["spec"]["containers"][0]
    assert (container["image"], container["ports"]) == (
        "nginx:1.25",
        [{"containerPort": 80, "protocol": "TCP"}],
    )
    assert pod["metadata"]["labels"] == {"app": "web"}


async def test_expose(cluster: LocalCluster) -> None:
    await ok(cluster, "create", "deployment", "web", "--image=nginx:1.25")
    await ok(cluster, "expose", "deployment", "web", "--port=80", "--target-port=8080")
    svc = await get(cluster, "service", "web")
    assert svc["spec"]["selector"] == {"app": "web"}
    assert svc["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 8080}]
    assert svc["spec"]["clusterIP"]


# -- explain, openapi ------------------------------------------------------------------------------


async def test_explain_nested_builtin_fields(cluster: LocalCluster) -> None:
    out = await ok(cluster, "explain", "pods.spec.containers.livenessProbe.httpGet")
    assert "port" in out and "FIELDS:" in out


async def test_get_raw_openapi_v2(cluster: LocalCluster) -> None:
    doc = json.loads(await ok(cluster, "get", "--raw", "/openapi/v2"))
    assert doc["swagger"] == "2.0"
    assert "io.k8s.api.core.v1.Pod" in doc["definitions"]


# -- apply -----------------------------------------------------------------------------------------

PRUNE_FIRST = """
apiVersion: v1
kind: ConfigMap
metadata: {name: keep, labels: {set: matrix}}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: drop, labels: {set: matrix}}
data: {a: "1"}
"""
PRUNE_SECOND = """
apiVersion: v1
kind: ConfigMap
metadata: {name: keep, labels: {set: matrix}}
data: {a: "2"}
"""


async def test_apply_prune_with_the_default_allowlist(cluster: LocalCluster) -> None:
    await apply(cluster, PRUNE_FIRST, "--prune", "-l", "set=matrix")
    await apply(cluster, PRUNE_SECOND, "--prune", "-l", "set=matrix")
    names = [
        i["metadata"]["name"]
        for i in (await get(cluster, "configmaps", "-l", "set=matrix"))["items"]
    ]
    assert names == ["keep"]


EVERY_KIND = Path(__file__).parent / "every_kind.yaml"


async def test_apply_a_manifest_mixing_every_served_kind(cluster: LocalCluster) -> None:
    """Every document of every_kind.yaml is applied, then read back by ``kubectl get -f``."""
    await apply(cluster, EVERY_KIND.read_text())
    names = (await ok(cluster, "get", "-f", str(EVERY_KIND), "-o", "name")).split()
    documents = EVERY_KIND.read_text().count("\nkind: ")
    assert len(names) == documents


# -- auth ------------------------------------------------------------------------------------------


async def test_auth_can_i(cluster: LocalCluster) -> None:
    assert (await ok(cluster, "auth", "can-i", "create", "deployments")).strip() == "yes"


async def test_auth_whoami(cluster: LocalCluster) -> None:
    out = await ok(cluster, "auth", "whoami", "-o", "json")
    assert json.loads(out)["status"]["userInfo"]["username"]


# -- logs ------------------------------------------------------------------------------------------


async def test_logs_since_timestamps_limit_bytes(cluster: LocalCluster) -> None:
    await ok(
        cluster, "run", "talker", "--image=example.com/busybox", "--restart=Never", "--command",
        "--", "sh", "-c", "echo first-line; echo second-line; sleep 60",
    )  # fmt: skip
    await ok(cluster, "wait", "--for=condition=Ready", "--timeout=40s", "pod/talker")
    full = await ok(cluster, "logs", "talker")
    assert "second-line" in full  # the pod has logged both lines
    out = await ok(cluster, "logs", "talker", "--since=1h", "--timestamps", "--limit-bytes=40")
    assert len(out.encode()) <= 40
    first = out.splitlines()[0]
    stamp, _, text = first.partition(" ")
    assert stamp.endswith("Z") and "T" in stamp and text.startswith("first")
