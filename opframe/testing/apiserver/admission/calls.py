"""Calling a webhook the way kube-apiserver's webhook client does: one POST over HTTPS.

The endpoint is ``clientConfig.url`` or ``clientConfig.service`` (a Service of the local
control plane, resolved through its Endpoints to the pod's loopback address, the certificate
checked against ``<name>.<namespace>.svc``); the server is trusted through ``caBundle`` (the
system roots without one); ``?timeout=Ns`` tells the webhook its deadline, as
``util/webhook/client.go`` does; connections are kept alive and reused
(:class:`ClientPool`). Failures are :class:`CallError` with Go's wording
(``Post "URL": dial tcp HOST:PORT: connect: connection refused``, ``context deadline exceeded``)
because users read them in the API's error answers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from opframe.testing.apiserver.registry.storage import Store

__all__ = ["CallError", "ClientPool", "Endpoint", "resolve", "review_response"]


class CallError(Exception):
    """The webhook could not be called or answered badly (``ErrCallingWebhook``'s reason)."""


@dataclass(frozen=True)
class Endpoint:
    """Where to POST: the URL, the TLS server name to verify, the trusted CA (PEM)."""

    url: str
    server_name: str | None
    ca_pem: bytes | None


def resolve(store: Store, client_config: dict[str, Any]) -> Endpoint:
    """The endpoint of a ``WebhookClientConfig`` (URL, or a local Service's ready endpoint)."""
    ca = _ca(client_config.get("caBundle"))
    url = client_config.get("url")
    if url:
        return Endpoint(str(url), None, ca)
    service = client_config.get("service") or {}
    namespace, name = str(service.get("namespace", "")), str(service.get("name", ""))
    port = int(service.get("port") or 443)
    path = str(service.get("path") or "")
    host = f"{name}.{namespace}.svc"
    svc = store.get("/services", namespace, name)
    if svc is None:
        raise CallError(f'service "{name}" not found')
    svc_ports = (svc.obj.get("spec") or {}).get("ports") or []
    svc_port = next((p for p in svc_ports if p.get("port") == port), None)
    if svc_port is None:
        raise CallError(f'service "{name}" has no port {port}')
    eps = store.get("/endpoints", namespace, name)
    for subset in (eps.obj.get("subsets") if eps else None) or []:
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        ep_port = next(
            (p for p in ports if p.get("name", "") == svc_port.get("name", "")),
            ports[0] if len(ports) == 1 else None,
        )
        if addresses and ep_port is not None:
            ip = addresses[0]["ip"]
            return Endpoint(f"https://{ip}:{ep_port['port']}{path}", host, ca)
    raise CallError(f'no endpoints available for service "{name}"')


def review_response(
    answer: dict[str, Any], api_version: str, kind: str, uid: str, *, absent: str
) -> dict[str, Any]:
    """The ``response`` of a webhook's review answer, checked as kube-apiserver checks both
    AdmissionReview and ConversionReview answers: the review's ``apiVersion`` and ``kind``, a
    ``response`` (``absent``: the message when there is none), and the request's ``uid``."""
    gv, got = answer.get("apiVersion", ""), answer.get("kind", "")
    if (gv, got) != (api_version, kind):
        raise CallError(
            f"expected webhook response of {api_version}, Kind={kind}, got {gv}, Kind={got}"
        )
    response = answer.get("response")
    if not isinstance(response, dict):
        raise CallError(absent)
    if response.get("uid") != uid:
        raise CallError(f"expected response.uid={uid!r}, got {str(response.get('uid', ''))!r}")
    return response


def _ca(bundle: Any) -> bytes | None:
    if not bundle:
        return None
    try:
        return base64.b64decode(str(bundle), validate=True)
    except (binascii.Error, ValueError):
        raise CallError("caBundle is not valid base64") from None


#: TLS contexts by CA bundle: building one (above all the system roots) costs milliseconds.
_CONTEXTS: dict[bytes | None, ssl.SSLContext] = {}


def _ssl_context(endpoint: Endpoint) -> ssl.SSLContext:
    """Trust the ``caBundle`` alone when there is one (client-go's CAData), else the system."""
    ctx = _CONTEXTS.get(endpoint.ca_pem)
    if ctx is not None:
        return ctx
    if endpoint.ca_pem is None:
        ctx = ssl.create_default_context()
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            ctx.load_verify_locations(cadata=endpoint.ca_pem.decode("ascii", "replace"))
        except ssl.SSLError:
            raise CallError("x509: no valid certificates in the caBundle") from None
    if len(_CONTEXTS) > 64:
        _CONTEXTS.clear()
    _CONTEXTS[endpoint.ca_pem] = ctx
    return ctx


class ClientPool:
    """Keep-alive HTTPS clients for webhook calls: one session per CA bundle.

    kube-apiserver keeps one REST client per webhook client config (its ``ClientManager``
    caches them, ``staging/src/k8s.io/apiserver/pkg/util/webhook/client.go``), and Go's
    transport reuses idle TLS connections across calls; so does this: the session of a CA
    bundle keeps its connections open between calls (its pool is keyed by host, port and the
    TLS server name, so a connection is never reused for another endpoint). :meth:`close`
    (when the server stops) closes them all.
    """

    def __init__(self) -> None:
        self._sessions: dict[bytes | None, aiohttp.ClientSession] = {}

    def _session(self, endpoint: Endpoint) -> aiohttp.ClientSession:
        session = self._sessions.get(endpoint.ca_pem)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(ssl=_ssl_context(endpoint), limit=0)
            session = aiohttp.ClientSession(connector=connector)
            self._sessions[endpoint.ca_pem] = session
        return session

    async def close(self) -> None:
        """Close every session and its connections (the server is stopping)."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    async def _post(self, endpoint: Endpoint, url: str, body: dict[str, Any]) -> tuple[int, bytes]:
        session = self._session(endpoint)
        async with session.post(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            server_hostname=endpoint.server_name,
        ) as resp:
            return resp.status, await resp.read()

    async def post_json(
        self, endpoint: Endpoint, body: dict[str, Any], timeout_seconds: float
    ) -> Any:
        """POST ``body`` and return the decoded JSON answer; :class:`CallError` on any failure."""
        url = endpoint.url
        sep = "&" if urlsplit(url).query else "?"
        url = f"{url}{sep}timeout={int(timeout_seconds)}s"
        shown = f'Post "{url}"'
        parts = urlsplit(url)
        hostport = f"{parts.hostname}:{parts.port or 443}"
        try:
            async with asyncio.timeout(timeout_seconds):
                try:
                    status, raw = await self._post(endpoint, url, body)
                except aiohttp.ServerDisconnectedError:
                    # An idle kept-alive connection the webhook closed (it restarted, or its
                    # keep-alive ended) as the request went out: once more on a new one, as
                    # Go's transport retries a reused connection that fails before answering.
                    status, raw = await self._post(endpoint, url, body)
            if status != 200:
                text = raw.decode("utf-8", "replace").strip()
                raise CallError(
                    f"{shown}: the server responded with the status code {status} "
                    f"but did not return more information ({text[:200]})"
                )
        except TimeoutError:
            raise CallError(f"{shown}: context deadline exceeded") from None
        except aiohttp.ClientConnectorCertificateError as e:
            raise CallError(
                f"{shown}: tls: failed to verify certificate: {e.certificate_error}"
            ) from None
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, ConnectionRefusedError):
                raise CallError(
                    f"{shown}: dial tcp {hostport}: connect: connection refused"
                ) from None
            raise CallError(f"{shown}: dial tcp {hostport}: {e.os_error}") from None
        except aiohttp.ClientError as e:
            raise CallError(f"{shown}: {e}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise CallError(f"{shown}: the response is not JSON") from None
