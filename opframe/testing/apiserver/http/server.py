"""The embedded Kubernetes API server: an aiohttp app on loopback, HTTP or HTTPS.

    async with ApiServer() as server:
        server.url, server.token, server.ca_file, server.kubeconfig
        server.faults.add(verb="list", resource="widgets", status=429, retry_after=1, times=2)

It speaks the real REST API (discovery, CRUD, patch, watch, Table output, subresources) with
bearer-token authentication, and keeps objects in memory, or in ``state_dir`` so that a
restart keeps them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import ssl
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from opframe.testing.apiserver import builtins, protobuf
from opframe.testing.apiserver.admission.conversion import WebhookConverter
from opframe.testing.apiserver.admission.policy import PolicyAdmission
from opframe.testing.apiserver.admission.webhooks import WebhookAdmission
from opframe.testing.apiserver.auth import Auth
from opframe.testing.apiserver.errors import StatusError
from opframe.testing.apiserver.http import discovery, openapi
from opframe.testing.apiserver.http.faults import Faults
from opframe.testing.apiserver.http.health import (
    HEALTH_PATHS,
    RequestCounter,
    health_response,
    metrics_text,
)
from opframe.testing.apiserver.http.pod_streams import PodStreamProvider, PodStreams
from opframe.testing.apiserver.http.pod_subresources import PodLogProvider, PodSubresources
from opframe.testing.apiserver.http.request import PlainNotFound, Target, resolve, wants
from opframe.testing.apiserver.http.responses import json_response, plain_not_found, warning_header
from opframe.testing.apiserver.http.rest import Handlers, request_verb
from opframe.testing.apiserver.http.tls import write_certificates, write_kubeconfig
from opframe.testing.apiserver.http.watch import WATCHES, WatchRegistry, expired_watch
from opframe.testing.apiserver.registry.crds import CrdController
from opframe.testing.apiserver.registry.gc import Controllers
from opframe.testing.apiserver.registry.quota import QuotaController
from opframe.testing.apiserver.registry.resources import Registry
from opframe.testing.apiserver.registry.storage import Store
from opframe.testing.apiserver.registry.writes import WriteOptions, Writer

__all__ = ["ApiServer"]

log = logging.getLogger(__name__)

_DISCOVERY_SLASHED = frozenset({"/version/", "/api/", "/apis/"})
VERSION_INFO = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "gitVersion": "v1.36.2-opframe",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class _Context:
    """What built-in strategies may ask of the server (``BuiltinContext``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._used: set[str] = set()

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A stored object of the core group (``plural``) or of ``group/plural``."""
        so = self.store.get(f"/{plural}" if "/" not in plural else plural, namespace, name)
        return so.obj if so else None

    def list(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        """The stored objects of ``group/plural`` (core: ``plural``) in ``namespace``
        (``""``: cluster-scoped or every namespace)."""
        key = f"/{plural}" if "/" not in plural else plural
        return [so.obj for so in self.store.iter_sorted(key, namespace or None)]

    def _in_use(self) -> set[str]:
        if not self._used:
            # First use (or after a restart): what the stored Services hold.
            self._used.add("10.0.0.1")
            for so in self.store.iter_sorted("/services", None):
                for ip in (so.obj.get("spec") or {}).get("clusterIPs") or []:
                    if ip and ip != "None":
                        self._used.add(ip)
        return self._used

    def allocate_cluster_ip(self) -> str:
        """A free address of the service range 10.0.0.0/24 (10.0.0.1 is the API's own)."""
        used = self._in_use()
        free = [f"10.0.0.{i}" for i in range(2, 255) if f"10.0.0.{i}" not in used]
        if not free:
            raise StatusError(500, "InternalError", "failed to allocate a serviceIP: range is full")
        ip = secrets.choice(free)
        used.add(ip)
        return ip

    def reserve_cluster_ip(self, ip: str) -> bool:
        """Claim a specific address; ``False`` if a Service already has it."""
        used = self._in_use()
        if ip in used:
            return False
        used.add(ip)
        return True

    def release_cluster_ip(self, ip: str) -> None:
        """Give an address back to the range."""
        self._used.discard(ip)


class ApiServer:
    """An in-process Kubernetes API server on 127.0.0.1.

    ``tls``: serve HTTPS with a generated CA (``ca_file``). ``token``: the bearer token clients
    must send (generated if ``None``). ``port``: 0 picks a free one. ``state_dir``: where the
    certificates, the kubeconfig and (with ``persist``) the objects live; a temporary
    directory otherwise. ``watch_history``: events kept per resource for watches that resume.
    ``default_service_accounts``: run the service-account controller (a ``default``
    ServiceAccount in every namespace, which pods need); off by default, as on a bare
    kube-apiserver. ``bookmark_interval``: seconds between BOOKMARK events on watches that
    allow them (kube-apiserver sends one about every minute). ``publish_root_ca``: run the
    root-ca-cert-publisher (a ``kube-root-ca.crt`` ConfigMap with the server's CA in every
    namespace, with ``tls``); off by default, as on a bare kube-apiserver. ``quota_status``:
    run the resource quota controller (``status.hard``/``status.used`` of every
    ResourceQuota); off by default, as on a bare kube-apiserver. ``authorization``:
    ``"RBAC"`` (the default: authenticate and authorize every request, as kube-apiserver with
    ``--authorization-mode RBAC``; ``token`` is a ``system:masters`` user) or
    ``"AlwaysAllow"`` (any request that authenticates, or is anonymous, is allowed).
    """

    def __init__(
        self,
        *,
        tls: bool = True,
        token: str | None = None,
        port: int = 0,
        state_dir: str | Path | None = None,
        watch_history: int = 10_000,
        persist: bool | None = None,
        default_service_accounts: bool = False,
        bookmark_interval: float = 60.0,
        publish_root_ca: bool = False,
        quota_status: bool = False,
        authorization: str = "RBAC",
    ) -> None:
        self.tls = tls
        self._publish_root_ca = publish_root_ca
        self.token = token or secrets.token_urlsafe(24)
        self._port = port
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="opframe-apiserver-")
            self.state_dir = Path(self._tmp.name)
        else:
            self.state_dir = Path(state_dir)
        self.persist = (state_dir is not None) if persist is None else persist
        self.store = Store(
            history=watch_history, state_dir=self.state_dir if self.persist else None
        )
        self.registry = Registry(builtins.BUILTIN_TYPES)
        self.context = _Context(self.store)
        self.writer = Writer(self.store, self.registry, self.context)
        # Dynamic admission and conversion: the webhooks users configure (admission/).
        self.writer.dynamic_admission = WebhookAdmission(self.writer)
        self.writer.async_converter = WebhookConverter(self.store)
        self.crds = CrdController(self.store, self.registry, self.writer)
        self.crds.restore()
        self.controllers = Controllers(
            self.store,
            self.registry,
            self.writer,
            default_service_accounts=default_service_accounts,
        )
        self.quotas = (
            QuotaController(self.store, self.registry, self.writer) if quota_status else None
        )
        self.handlers = Handlers(self.writer)
        self.watches = WatchRegistry()
        self.requests = RequestCounter()
        self.watches.bookmark_interval = bookmark_interval
        self.faults = Faults(self.watches)
        self.pods = PodSubresources(self.writer)
        self.pod_log_provider: PodLogProvider | None = None
        self.pod_streams = PodStreams(self.store)
        self.pod_stream_provider: PodStreamProvider | None = None
        self.url = ""
        self.ca_file: Path | None = None
        self.kubeconfig = self.state_dir / "kubeconfig"
        self._runner: web.AppRunner | None = None
        self.auth = Auth(
            self.store,
            self.writer,
            self.registry,
            self.state_dir / "pki",
            admin_token=self.token,
            authorization=authorization,
        )
        self.policies = PolicyAdmission(
            self.store, self.registry, lambda a: self.auth.authorize(a).allowed
        )
        self.writer.validating_hooks.append(self.policies.hook)
        self._bootstrap()
        self.auth.bootstrap()

    # -- lifecycle -------------------------------------------------------------------------

    def _bootstrap(self) -> None:
        rt = self.registry.find_plural("namespaces")
        if rt is None:
            return
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if self.store.get("/namespaces", "", name) is None:
                obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                self.writer.create(rt, obj, "", WriteOptions(manager="kube-apiserver"))

    async def start(self) -> None:
        """Listen and serve; writes the kubeconfig."""
        app = web.Application(
            client_max_size=64 * 1024 * 1024, handler_args={"tcp_keepalive": True}
        )
        app[WATCHES] = self.watches
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        ssl_ctx = None
        if self.tls:
            ca, cert, key = write_certificates(self.state_dir / "pki")
            self.ca_file = ca
            if self._publish_root_ca:
                self.controllers.publish_root_ca(ca.read_text())
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(cert, key)
            # Ask for client certificates (the cluster CA's), as kube-apiserver does.
            ssl_ctx.load_verify_locations(ca)
            ssl_ctx.verify_mode = ssl.CERT_OPTIONAL
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        port = sock.getsockname()[1]
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.SockSite(self._runner, sock, ssl_context=ssl_ctx)
        await site.start()
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        write_kubeconfig(self.kubeconfig, self.url, self.token, self.ca_file)
        log.info("API server listening on %s", self.url)

    async def stop(self) -> None:
        """Stop serving, end watches, close storage."""
        self.watches.drop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.controllers.close()
        if self.quotas is not None:
            self.quotas.close()
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- requests --------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        return protobuf.respond(request, await self._answer(request))

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        try:
            user, attrs = self.auth.admit(request)
            answer = await self.auth.route(request, user)
            if answer is None:
                answer = await self._route(request, path)
                self.auth.after(attrs)
            return answer
        except StatusError as e:
            resp = json_response(e.code, e.body(), e.warnings)
            for k, v in e.headers.items():
                resp.headers[k] = v
            return resp
        except PlainNotFound:
            return plain_not_found()
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as e:
            log.exception("internal error answering %s %s", request.method, path)
            err = StatusError(500, "InternalError", f"Internal error occurred: {e}", {})
            return json_response(500, err.body())

    async def _route(self, request: web.Request, path: str) -> web.StreamResponse:
        if path in HEALTH_PATHS or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return health_response(path, request.query)
        if path == "/metrics":
            return self._metrics()
        if path in _DISCOVERY_SLASHED:
            # The discovery handlers answer with and without a trailing slash (kr8s asks so).
            path = path[:-1]
        if path == "/version":
            return json_response(200, VERSION_INFO)
        if path in ("/api", "/apis"):
            if wants(request.headers.get("Accept", "")) == "discovery":
                resp = json_response(200, discovery.aggregated(self.registry, path == "/api"))
                resp.headers["Content-Type"] = discovery.AGGREGATED_CONTENT_TYPE
                return resp
            if path == "/api":
                return json_response(200, discovery.api_versions())
            return json_response(200, discovery.api_group_list(self.registry))
        if path == "/openapi/v2":
            return json_response(200, openapi.swagger_document(self.registry))
        if path == "/openapi/v3" or path.startswith("/openapi/v3/"):
            return self._openapi(path[len("/openapi/v3") :].strip("/"))
        if not (path.startswith("/api/") or path.startswith("/apis/")):
            raise PlainNotFound
        target = resolve(self.registry, path)
        if target is None:
            return self._discovery(path)
        return await self._serve_resource(request, target)

    async def _serve_resource(self, request: web.Request, target: Target) -> web.StreamResponse:
        """The one dispatcher of resource requests: the verb, faults, the handler, metrics."""
        verb = request_verb(request.method, target, request.query)
        delay = self.faults.delay(verb, target.rt.plural)
        if delay:
            await asyncio.sleep(delay)
        fault = self.faults.take(verb, target.rt.plural, target.namespace)
        if fault is not None and verb == "watch" and fault.status == 410:
            # As the real server expires a watch: 200, one ERROR event, end of stream.
            return await expired_watch(request, fault.error().body())
        if fault is not None:
            raise fault.error()
        apply = "apply-patch" in request.headers.get("Content-Type", "")
        # A deprecated CRD version warns on every request it serves (apiextensions-apiserver).
        deprecated = str(target.rt.extra.get("deprecation_warning") or "")
        try:
            resp = await self._serve(request, target, verb)
        except StatusError as e:
            self.requests.count(verb, target, e.code, apply=apply)
            if deprecated:
                e.warnings.append(deprecated)
            raise
        self.requests.count(verb, target, resp.status, apply=apply)
        if deprecated and not resp.prepared:
            resp.headers.add("Warning", warning_header(deprecated))
        return resp

    async def _serve(self, request: web.Request, target: Target, verb: str) -> web.StreamResponse:
        plural, sub = target.rt.plural, target.subresource
        if plural == "pods" and sub in ("exec", "attach", "portforward"):
            return await self.pod_streams.handle(request, target, self.pod_stream_provider)
        if plural == "pods" and sub in ("log", "binding", "eviction"):
            return await self.pods.handle(request, target, self.pod_log_provider)
        return await self.handlers.serve(request, target, verb)

    def _metrics(self) -> web.StreamResponse:
        objects = {}
        for key, n in self.store.counts().items():
            group, _, plural = key.partition("/")
            objects[f"{plural}.{group}" if group else plural] = n
        text = metrics_text(self.requests, objects, self.watches.count())
        return web.Response(
            body=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4"}
        )

    def _openapi(self, key: str) -> web.StreamResponse:
        if not key:
            return json_response(200, openapi.root_document(self.registry))
        parts = key.split("/")
        if parts[0] == "api" and len(parts) == 2 and self.registry.version_known("", parts[1]):
            return json_response(200, openapi.group_version_document(self.registry, "", parts[1]))
        if (
            parts[0] == "apis"
            and len(parts) == 3
            and self.registry.version_known(parts[1], parts[2])
        ):
            doc = openapi.group_version_document(self.registry, parts[1], parts[2])
            return json_response(200, doc)
        raise PlainNotFound

    def _discovery(self, path: str) -> web.StreamResponse:
        segs = [s for s in path.split("/") if s]
        if segs[0] == "api" and len(segs) == 2:
            return json_response(200, discovery.resource_list(self.registry, "", segs[1]))
        if segs[0] == "apis" and len(segs) == 2:
            return json_response(200, discovery.api_group(self.registry, segs[1]))
        if segs[0] == "apis" and len(segs) == 3:
            return json_response(200, discovery.resource_list(self.registry, segs[1], segs[2]))
        raise PlainNotFound
