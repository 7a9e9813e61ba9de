"""LocalCluster: the embedded API server and the local kubelet as one object.

Example::

    async with LocalCluster() as cluster:
        client = cluster.client            # opframe.Client on the cluster
        cluster.kubeconfig                 # a kubeconfig file for kubectl and other clients
        cluster.chaos.kill("default", "etcd-0")

Every process the kubelet starts belongs to the cluster: leaving the ``async with`` (normally,
by an exception, or by cancellation on Ctrl-C) stops them, and each container process also
carries a parent-death signal, so a crashed test process takes its pods with it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opframe.testing._endpoint import Endpoint
from opframe.testing.controllers import ControllerManager
from opframe.testing.kubelet import Chaos, ImageResolver, Kubelet, LocalImage
from opframe.testing.kubelet.images import parse_image_mapping

if TYPE_CHECKING:
    from opframe.client import Client
    from opframe.testing.apiserver import ApiServer

__all__ = ["LocalCluster"]


class LocalCluster:
    """API server + kubelet on loopback, with a client, a kubeconfig and chaos hooks.

    Args:
        state_dir: where the API server and kubelet keep their files (a temporary directory,
            removed on exit, when ``None``).
        tls: serve HTTPS with a generated CA (``False``: plain HTTP).
        kubelet: also run the kubelet (``False``: API server only, pods stay Pending).
        controllers: also run the controllers of kube-controller-manager (Deployments,
            ReplicaSets, StatefulSets, Jobs, ..., see :mod:`opframe.testing.controllers`);
            ``False`` for an API server that only stores what it is given.
        resolver: image mappings for the kubelet (default: the built-in rules, see
            :func:`~opframe.testing.kubelet.images.default_rules`).
        images: more mappings, tried first: image pattern (a shell glob) to a
            :class:`~opframe.testing.kubelet.LocalImage` or a ``PROGRAM`` string as
            ``opframe local up --image PATTERN=PROGRAM`` takes it
            (``{"myapp:*": "python3 -m myapp -- run"}``).
        backoff_base: CrashLoopBackOff base delay in seconds (kubelet: 10; tests: smaller).
        heartbeat: seconds between node heartbeats.
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        *,
        tls: bool = True,
        kubelet: bool = True,
        controllers: bool = True,
        resolver: ImageResolver | None = None,
        images: Mapping[str, LocalImage | str] | None = None,
        backoff_base: float = 10.0,
        backoff_cap: float = 300.0,
        heartbeat: float = 10.0,
        node_name: str = "opframe-node",
    ) -> None:
        self._state_dir_arg = state_dir
        self._tls = tls
        self._run_kubelet = kubelet
        self._run_controllers = controllers
        if images:
            resolver = resolver or ImageResolver()
            for pattern, image in images.items():
                if isinstance(image, str):
                    pattern, image = parse_image_mapping(f"{pattern}={image}")
                resolver.register(pattern, image)
        self._kubelet_options: dict[str, Any] = {
            "resolver": resolver,
            "backoff_base": backoff_base,
            "backoff_cap": backoff_cap,
            "heartbeat": heartbeat,
            "node_name": node_name,
        }
        self._stack = contextlib.AsyncExitStack()
        self._api_server: ApiServer | None = None
        self._kubelet: Kubelet | None = None
        self._client: Client | None = None
        self.state_dir = Path()

    @property
    def api_server(self) -> ApiServer:
        """The running API server."""
        assert self._api_server is not None, "use LocalCluster inside `async with`"
        return self._api_server

    @property
    def kubelet(self) -> Kubelet:
        """The running kubelet.

        Raises:
            RuntimeError: the cluster was started with ``kubelet=False``.
        """
        if self._kubelet is None:
            raise RuntimeError("this LocalCluster runs no kubelet (kubelet=False)")
        return self._kubelet

    @property
    def chaos(self) -> Chaos:
        """Failure injection on the cluster's node and pods."""
        return Chaos(self.kubelet)

    @property
    def kubeconfig(self) -> Path:
        """A kubeconfig file for this cluster (kubectl, kopf, any client)."""
        return Path(self.api_server.kubeconfig)

    @property
    def client(self) -> Client:
        """An :class:`opframe.Client` connected to the cluster."""
        assert self._client is not None, "use LocalCluster inside `async with`"
        return self._client

    async def __aenter__(self) -> LocalCluster:
        try:
            if self._state_dir_arg is None:
                tmp = tempfile.mkdtemp(prefix="opframe-cluster-")
                self._stack.callback(shutil.rmtree, tmp, ignore_errors=True)
                self.state_dir = Path(tmp)
            else:
                self.state_dir = Path(self._state_dir_arg)
                self.state_dir.mkdir(parents=True, exist_ok=True)
            # Objects survive a restart only in a state directory the caller chose.
            # A state directory the caller chose also keeps the address and the token, so a
            # restarted cluster comes back where it was (see opframe.testing._endpoint).
            persist = self._state_dir_arg is not None
            endpoint_file = self.state_dir / "apiserver" / "endpoint.json"
            endpoint = Endpoint.load(endpoint_file) if persist else Endpoint()
            server = await self._start_api_server(endpoint.port, endpoint.token)
            # Stops whichever server runs then (restart_api_server replaces it), last of all.
            self._stack.push_async_callback(self._stop_api_server)
            if persist:
                port = int(server.url.rsplit(":", 1)[1])
                Endpoint(port, server.token).save(endpoint_file)
            self._client = await self._make_client()
            if self._run_kubelet:
                kubelet = Kubelet(
                    await self._make_client(),
                    ca_file=server.ca_file,
                    state_dir=self.state_dir / "kubelet",
                    **self._kubelet_options,
                )
                self._kubelet = await self._stack.enter_async_context(kubelet)
                server.pod_log_provider = kubelet
                server.pod_stream_provider = kubelet
            # Entered after the kubelet, so it stops first: no controller replaces the pods
            # a stopping kubelet ends.
            if self._run_controllers:
                kcm = ControllerManager(await self._make_client())
                await self._stack.enter_async_context(kcm)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def restart_api_server(self) -> None:
        """Stop the API server and start a new one on the same port, token, CA and objects.

        The kubelet, the controllers and every client keep running: they see their
        connections drop and reconnect by themselves, their watches resume (or get 410 Gone
        and list again). Pods keep running. ServiceAccount tokens issued before still verify
        (the signing key is in the state directory).

        Example::

            async with LocalCluster(state_dir=tmp) as cluster:
                await cluster.restart_api_server()

        Raises:
            RuntimeError: the cluster has no state directory of the caller's
                (``LocalCluster(state_dir=...)``): without it the objects are not persisted
                and would not survive.
        """
        if self._state_dir_arg is None:
            raise RuntimeError(
                "restart_api_server needs LocalCluster(state_dir=...): "
                "objects persist only in a state directory the caller chose"
            )
        old = self.api_server
        port = int(old.url.rsplit(":", 1)[1])
        log_provider, stream_provider = old.pod_log_provider, old.pod_stream_provider
        await self._stop_api_server()
        server = await self._start_api_server(port, old.token)
        server.pod_log_provider = log_provider
        server.pod_stream_provider = stream_provider

    async def _start_api_server(self, port: int, token: str | None) -> ApiServer:
        from opframe.testing.apiserver import ApiServer

        server = ApiServer(
            tls=self._tls,
            state_dir=self.state_dir / "apiserver",
            persist=self._state_dir_arg is not None,
            port=port,
            token=token,
            publish_root_ca=True,  # kube-controller-manager's root-ca-cert-publisher
            quota_status=True,  # and its resource quota controller
        )
        await server.start()
        self._api_server = server
        return server

    async def _stop_api_server(self) -> None:
        if self._api_server is not None:
            server, self._api_server = self._api_server, None
            await server.stop()

    async def _make_client(self) -> Client:
        from opframe.client import Client

        client = await Client.from_kubeconfig(str(self.kubeconfig))
        self._stack.push_async_callback(client.close)
        return client

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()
