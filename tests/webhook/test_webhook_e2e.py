"""End to end: the embedded API server calls the webhooks an opframe Manager serves.

Everything as a user does it: the configurations come from ``opframe webhook generate`` and
the CRD from ``opframe crd generate --conversion-url``, applied with the real ``kubectl``; the
webhooks run in a Manager; ``kubectl`` shows what the API server answers. Skipped until the
embedded API server calls webhooks (``opframe.testing.apiserver.admission.webhooks``).

Rules: kube-apiserver's error answer for a refusal (``admission webhook "<name>" denied the
request: <message>``, ``apiserver/pkg/admission/plugin/webhook/errors/statuserror.go``), for an
unreachable webhook under ``failurePolicy: Fail`` (``failed calling webhook``,
``.../webhook/validating/dispatcher.go``) and ``Ignore`` (admitted); reads and writes through a
non-storage version go through the conversion webhook
(``apiextensions-apiserver/pkg/apiserver/conversion/webhook_converter.go``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _kubectl import KUBECTL, Ran, kubectl, kubectl_ok, run

from opframe import Client, Manager
from opframe.testing import eventually
from opframe.testing.apiserver import ApiServer
from opframe.webhook import SelfSignedCertificates, WebhookServer

from ._models import WebV1, WebV2, make_manager

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0


def _calls_webhooks() -> bool:
    try:
        return importlib.util.find_spec("opframe.testing.apiserver.admission.webhooks") is not None
    except ImportError:
        return False


pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="needs the kubectl binary"),
    pytest.mark.skipif(
        not _calls_webhooks(), reason="the embedded API server does not call webhooks yet"
    ),
]


async def opframe(*args: str) -> str:
    ran = await run(sys.executable, "-m", "opframe", *args, cwd=ROOT)
    assert ran.code == 0, f"opframe {' '.join(args)} failed: {ran.err}"
    return ran.out


@dataclass
class Kubectl:
    server: ApiServer

    async def __call__(self, *args: str, stdin: str | None = None) -> Ran:
        return await kubectl(self.server, *args, stdin=stdin)

    async def ok(self, *args: str, stdin: str | None = None) -> str:
        return await kubectl_ok(self.server, *args, stdin=stdin)

    async def apply(self, manifest: str) -> Ran:
        return await self("apply", "--validate=false", "-f", "-", stdin=textwrap.dedent(manifest))


@dataclass
class Operator:
    manager: Manager
    task: asyncio.Task[None]
    url: str

    async def stop(self) -> None:
        self.manager.stop()
        await asyncio.wait_for(self.task, DEADLINE)


@pytest.fixture
async def operator(client: Client) -> AsyncIterator[Operator]:
    manager = make_manager(WebhookServer(port=0, certificates=SelfSignedCertificates()), client)
    task = asyncio.create_task(manager.run(handle_signals=False))
    server = manager.webhook_server
    assert server is not None
    await eventually(lambda: server.url is not None, timeout=DEADLINE, message="webhooks served")
    op = Operator(manager, task, str(server.url))
    try:
        yield op
    finally:
        if not task.done():
            await op.stop()


@pytest.fixture
async def installed(api_server: ApiServer, operator: Operator, tmp_path: Path) -> Kubectl:
    """The CRD (conversion webhook) and webhook configurations applied with kubectl."""
    assert operator.manager.webhook_server is not None
    ca = tmp_path / "ca.crt"
    ca.write_bytes(operator.manager.webhook_server.ca_bundle)
    kubectl = Kubectl(api_server)
    crd = await opframe(
        "crd", "generate", "tests.webhook._models:WebV1", "tests.webhook._models:WebV2",
        "--conversion-url", operator.url, "--ca-bundle-file", str(ca),
    )
    await kubectl.ok("apply", "-f", "-", stdin=crd)
    await kubectl.ok(
        "wait", "--for=condition=Established", "--timeout=30s",
        "crd/webs.hooks.opframe.dev",
    )
    hooks = await opframe(
        "webhook", "generate", "tests.webhook._models:manager", "--name", "web-operator",
        "--url", operator.url, "--ca-bundle-file", str(ca),
    )
    await kubectl.ok("apply", "-f", "-", stdin=hooks)
    return kubectl


WEB_V2 = """
    apiVersion: hooks.opframe.dev/v2
    kind: Web
    metadata:
      name: {name}
      namespace: default
      labels: {{tier: web}}
    spec:
      scale: {scale}
"""


async def test_validating_webhook_refusal_is_shown_by_kubectl_apply(installed: Kubectl) -> None:
    ran = await installed.apply(WEB_V2.format(name="huge", scale=11))
    assert ran.code != 0
    assert (
        'admission webhook "validate.webs.hooks.opframe.dev" denied the request: '
        "spec.scale: 11 is more than 10"
    ) in ran.err


async def test_validating_webhook_warning_is_shown_by_kubectl(installed: Kubectl) -> None:
    ran = await installed.apply(WEB_V2.format(name="big", scale=7))
    assert ran.code == 0, ran.err
    assert "spec.scale 7 is expensive" in ran.err


async def test_mutating_webhook_defaults_a_field(installed: Kubectl, client: Client) -> None:
    ran = await installed.apply(WEB_V2.format(name="blog", scale=2))
    assert ran.code == 0, ran.err
    web = await client.get(WebV2, "blog", "default")
    assert web.spec.image == "nginx:1.27"
    assert (web.metadata.labels or {})["app.kubernetes.io/managed-by"] == "web-operator"


async def test_two_versions_read_and_written_through_the_conversion_webhook(
    installed: Kubectl, client: Client
) -> None:
    ran = await installed.apply(
        """
        apiVersion: hooks.opframe.dev/v1
        kind: Web
        metadata: {name: shop, namespace: default, labels: {tier: web}}
        spec: {replicas: 3}
        """
    )
    assert ran.code == 0, ran.err
    v2 = json.loads(await installed.ok("get", "webs.v2.hooks.opframe.dev", "shop", "-o", "json"))
    assert v2["apiVersion"] == "hooks.opframe.dev/v2"
    assert v2["spec"] == {"scale": 3, "image": "nginx:1.27"}
    v1 = json.loads(await installed.ok("get", "webs.v1.hooks.opframe.dev", "shop", "-o", "json"))
    assert v1["apiVersion"] == "hooks.opframe.dev/v1"
    assert v1["spec"] == {"replicas": 3, "image": "nginx:1.27"}
    assert v1["metadata"]["uid"] == v2["metadata"]["uid"]

    await installed.ok(
        "patch", "webs.v1.hooks.opframe.dev", "shop", "--type=merge",
        "-p", '{"spec":{"replicas":4}}',
    )
    assert (await client.get(WebV2, "shop", "default")).spec.scale == 4
    assert (await client.get(WebV1, "shop", "default")).spec.replicas == 4
    listed = await installed.ok("get", "webs.v1.hooks.opframe.dev", "-o", "name")
    assert "shop" in listed

    # The validating webhook sees v2 (matchPolicy Equivalent) for a write through v1.
    ran = await installed(
        "patch", "webs.v1.hooks.opframe.dev", "shop", "--type=merge",
        "-p", '{"spec":{"replicas":12}}',
    )
    assert ran.code != 0 and "spec.scale: 12 is more than 10" in ran.err


async def test_failure_policy_fail_refuses_writes_while_the_webhook_is_down_and_ignore_admits(
    installed: Kubectl, operator: Operator
) -> None:
    await operator.stop()
    ran = await installed.apply(WEB_V2.format(name="down", scale=1))
    assert ran.code != 0
    assert 'failed calling webhook "validate.webs.hooks.opframe.dev"' in ran.err

    await installed.ok(
        "patch", "validatingwebhookconfiguration", "web-operator-validating", "--type=json",
        "-p", '[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]',
    )

    async def admitted() -> None:
        ran = await installed.apply(WEB_V2.format(name="down", scale=1))
        assert ran.code == 0, ran.err

    # The configuration change reaches the server's webhook source asynchronously.
    await eventually(admitted, timeout=DEADLINE, message="Ignore admits the write")
