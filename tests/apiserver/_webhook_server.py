"""A small HTTPS webhook server for the tests: aiohttp on 127.0.0.1, a CA made with
``cryptography``; each path answers with a handler the test gives (AdmissionReview or
ConversionReview in, the handler's JSON out) and records what it received."""

from __future__ import annotations

import base64
import datetime
import inspect
import ipaddress
import json
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: The Service (``hooks`` in ``default``) whose name the certificate also carries.
SERVICE_HOST = "hooks.default.svc"

Handler = Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_certificates(directory: Path) -> tuple[bytes, Path, Path]:
    """A CA (PEM) and a server certificate and key for 127.0.0.1 (and the ``hooks`` Service)
    signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("webhook-test-ca"))
        .issuer_name(_name("webhook-test-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("webhook"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    # The name a clientConfig.service reference is verified against.
                    x509.DNSName(SERVICE_HOST),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "webhook.crt", directory / "webhook.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file


class WebhookServer:
    """``async with WebhookServer(tmp_path) as hooks: hooks.handle("/v", fn)``."""

    def __init__(self, directory: Path) -> None:
        ca, self._cert, self._key = make_certificates(directory)
        self.ca_bundle = base64.b64encode(ca).decode()
        self.handlers: dict[str, Handler] = {}
        #: (path, query, review) of every request received, in order.
        self.received: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    def handle(self, path: str, handler: Handler) -> str:
        """Answer ``path`` with ``handler``; returns its URL."""
        self.handlers[path] = handler
        return self.url(path)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def reviews(self, path: str) -> list[dict[str, Any]]:
        return [r for p, _, r in self.received if p == path]

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        review = json.loads(await request.read())
        self.received.append((request.path, dict(request.query), review))
        handler = self.handlers.get(request.path)
        if handler is None:
            return web.Response(status=404, text="no handler")
        answer = handler(review)
        if inspect.isawaitable(answer):
            answer = await answer
        return web.json_response(answer)

    async def __aenter__(self) -> WebhookServer:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self._cert, self._key)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def allow(review: dict[str, Any], **response: Any) -> dict[str, Any]:
    """An AdmissionReview answer for ``review``: allowed unless ``response`` says otherwise."""
    body = {"uid": review["request"]["uid"], "allowed": True, **response}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": body}


def json_patch(review: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """An allowing answer that patches the object with ``ops``."""
    patch = base64.b64encode(json.dumps(ops).encode()).decode()
    return allow(review, patchType="JSONPatch", patch=patch)
