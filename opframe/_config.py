"""Connection settings for :class:`opframe.client.Client`.

Loading is delegated to ``kubernetes_asyncio.config`` (kubeconfig files with contexts, exec
plugins, OIDC, in-cluster service accounts); this module turns its ``Configuration`` into what
our aiohttp session needs: a base URL, an SSL context and a way to get the current
``Authorization`` header. Credentials that expire (exec plugins, projected service account
tokens) are reloaded on demand: the client calls :meth:`ConnectionConfig.refresh` after a 401.

:meth:`ConnectionConfig.default` picks the source the way controller-runtime's
``config.GetConfig`` applies client-go's loading rules (``pkg/client/config/config.go``): an
explicit path, then ``$KUBECONFIG``, then the pod's service account, then ``~/.kube/config``.
"""

from __future__ import annotations

import inspect
import ipaddress
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opframe.errors import ConfigError

__all__ = ["SERVICE_ACCOUNT_DIR", "ConnectionConfig"]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where the kubelet mounts a pod's service account (``token``, ``ca.crt``, ``namespace``).

``$OPFRAME_SERVICE_ACCOUNT_DIR`` overrides it (tests, unusual mounts)."""

# client-go re-reads a projected token about once a minute (it rotates hourly at most).
_TOKEN_REREAD_SECONDS = 60.0


@dataclass
class ConnectionConfig:
    """Everything needed to open HTTP connections to one API server.

    Attributes:
        host: the base URL, e.g. ``https://127.0.0.1:6443``.
        ssl_context: TLS settings (CA, client certificate), ``None`` for plain HTTP.
        server_hostname: the TLS server name to verify, when it differs from the host.
        configuration: the ``kubernetes_asyncio`` ``Configuration`` this was built from.
        namespace: the default namespace: the pod's, or the kubeconfig context's.
        source: where the settings came from (``in-cluster``, or the kubeconfig's path).
        token_file: a bearer token file re-read as it rotates (a service account's).
    """

    host: str
    ssl_context: ssl.SSLContext | None = None
    server_hostname: str | None = None
    configuration: Any = None
    namespace: str | None = None
    source: str = ""
    token_file: Path | None = None
    _reload: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)
    _token: tuple[float, str] | None = field(default=None, repr=False)

    @classmethod
    async def default(
        cls,
        *,
        kubeconfig: str | Path | None = None,
        context: str | None = None,
        service_account_dir: str | Path | None = None,
    ) -> ConnectionConfig:
        """Connect like kubectl and controller-runtime do, first match wins:

        1. ``kubeconfig`` if given, else ``$KUBECONFIG`` if set;
        2. in a pod (``$KUBERNETES_SERVICE_HOST`` set): its service account;
        3. ``~/.kube/config`` if it exists.

        Raises:
            ConfigError: none of them is available (one line naming what was tried).
        """
        source = _choose_source(kubeconfig)
        if source is None:
            return cls.in_cluster(service_account_dir)
        return await cls.from_kubeconfig(source, context)

    @classmethod
    async def from_kubeconfig(
        cls, path: str | Path | None = None, context: str | None = None
    ) -> ConnectionConfig:
        """Load a kubeconfig (``$KUBECONFIG`` or ``~/.kube/config`` when ``path`` is None)."""
        from kubernetes_asyncio.client import Configuration
        from kubernetes_asyncio.config import kube_config
        from kubernetes_asyncio.config.config_exception import ConfigException

        configuration = Configuration()
        config_file = str(path) if path is not None else None
        _check_exists(config_file or os.environ.get("KUBECONFIG") or "")
        try:
            loader = await kube_config.load_kube_config(
                config_file=config_file,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, OSError) as exc:
            where = config_file or "$KUBECONFIG / ~/.kube/config"
            raise ConfigError(
                f"cannot load kubeconfig {where}"
                + (f" (context {context!r})" if context else "")
                + f": {exc}"
            ) from exc

        async def reload() -> None:
            await loader.load_and_set(configuration)

        loaded = cls.from_configuration(configuration, reload=reload)
        current = loader.current_context or {}
        namespace = (current.get("context") or {}).get("namespace")
        loaded.namespace = str(namespace) if namespace else None
        loaded.source = config_file or os.environ.get("KUBECONFIG") or "~/.kube/config"
        return loaded

    @classmethod
    def in_cluster(cls, service_account_dir: str | Path | None = None) -> ConnectionConfig:
        """Use the pod's service account: ``$KUBERNETES_SERVICE_HOST``/``_PORT`` and the
        ``token``, ``ca.crt`` and ``namespace`` files the kubelet mounts.

        ``service_account_dir`` (or ``$OPFRAME_SERVICE_ACCOUNT_DIR``) replaces
        :data:`SERVICE_ACCOUNT_DIR`. The token is re-read as it rotates.
        """
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise ConfigError(
                "not running in a pod (KUBERNETES_SERVICE_HOST unset): "
                "use a kubeconfig outside a cluster"
            )
        folder = Path(
            service_account_dir
            or os.environ.get("OPFRAME_SERVICE_ACCOUNT_DIR")
            or SERVICE_ACCOUNT_DIR
        )
        token, ca = folder / "token", folder / "ca.crt"
        for needed in (token, ca):
            if not needed.is_file():
                raise ConfigError(
                    f"in-cluster config: {needed} is missing (is a service account token "
                    "mounted? automountServiceAccountToken must not be false)"
                )
        try:
            if ipaddress.ip_address(host).version == 6:
                host = f"[{host}]"
        except ValueError:
            pass  # a name, not an address
        namespace_file = folder / "namespace"
        namespace = namespace_file.read_text().strip() if namespace_file.is_file() else None
        return cls(
            host=f"https://{host}:{port}",
            ssl_context=ssl.create_default_context(cafile=str(ca)),
            namespace=namespace or None,
            source="in-cluster",
            token_file=token,
        )

    @classmethod
    def from_configuration(
        cls, configuration: Any, *, reload: Callable[[], Awaitable[None]] | None = None
    ) -> ConnectionConfig:
        """Build from an already loaded ``kubernetes_asyncio.client.Configuration``."""
        host = str(configuration.host).rstrip("/")
        ssl_context: ssl.SSLContext | None = None
        if host.startswith("https://"):
            ssl_context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
            if configuration.cert_file:
                ssl_context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
            if not configuration.verify_ssl:
                ssl_context.check_hostname = False
                ssl_context.verify_mode = ssl.CERT_NONE
        return cls(
            host=host,
            ssl_context=ssl_context,
            server_hostname=configuration.tls_server_name or None,
            configuration=configuration,
            _reload=reload,
        )

    async def authorization(self) -> str | None:
        """The current ``Authorization`` header value, or ``None`` without credentials."""
        if self.token_file is not None:
            return f"Bearer {self._read_token(self.token_file)}"
        configuration = self.configuration
        if configuration is None:
            return None
        hook = configuration.refresh_api_key_hook
        if hook is not None:
            # The in-cluster hook re-reads a rotated service account token.
            result = hook(configuration)
            if inspect.isawaitable(result):
                await result
        token = configuration.api_key.get("BearerToken") or configuration.api_key.get(
            "authorization"
        )
        if not token:
            return None
        prefix = configuration.api_key_prefix.get("BearerToken")
        return f"{prefix} {token}" if prefix else str(token)

    def _read_token(self, path: Path) -> str:
        now = time.monotonic()
        if self._token is None or now - self._token[0] > _TOKEN_REREAD_SECONDS:
            self._token = (now, path.read_text().strip())
        return self._token[1]

    async def refresh(self) -> bool:
        """Reload credentials (exec plugin, token file); ``True`` if anything could be reloaded."""
        if self.token_file is not None:
            self._token = None
            return True
        if self._reload is None:
            return False
        await self._reload()
        return True


def _choose_source(kubeconfig: str | Path | None) -> str | Path | None:
    """The kubeconfig to load, or ``None`` for the in-cluster service account."""
    explicit = kubeconfig or os.environ.get("KUBECONFIG") or None
    if explicit:
        return explicit
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    home = Path("~/.kube/config").expanduser()
    if home.is_file():
        return home
    raise ConfigError(
        f"no kubeconfig at {home} and not running in a pod (KUBERNETES_SERVICE_HOST "
        "unset): set KUBECONFIG, create ~/.kube/config, or run in a cluster"
    )


def _check_exists(paths: str) -> None:
    # kubernetes_asyncio reports a missing file as a config without current-context.
    for one in paths.split(os.pathsep):
        if one and not Path(one).expanduser().exists():
            raise ConfigError(f"no kubeconfig at {one}: check the path (or $KUBECONFIG)")
