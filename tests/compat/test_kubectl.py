"""The real kubectl as a client of the embedded API server (over HTTPS with its kubeconfig)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _kubectl import KUBECTL, kubectl
from _kubectl import kubectl_ok as ok

from opframe.testing.apiserver import ApiServer

pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not on PATH (the machine image ships /usr/bin/kubectl)"
)

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.compat.example.com
spec:
  group: compat.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: string, description: How big the widget is.}
              replicas: {type: integer, default: 1}
          status:
            type: object
            properties:
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
"""

WIDGETS = """
apiVersion: compat.example.com/v1
kind: Widget
metadata: {name: alpha}
spec: {size: small}
---
apiVersion: compat.example.com/v1
kind: Widget
metadata: {name: bravo}
spec: {size: large}
"""

WORKLOADS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: "nginx:1.25"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""

DEADLINE = 30.0


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    """A fresh HTTPS server (kubectl sends bearer tokens over TLS only)."""
    async with ApiServer(state_dir=tmp_path / "apiserver", persist=False) as api:
        yield api


async def apply(server: ApiServer, manifest: str, *extra: str) -> str:
    # Client-side validation needs /openapi/v3, which the server does not serve yet (see
    # test_apply_validates_against_the_served_openapi).
    return await ok(server, "apply", "--validate=false", "-f", "-", *extra, stdin=manifest)


async def with_widgets(server: ApiServer) -> None:
    await apply(server, CRD)
    await ok(
        server,
        "wait",
        "--for=condition=Established",
        "--timeout=20s",
        "crd/widgets.compat.example.com",
    )
    await apply(server, WIDGETS)


def table(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()]


async def test_api_resources_lists_builtins_and_new_crd(server: ApiServer) -> None:
    await with_widgets(server)
    out = await ok(server, "api-resources", "--no-headers")
    names = {line.split()[0] for line in out.splitlines()}
    assert {"pods", "services", "deployments", "leases", "widgets", "events"} <= names
    assert "wdg" in out


async def test_get_prints_the_crd_printer_columns(server: ApiServer) -> None:
    await with_widgets(server)
    rows = table(await ok(server, "get", "widgets"))
    assert rows[0] == ["NAME", "SIZE", "READY", "AGE"]
    assert [r[:2] for r in rows[1:]] == [["alpha", "small"], ["bravo", "large"]]


async def test_short_name_and_yaml_output_show_server_defaults(server: ApiServer) -> None:
    await with_widgets(server)
    out = await ok(server, "get", "wdg", "alpha", "-o", "json")
    obj = json.loads(out)
    assert obj["spec"] == {"size": "small", "replicas": 1}
    assert obj["metadata"]["generation"] == 1 and obj["metadata"]["uid"]
    yaml_out = await ok(server, "get", "widget", "alpha", "-o", "yaml")
    assert "replicas: 1" in yaml_out and "resourceVersion:" in yaml_out


async def test_merge_and_json_patches(server: ApiServer) -> None:
    await with_widgets(server)
    await ok(
        server, "patch", "widget", "alpha", "--type", "merge", "-p", '{"spec":{"size":"medium"}}'
    )
    await ok(
        server,
        "patch",
        "widget",
        "alpha",
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":3}]',
    )
    obj = json.loads(await ok(server, "get", "widget", "alpha", "-o", "json"))
    assert obj["spec"] == {"size": "medium", "replicas": 3}
    assert obj["metadata"]["generation"] == 3


async def test_server_side_apply_conflicts_then_forces(server: ApiServer) -> None:
    await with_widgets(server)
    await ok(
        server, "patch", "widget", "alpha", "--type", "merge", "-p", '{"spec":{"size":"tiny"}}'
    )
    manifest = "apiVersion: compat.example.com/v1\nkind: Widget\nmetadata: {name: alpha}\n"
    manifest += "spec: {size: huge}\n"
    clash = await kubectl(
        server, "apply", "--server-side", "--validate=false", "-f", "-", stdin=manifest
    )
    assert clash.code != 0 and "conflict" in clash.err and ".spec.size" in clash.err
    await ok(
        server,
        "apply",
        "--server-side",
        "--force-conflicts",
        "--validate=false",
        "-f",
        "-",
        stdin=manifest,
    )
    out = await ok(server, "get", "widget", "alpha", "-o", "json", "--show-managed-fields")
    obj = json.loads(out)
    assert obj["spec"]["size"] == "huge"
    managers = {m["manager"] for m in obj["metadata"]["managedFields"]}
    assert "kubectl" in managers


async def test_label_then_select_by_label(server: ApiServer) -> None:
    await with_widgets(server)
    await ok(server, "label", "widget", "alpha", "tier=gold")
    rows = table(await ok(server, "get", "widgets", "-l", "tier=gold", "-L", "tier"))
    assert rows[0][-1] == "TIER" and [r[0] for r in rows[1:]] == ["alpha"]


async def test_wait_for_a_status_condition(server: ApiServer) -> None:
    await with_widgets(server)
    waiter = asyncio.create_task(
        ok(server, "wait", "--for=condition=Ready", "--timeout=20s", "widget/bravo")
    )
    try:
        await ok(
            server,
            "patch",
            "widget",
            "bravo",
            "--subresource=status",
            "--type",
            "merge",
            "-p",
            '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}',
        )
        assert "condition met" in await waiter
    finally:
        waiter.cancel()
    rows = table(await ok(server, "get", "widget", "bravo"))
    assert rows[1][:3] == ["bravo", "large", "True"]


async def _read_until(stream: asyncio.StreamReader, wanted: list[str]) -> list[str]:
    lines: list[str] = []
    async with asyncio.timeout(DEADLINE):
        while not all(any(w in line for line in lines) for w in wanted):
            raw = await stream.readline()
            if not raw:
                break
            lines.append(raw.decode().rstrip())
    return lines


@contextlib.asynccontextmanager
async def _watching_widgets(server: ApiServer) -> AsyncIterator[asyncio.StreamReader]:
    """``kubectl get widgets -w --output-watch-events`` running; its output. Terminated after."""
    assert KUBECTL is not None
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", str(server.kubeconfig), "get", "widgets", "-w",
        "--output-watch-events", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        yield proc.stdout
    finally:
        proc.terminate()
        await proc.wait()


async def test_watch_in_the_background_sees_changes(server: ApiServer) -> None:
    await with_widgets(server)
    async with _watching_widgets(server) as out:
        await _read_until(out, ["ADDED", "bravo"])
        await ok(server, "label", "widget", "bravo", "seen=yes")
        await ok(server, "delete", "widget", "alpha")
        lines = await _read_until(out, ["MODIFIED", "DELETED"])
    assert any(line.split()[:2] == ["MODIFIED", "bravo"] for line in lines)
    assert any(line.split()[:2] == ["DELETED", "alpha"] for line in lines)


async def test_watch_keeps_the_printer_columns(server: ApiServer) -> None:
    await with_widgets(server)
    async with _watching_widgets(server) as out:
        await _read_until(out, ["bravo"])
        await ok(server, "label", "widget", "bravo", "seen=yes")
        lines = await _read_until(out, ["MODIFIED"])
    assert not any(line.startswith("EVENT") for line in lines)
    assert next(line for line in lines if "MODIFIED" in line).split()[2] == "large"


async def test_delete_removes_the_object(server: ApiServer) -> None:
    await with_widgets(server)
    assert "deleted" in await ok(server, "delete", "widget", "alpha")
    missing = await kubectl(server, "get", "widget", "alpha")
    assert missing.code != 0 and "NotFound" in missing.err


async def test_builtin_kinds_print_server_side_columns(server: ApiServer) -> None:
    await apply(server, WORKLOADS)
    deploy = table(await ok(server, "get", "deployments"))
    assert deploy[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploy[1][:4] == ["web", "0/1", "0", "0"]
    svc = table(await ok(server, "get", "services", "web", "-o", "wide"))
    assert svc[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert svc[1][1] == "ClusterIP" and svc[1][2].startswith("10.0.0.")
    assert svc[1][4] == "80/TCP" and svc[1][6] == "app=web"
    ns = table(await ok(server, "get", "namespaces"))
    assert ["default", "Active"] == ns[1][:2]


async def test_apply_validates_against_the_served_openapi(server: ApiServer) -> None:
    await ok(server, "apply", "-f", "-", stdin=CRD)


async def test_explain_describes_a_custom_resource_field(server: ApiServer) -> None:
    await with_widgets(server)
    assert "How big the widget is." in await ok(server, "explain", "widget.spec.size")


async def test_imperative_create_of_a_builtin(server: ApiServer) -> None:
    """kubectl create sends the ConfigMap as protobuf (tests/apiserver/test_protobuf.py)."""
    await ok(server, "create", "configmap", "settings", "--from-literal=a=1")
    obj = json.loads(await ok(server, "get", "configmap", "settings", "-o", "json"))
    assert obj["data"] == {"a": "1"}
