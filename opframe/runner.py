"""Run a Manager as a program: flags, logging, and one-line errors for what stops it starting.

``opframe run module:manager`` and an operator's own ``__main__`` share this::

    from opframe import RunOptions, run_main

    def main() -> int:
        parser = argparse.ArgumentParser(prog="my-operator")
        RunOptions.add_arguments(parser)
        options = RunOptions.from_args(parser.parse_args())
        return run_main(build_manager, options)    # build_manager(client) -> Manager

Before the manager starts, :func:`run_manager` checks what would otherwise fail later and
over and over: a cluster to connect to (a kubeconfig, or the pod's service account),
credentials the API server accepts (401/403 name the server and the user), and that every
kind the controllers watch is served (a custom kind without its CRD names the CRD and the
command installing it). Each problem is a :class:`StartupError` with a one-line message.
At start it logs the cluster URL, then the health and metrics URLs once they are served.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import inspect
import logging
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from opframe._runlog import configure_logging, identity_of
from opframe._runtarget import rebuilt_for_namespace, watched_kinds
from opframe.client import ApiConnectionError, Client, ConnectionConfig
from opframe.errors import ConfigError, Forbidden, NotFound, Unauthorized
from opframe.leaderelection import LeaderElectionConfig, LeadershipLost
from opframe.manager import Manager
from opframe.resource import Resource, resource_info

__all__ = ["ManagerFactory", "RunOptions", "StartupError", "run_main", "run_manager"]

_log = logging.getLogger("opframe.run")

ManagerFactory = Callable[..., "Manager | Awaitable[Manager]"]
"""A function building the manager: ``f()`` or ``f(client)``, plain or async."""

LogFormat = Literal["text", "json"]


class StartupError(ConfigError):
    """The operator cannot start; the one-line message says what is wrong and what to do."""


@dataclass(frozen=True)
class RunOptions:
    """How to run a manager: the flags of ``opframe run`` (and of operators' own commands).

    Attributes:
        kubeconfig: the kubeconfig to use (default: ``$KUBECONFIG``, the pod's service
            account, ``~/.kube/config``: see :meth:`opframe.Client.default`).
        context: the kubeconfig context (default: its current context).
        namespace: watch one namespace only (default: all, or what the manager says).
        leader_elect: run the controllers only while holding a Lease.
        lease_name: the Lease's name (default: ``<first controller>-operator``).
        lease_namespace: the Lease's namespace (default: the client's namespace).
        health_port: port of ``/healthz`` and ``/readyz`` (0: any free port).
        metrics_port: port of ``/metrics`` (0: any free port).
        bind_address: address of both servers (``0.0.0.0`` in a pod, so probes reach it).
        log_level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
        log_format: ``text`` or ``json`` (one object per line, with the reconcile context).
    """

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    leader_elect: bool = False
    lease_name: str | None = None
    lease_namespace: str | None = None
    health_port: int = 8081
    metrics_port: int = 8080
    bind_address: str = "127.0.0.1"
    log_level: str = "INFO"
    log_format: LogFormat = "text"

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """Add the flags (``--namespace``, ``--leader-elect``, ``--health-port`` ...)."""
        add = parser.add_argument
        add("--kubeconfig", help="default: $KUBECONFIG, in-cluster, ~/.kube/config")
        add("--context", help="kubeconfig context (default: its current context)")
        add("--namespace", help="watch only this namespace (default: all)")
        add("--leader-elect", action="store_true", help="run only while holding a Lease")
        add("--lease-name", help="the Lease's name (default: <controller>-operator)")
        add("--lease-namespace", help="the Lease's namespace (default: the client's)")
        add("--health-port", type=int, default=8081, help="/healthz, /readyz (default 8081)")
        add("--metrics-port", type=int, default=8080, help="/metrics (default 8080)")
        add("--bind-address", default="127.0.0.1", help="servers' address (pod: 0.0.0.0)")
        add(
            "--log-level",
            default="INFO",
            type=str.upper,
            choices=["DEBUG", "INFO", "WARNING", "ERROR"],
            help="default INFO",
        )
        add("--log-format", default="text", choices=["text", "json"], help="default text")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunOptions:
        """The options parsed by a parser prepared with :meth:`add_arguments`."""
        return cls(
            kubeconfig=args.kubeconfig,
            context=args.context,
            namespace=args.namespace,
            leader_elect=args.leader_elect,
            lease_name=args.lease_name,
            lease_namespace=args.lease_namespace,
            health_port=args.health_port,
            metrics_port=args.metrics_port,
            bind_address=args.bind_address,
            log_level=args.log_level,
            log_format=args.log_format,
        )


def run_main(
    target: Manager | ManagerFactory,
    options: RunOptions | None = None,
    *,
    name: str = "",
    prog: str = "",
) -> int:
    """Run ``target`` until SIGTERM/SIGINT; return the exit code for ``sys.exit``.

    Logging is configured from ``options``. A :class:`StartupError` is printed as one line
    (``<prog>: error: ...``) and gives 1; Ctrl-C before the manager handles signals gives 130.
    ``name`` names the target in messages (``module:attr``).
    """
    options = options or RunOptions()
    configure_logging(options.log_level, options.log_format)
    try:
        asyncio.run(run_manager(target, options, name=name))
    except StartupError as exc:
        print(f"{prog or 'error'}: {'error: ' if prog else ''}{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


async def run_manager(
    target: Manager | ManagerFactory, options: RunOptions | None = None, *, name: str = ""
) -> None:
    """Connect, check, and run a manager built from ``target`` with ``options``.

    ``target`` is a :class:`~opframe.Manager`, or a function returning one (called with no
    argument, or with the connected :class:`~opframe.Client` if it takes one). Flags win over
    the manager's own settings.

    Raises:
        StartupError: no cluster, rejected credentials, a watched kind not served, a busy
            port, a target that is not a manager.
    """
    options = options or RunOptions()
    label = name or getattr(target, "__qualname__", type(target).__name__)
    _check_target(target, label)
    client = await _connect(options)
    async with client:
        manager = await _build(target, client, label)
        manager = _configure(manager, client, options)
        await _check_all_served(manager, client)
        _check_ports(manager)
        _log.info(
            "connected to %s (%s, user %s)",
            client.host,
            client.source or "kubeconfig",
            client.user,
        )
        await _run(manager)


# --- the steps ----------------------------------------------------------------------------


def _check_target(target: object, label: str, hint: str = "") -> None:
    """Refuse what cannot give a manager; ``hint`` suggests a better target."""
    if isinstance(target, Manager):
        return
    if not hint:
        hint = "a Manager, e.g. 'manager = Manager()' with controllers added (module:manager)"
    if isinstance(target, type) and issubclass(target, Resource):
        problem = f"a Resource class ({target.__name__})"
    elif isinstance(target, type) and not issubclass(target, Manager):
        problem = f"the class {target.__name__}"
    elif not callable(target):
        problem = f"a {type(target).__name__}"
    else:
        return
    raise StartupError(
        f"{label} is {problem}, not a Manager nor a function returning one: point it at {hint}"
    )


async def _connect(options: RunOptions) -> _NamedClient:
    try:
        config = await ConnectionConfig.default(
            kubeconfig=options.kubeconfig, context=options.context
        )
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    return _NamedClient(config, identity_of(config, options.context))


class _NamedClient(Client):
    """A client that knows, for messages, where its settings came from and who it is."""

    def __init__(self, config: ConnectionConfig, user: str) -> None:
        super().__init__(config)
        self.source = config.source
        self.user = user


async def _build(target: Manager | ManagerFactory, client: Client, label: str) -> Manager:
    if isinstance(target, Manager):
        manager = target
    else:
        wants_client = _required_parameters(target) >= 1
        built: object = target(client) if wants_client else target()
        if inspect.isawaitable(built):
            built = await built
        if not isinstance(built, Manager):
            raise StartupError(f"{label}() returned a {type(built).__name__}, not a Manager")
        manager = built
    if not manager.controllers:
        raise StartupError(f"{label} has no controllers: add one with manager.add(Controller(...))")
    return manager


def _required_parameters(function: Callable[..., object]) -> int:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(
        1
        for p in parameters
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )


def _configure(manager: Manager, client: Client, options: RunOptions) -> Manager:
    """Apply the flags; the manager gets ``client`` unless it was built with one."""
    if manager._client is None:
        manager._client = client
    if options.namespace is not None and options.namespace != manager.namespace:
        manager = rebuilt_for_namespace(manager, options.namespace)
    manager.health_address = (options.bind_address, options.health_port)
    manager.metrics_address = (options.bind_address, options.metrics_port)
    if options.leader_elect and manager.leader_election is None:
        first = manager.controllers[0].name
        manager.leader_election = LeaderElectionConfig(
            name=options.lease_name or f"{first}-operator",
            namespace=options.lease_namespace or client.namespace,
        )
    return manager


async def _check_all_served(manager: Manager, client: Client) -> None:
    """Raise :class:`StartupError` unless the cluster serves every kind ``manager`` watches."""
    for model, namespace in watched_kinds(manager):
        await _check_served(client, model, namespace)


async def _check_served(client: Client, model: type[Any], namespace: str | None) -> None:
    info = resource_info(model)
    user = getattr(client, "user", "(unknown)")
    source = getattr(client, "source", "") or "kubeconfig"
    where = f"in namespace {namespace}" if namespace else "in all namespaces"
    resource = f"{info.plural}.{info.group}" if info.group else info.plural
    try:
        await client.request("GET", info.path(namespace), params={"limit": "1"})
    except Unauthorized:
        raise StartupError(
            f"the API server {client.host} rejected the credentials of user {user} "
            f"(401 Unauthorized, from {source}): refresh the token or "
            "certificate, or point --kubeconfig/--context at valid ones"
        ) from None
    except Forbidden:
        raise StartupError(
            f"user {user} may not list {resource} {where} on {client.host} "
            f"(403 Forbidden): grant list and watch on {resource} to it (a Role or ClusterRole "
            "and a binding), or narrow the operator with --namespace"
        ) from None
    except NotFound:
        if info.builtin:
            raise StartupError(
                f"the API server {client.host} does not serve {info.kind} ({info.api_version}): "
                "the cluster is too old or that API is disabled"
            ) from None
        raise StartupError(
            f"the API server {client.host} does not serve {info.kind} ({info.api_version}): "
            f"the CRD {info.crd_name} is not installed; install it with "
            f"'opframe crd generate {model.__module__}:{model.__qualname__} | kubectl apply -f -' "
            "(or kubectl apply -f your generated CRD file)"
        ) from None
    except ApiConnectionError as exc:
        raise StartupError(
            f"cannot reach the API server ({exc}); is the cluster up? "
            "('opframe local up' starts a local one)"
        ) from None


def _check_ports(manager: Manager) -> None:
    for flag, address in (
        ("--health-port", manager.health_address),
        ("--metrics-port", manager.metrics_address),
    ):
        if address is None or address[1] == 0:
            continue
        with _probe_socket() as sock:
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise StartupError(
                        f"port {address[1]} on {address[0]} is already in use: pass {flag} "
                        "with another port (0 picks a free one)"
                    ) from None
                raise StartupError(f"cannot listen on {address[0]}:{address[1]}: {exc}") from None


@contextlib.contextmanager
def _probe_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # What aiohttp sets too: a port in TIME_WAIT from a previous run is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        yield sock
    finally:
        sock.close()


async def _run(manager: Manager) -> None:
    running = asyncio.create_task(manager.run(), name="opframe run")
    ready = asyncio.create_task(manager.wait_ready(), name="opframe run: ready")
    try:
        await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            _log.info(
                "cache synced; health %s/healthz, readiness %s/readyz, metrics %s/metrics",
                manager.health_url or "(off)",
                manager.health_url or "(off)",
                manager.metrics_url or "(off)",
            )
        await running
    except TimeoutError:
        raise StartupError(
            f"the cache did not sync within {manager.sync_timeout:g}s: the API server answers "
            "lists but its watches fail; see the warnings above"
        ) from None
    except LeadershipLost as exc:
        raise StartupError(f"lost leadership ({exc}); exiting so a restart rejoins") from None
    finally:
        ready.cancel()
        if not running.done():
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
