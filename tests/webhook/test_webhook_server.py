"""The Manager's HTTPS webhook server, called by a real HTTPS client with review JSON.

What kube-apiserver does on the wire (``k8s.io/apiserver/pkg/admission/plugin/webhook/
generic/webhook.go`` and ``.../request/admissionreview.go``; ``apiextensions-apiserver/pkg/
apiserver/conversion/webhook_converter.go``): POST the review as JSON to ``clientConfig``'s path
over TLS verified with ``caBundle``, expect 200 and the review back.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from opframe import Client, Manager
from opframe.testing import eventually
from opframe.webhook import CertificateFiles, SelfSignedCertificates, WebhookServer

from ._models import CONVERT, MUTATE, VALIDATE, make_manager
from .test_admission_review import review as admission_review
from .test_admission_review import web
from .test_conversion_review import obj
from .test_conversion_review import review as conversion_review


def client_context(ca_pem: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    return context


async def post(url: str, ca_pem: bytes, body: Any) -> tuple[int, Any]:
    connector = aiohttp.TCPConnector(ssl=client_context(ca_pem))
    async with aiohttp.ClientSession(connector=connector) as session, session.post(
        url, data=json.dumps(body), headers={"Content-Type": "application/json"}
    ) as resp:
        text = await resp.text()
        return resp.status, (json.loads(text) if resp.content_type == "application/json" else text)


async def served_certificate(url: str) -> bytes:
    """The DER certificate a new TLS connection to ``url`` is served (not verified)."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection(host, int(port), ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert der is not None
        return der  # type: ignore[no-any-return]
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.fixture
async def running(client: Client) -> AsyncIterator[tuple[Manager, str]]:
    """A Manager on the embedded API server serving the webhooks on a free port."""
    manager = make_manager(WebhookServer(port=0), client)
    task = asyncio.create_task(manager.run(handle_signals=False))
    server = manager.webhook_server
    assert server is not None
    await eventually(lambda: server.url is not None, timeout=60, message="the server serves")
    url = server.url
    assert url is not None
    try:
        yield manager, url
    finally:
        manager.stop()
        await asyncio.wait_for(task, 60)


async def test_manager_serves_validating_mutating_and_conversion_over_verified_tls(
    running: tuple[Manager, str],
) -> None:
    manager, url = running
    assert manager.webhook_server is not None
    ca = manager.webhook_server.ca_bundle

    status, answer = await post(url + VALIDATE.path, ca, admission_review(obj=web(11)))
    assert status == 200
    assert answer["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
    assert answer["response"]["allowed"] is False
    assert answer["response"]["status"]["message"] == "spec.scale: 11 is more than 10"

    status, answer = await post(url + MUTATE.path, ca, admission_review(obj=web(1)))
    assert status == 200 and answer["response"]["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(answer["response"]["patch"]))
    assert {"op": "replace", "path": "/spec/image", "value": "nginx:1.27"} in ops

    body = conversion_review("hooks.opframe.dev/v1", obj("v2", {"scale": 6}))
    status, answer = await post(url + CONVERT.path, ca, body)
    assert status == 200 and answer["response"]["result"] == {"status": "Success"}
    assert answer["response"]["convertedObjects"][0]["spec"] == {"replicas": 6, "image": ""}


async def test_a_body_that_is_not_a_review_gets_400_with_the_reason(
    running: tuple[Manager, str],
) -> None:
    manager, url = running
    assert manager.webhook_server is not None
    ca = manager.webhook_server.ca_bundle
    status, text = await post(url + VALIDATE.path, ca, {"kind": "Pod"})
    assert status == 400 and "expected apiVersion admission.k8s.io/v1" in text
    status, text = await post(url + CONVERT.path, ca, {"apiVersion": "v1"})
    assert status == 400 and "ConversionReview" in text


async def test_a_client_that_does_not_trust_the_ca_is_refused(
    running: tuple[Manager, str],
) -> None:
    _, url = running
    other_ca = SelfSignedCertificates().ca_bundle
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await post(url + VALIDATE.path, other_ca, admission_review(obj=web()))


async def test_rotated_certificate_is_served_to_new_connections_without_restart() -> None:
    certs = SelfSignedCertificates(
        validity=dt.timedelta(seconds=4), rotate_before=dt.timedelta(seconds=3)
    )
    server = WebhookServer(port=0, certificates=certs, check_interval=0.1)
    server.register(VALIDATE)
    async with server.serve() as url:
        first = await served_certificate(url)

        async def rotated() -> None:
            assert await served_certificate(url) != first

        await eventually(rotated, timeout=60, message="the renewed certificate is served")
        status, _ = await post(url + VALIDATE.path, certs.ca_bundle, admission_review(obj=web()))
        assert status == 200


async def test_certificate_files_replaced_on_disk_are_served_without_restart(
    tmp_path: Path,
) -> None:
    one, two = SelfSignedCertificates().current(), SelfSignedCertificates().current()

    def install(cert: Any) -> None:
        for name, data in (("tls.crt", cert.cert_pem), ("tls.key", cert.key_pem),
                           ("ca.crt", cert.ca_pem)):
            (tmp_path / name).write_bytes(data)

    install(one)
    server = WebhookServer(port=0, certificates=CertificateFiles(tmp_path), check_interval=0.1)
    server.register(VALIDATE)
    async with server.serve() as url:
        assert server.ca_bundle == one.ca_pem
        der_one = x509.load_pem_x509_certificate(one.cert_pem).public_bytes(
            serialization_der()
        )
        assert await served_certificate(url) == der_one
        install(two)
        der_two = x509.load_pem_x509_certificate(two.cert_pem).public_bytes(serialization_der())

        async def swapped() -> None:
            assert await served_certificate(url) == der_two

        await eventually(swapped, timeout=60, message="the new files are served")
        status, _ = await post(url + VALIDATE.path, two.ca_pem, admission_review(obj=web()))
        assert status == 200


def serialization_der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


async def test_a_standby_replica_serves_webhooks_too(client: Client) -> None:
    """The API server calls any pod behind the Service: webhooks do not wait for the Lease
    (controller-runtime starts its webhook server outside leader election too)."""
    from opframe import LeaderElectionConfig, Lease
    from opframe.kinds import LeaseSpec

    now = dt.datetime.now(dt.UTC)
    held = Lease(
        metadata={"name": "web-operator", "namespace": "default"},
        spec=LeaseSpec(holder_identity="the-leader", lease_duration_seconds=3600,
                       acquire_time=now, renew_time=now),
    )
    await client.create(held)
    server = WebhookServer(port=0)
    manager = Manager(
        client,
        leader_election=LeaderElectionConfig(name="web-operator", retry_period=0.5,
                                             renew_deadline=2, lease_duration=3),
        webhook_server=server,
        health_address=None,
        metrics_address=None,
    )
    manager.add_webhook(VALIDATE)
    task = asyncio.create_task(manager.run(handle_signals=False))
    try:
        await eventually(lambda: server.url is not None, timeout=60, message="served")
        await manager.wait_ready()
        assert server.url is not None and not manager.is_leader
        status, answer = await post(server.url + VALIDATE.path, server.ca_bundle,
                                    admission_review(obj=web(11)))
        assert status == 200 and answer["response"]["allowed"] is False
        assert not manager.is_leader
    finally:
        manager.stop()
        await asyncio.wait_for(task, 60)


def test_conversion_reviews_on_a_shared_path_go_to_the_kind_they_name() -> None:
    from opframe.resource import Resource
    from opframe.webhook.server import _conversion_for

    from ._models import WebSpecV1

    class GadgetV2(Resource, group="hooks.opframe.dev", version="v2", kind="Gadget"):
        pass

    class GadgetV1(Resource, group="hooks.opframe.dev", version="v1", kind="Gadget",
                   storage=False):
        spec: WebSpecV1 = WebSpecV1()

        def convert_to_hub(self) -> GadgetV2:
            return GadgetV2(metadata=self.metadata)

        @classmethod
        def convert_from_hub(cls, hub: GadgetV2) -> GadgetV1:
            return cls(metadata=hub.metadata)

    from opframe.webhook import ConversionWebhook

    gadgets = ConversionWebhook(hub=GadgetV2, spokes=[GadgetV1])
    server = WebhookServer(port=0)
    server.register(CONVERT)
    server.register(gadgets)
    with pytest.raises(ValueError, match="Web already has a conversion webhook"):
        server.register(CONVERT)
    gadget = {**obj("v1", {}), "kind": "Gadget"}
    body = conversion_review("hooks.opframe.dev/v2", gadget)
    assert _conversion_for([CONVERT, gadgets], body) is gadgets
    assert _conversion_for([CONVERT, gadgets], conversion_review(
        "hooks.opframe.dev/v2", obj("v1", {}))) is CONVERT
