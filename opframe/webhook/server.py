"""The HTTPS server that answers the API server's admission and conversion reviews.

::

    server = WebhookServer(port=9443, certificates=CertificateFiles("/tmp/k8s-webhook-server"))
    manager = Manager(client, webhook_server=server)
    manager.add_webhook(ValidatingWebhook(Web, check_web))

The manager serves it from the start of :meth:`~opframe.Manager.run` on every replica, leader
or not (the API server may call any of them), until it stops. ``POST <webhook.path>`` takes an
``AdmissionReview`` or ``ConversionReview`` and answers 200 with the review reply, refusals
included; a body that is not such a review gets 400 with a one-line reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from opframe._logging import logger_for
from opframe._tasks import cancel_and_wait
from opframe.webhook.admission import MutatingWebhook, ReviewError, ValidatingWebhook
from opframe.webhook.certs import CertificateSource, SelfSignedCertificates, ServingCertificate
from opframe.webhook.conversion import ConversionWebhook

__all__ = ["Webhook", "WebhookServer"]

Webhook = ValidatingWebhook[Any] | MutatingWebhook[Any] | ConversionWebhook
"""Anything :meth:`WebhookServer.register` (and :meth:`Manager.add_webhook`) takes."""

_log = logger_for("webhook")
_MAX_BODY = 64 * 1024 * 1024  # a ConversionReview of a whole list can be large


class WebhookServer:
    """An aiohttp HTTPS server for webhooks, its certificate hot-reloaded.

    Args:
        host: the address to listen on: loopback by default; in a pod, its IP or ``0.0.0.0``.
        port: the port (0: any free port; see :attr:`url`). 9443 is controller-runtime's.
        certificates: the serving certificate (default: :class:`SelfSignedCertificates` for
            ``localhost`` and ``127.0.0.1``).
        check_interval: seconds between looks at the certificate source for a new one.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9443,
        *,
        certificates: CertificateSource | None = None,
        check_interval: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.certificates: CertificateSource = (
            certificates if certificates is not None else SelfSignedCertificates()
        )
        self.check_interval = check_interval
        self._webhooks: list[Webhook] = []
        self._serving: ServingCertificate | None = None
        self.url: str | None = None
        """``https://host:port`` once serving."""

    @property
    def webhooks(self) -> tuple[Webhook, ...]:
        """The registered webhooks, in registration order."""
        return tuple(self._webhooks)

    def register(self, webhook: Webhook) -> None:
        """Serve ``webhook`` at its path (before :meth:`serve`).

        Raises:
            ValueError: another admission webhook has the path, or the kind already has a
                conversion webhook.
        """
        if self.url is not None:
            raise RuntimeError("register webhooks before the server starts")
        for other in self._webhooks:
            if isinstance(webhook, ConversionWebhook) and isinstance(other, ConversionWebhook):
                if (other.info.group, other.info.kind) == (webhook.info.group, webhook.info.kind):
                    raise ValueError(f"{webhook.info.kind} already has a conversion webhook")
                continue
            if other.path == webhook.path:
                raise ValueError(
                    f"two webhooks at path {webhook.path!r}; pass path=... to tell them apart"
                )
        self._webhooks.append(webhook)

    @property
    def ca_bundle(self) -> bytes:
        """The PEM CA bundle clients verify the server with (the configurations' caBundle)."""
        return self.certificates.current().ca_pem

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Serve until the block exits; yields :attr:`url`."""
        with tempfile.TemporaryDirectory(prefix="opframe-webhook-") as tmp:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            self._load(context, Path(tmp))
            app = web.Application(client_max_size=_MAX_BODY)
            app.add_routes(self._routes())
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            watcher: asyncio.Task[None] | None = None
            try:
                site = web.TCPSite(runner, self.host, self.port, ssl_context=context)
                await site.start()
                host, port = runner.addresses[0][:2]
                self.url = f"https://{host}:{port}"
                _log.info("serving %d webhooks on %s", len(self._webhooks), self.url)
                watcher = asyncio.create_task(
                    self._watch_certificates(context, Path(tmp)), name="opframe webhook certs"
                )
                yield self.url
            finally:
                if watcher is not None:
                    await cancel_and_wait(watcher)
                await runner.cleanup()
                self.url = None

    def _load(self, context: ssl.SSLContext, tmp: Path) -> bool:
        """Load the source's certificate into ``context`` if it changed; True if it did."""
        current = self.certificates.current()
        if current is self._serving:
            return False
        # load_cert_chain wants files; they live in a private directory for the server's life.
        cert, key = tmp / "tls.crt", tmp / "tls.key"
        cert.write_bytes(current.cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(current.key_pem)
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            raise ValueError(f"webhook serving certificate does not load: {exc}") from exc
        self._serving = current
        return True

    async def _watch_certificates(self, context: ssl.SSLContext, tmp: Path) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                if self._load(context, tmp):
                    _log.info("webhook serving certificate reloaded")
            except Exception as exc:  # keep serving the old one; say why once per look
                _log.warning("webhook serving certificate not reloaded: %s", exc)

    def _routes(self) -> Sequence[web.RouteDef]:
        routes: list[web.RouteDef] = []
        conversions: dict[str, list[ConversionWebhook]] = {}
        for webhook in self._webhooks:
            if isinstance(webhook, ConversionWebhook):
                conversions.setdefault(webhook.path, []).append(webhook)
            else:
                routes.append(web.post(webhook.path, _admission_endpoint(webhook)))
        for path, hooks in conversions.items():
            routes.append(web.post(path, _conversion_endpoint(hooks)))
        return routes


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except ValueError as exc:
        raise ReviewError(f"the body is not JSON: {exc}") from None


def _bad_request(path: str, exc: ReviewError) -> web.Response:
    _log.warning("refused a review on %s: %s", path, exc)
    return web.Response(status=400, text=f"{exc}\n")


def _admission_endpoint(webhook: ValidatingWebhook[Any] | MutatingWebhook[Any]) -> Any:
    async def endpoint(request: web.Request) -> web.Response:
        try:
            answer = await webhook.review(await _body(request))
        except ReviewError as exc:
            return _bad_request(webhook.path, exc)
        return web.json_response(answer)

    return endpoint


def _conversion_endpoint(hooks: list[ConversionWebhook]) -> Any:
    async def endpoint(request: web.Request) -> web.Response:
        try:
            body = await _body(request)
            hook = _conversion_for(hooks, body)
            answer = hook.review(body)
        except ReviewError as exc:
            return _bad_request(hooks[0].path, exc)
        return web.json_response(answer)

    return endpoint


def _conversion_for(hooks: list[ConversionWebhook], body: Any) -> ConversionWebhook:
    if len(hooks) == 1:
        return hooks[0]
    request = body.get("request") if isinstance(body, dict) else None
    request = request if isinstance(request, dict) else {}
    group = str(request.get("desiredAPIVersion") or "").rpartition("/")[0]
    kinds = {o.get("kind") for o in request.get("objects") or [] if isinstance(o, dict)}
    for hook in hooks:
        if hook.info.group == group and (not kinds or kinds == {hook.info.kind}):
            return hook
    raise ReviewError(f"no conversion webhook for {group} {sorted(map(str, kinds))}")
