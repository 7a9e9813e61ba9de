"""A small HTTPS webhook server for the tests: aiohttp on 127.0.0.1, a CA made with
``opframe.certificates``; each path answers with a handler the test gives (AdmissionReview or
ConversionReview in, the handler's JSON out) and records what it received."""

from __future__ import annotations

import base64
import datetime
import inspect
import json
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from opframe import Client
from opframe.certificates import issue_ca, issue_leaf

#: The Service (``hooks`` in ``default``) whose name the certificate also carries.
SERVICE_HOST = "hooks.default.svc"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"
#: ConfigMap writes: what the webhooks of the tests are called for unless they say otherwise.
CM_RULE = {
    "operations": ["CREATE", "UPDATE", "DELETE"],
    "apiGroups": [""],
    "apiVersions": ["v1"],
    "resources": ["configmaps"],
}

Handler = Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]


def make_certificates(directory: Path) -> tuple[bytes, Path, Path]:
    """A CA (PEM) and a server certificate and key for 127.0.0.1 (and the ``hooks`` Service)
    signed by it."""
    ca = issue_ca("webhook-test-ca", validity=datetime.timedelta(days=1))
    # SERVICE_HOST: the name a clientConfig.service reference is verified against.
    leaf = issue_leaf(
        ca,
        "webhook",
        dns_names=[SERVICE_HOST],
        ip_addresses=["127.0.0.1"],
        validity=datetime.timedelta(days=1),
    )
    cert_file, key_file = directory / "webhook.crt", directory / "webhook.key"
    leaf.write(cert_file, key_file)
    return ca.cert, cert_file, key_file


class WebhookServer:
    """``async with WebhookServer(tmp_path) as hooks: hooks.handle("/v", fn)``."""

    def __init__(self, directory: Path) -> None:
        ca, self._cert, self._key = make_certificates(directory)
        self.ca_bundle = base64.b64encode(ca).decode()
        self.handlers: dict[str, Handler] = {}
        #: (path, query, review) of every request received, in order.
        self.received: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        #: The client (host, port) of every request received: one per connection used.
        self.peers: list[Any] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    def handle(self, path: str, handler: Handler) -> str:
        """Answer ``path`` with ``handler``; returns its URL."""
        self.handlers[path] = handler
        return self.url(path)

    def webhook(self, name: str, path: str, handler: Handler, **fields: Any) -> dict[str, Any]:
        """One entry of a webhook configuration calling ``handler`` at ``path`` (see
        :func:`webhook`)."""
        return webhook(name, self.handle(path, handler), self.ca_bundle, **fields)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def reviews(self, path: str) -> list[dict[str, Any]]:
        return [r for p, _, r in self.received if p == path]

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        review = json.loads(await request.read())
        self.received.append((request.path, dict(request.query), review))
        self.peers.append(
            request.transport.get_extra_info("peername") if request.transport else None
        )
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
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=ctx)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def restart(self) -> None:
        """Stop serving (closing every connection) and serve again on the same port."""
        if self._runner is not None:
            await self._runner.cleanup()
        await self.__aenter__()

    def open_connections(self) -> int:
        """How many client connections are open to this server now."""
        server = self._runner.server if self._runner is not None else None
        return 0 if server is None else len(server.connections)

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


def webhook(name: str, url: str, ca_bundle: str, **fields: Any) -> dict[str, Any]:
    """One entry of a webhook configuration's ``webhooks``: ``url`` trusted with ``ca_bundle``,
    called for :data:`CM_RULE` unless ``fields`` (``rules``, ``failurePolicy``, ...) say
    otherwise."""
    hook = {
        "name": name,
        "clientConfig": {"url": url, "caBundle": ca_bundle},
        "rules": [CM_RULE],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    }
    hook.update(fields)
    return hook


def configuration(kind: str, name: str, *webhooks: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The collection path and body of a ``kind`` (``ValidatingWebhookConfiguration`` or
    ``MutatingWebhookConfiguration``) named ``name`` holding ``webhooks``."""
    body = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "webhooks": list(webhooks),
    }
    return f"{ADMISSION}/{kind.lower()}s", body


async def install(client: Client, kind: str, name: str, *webhooks: dict[str, Any]) -> None:
    """Create the webhook configuration of :func:`configuration`."""
    path, body = configuration(kind, name, *webhooks)
    await client.request("POST", path, body=body)


async def validating(client: Client, *webhooks: dict[str, Any], name: str = "v") -> None:
    """Create the ValidatingWebhookConfiguration ``name`` holding ``webhooks``."""
    await install(client, "ValidatingWebhookConfiguration", name, *webhooks)


def denying(**status: Any) -> Handler:
    """A handler refusing every review with ``status`` (``message``, ``code``, ``reason``)."""
    return lambda review: allow(review, allowed=False, status=status)
