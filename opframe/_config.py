"""Connection settings for :class:`opframe.client.Client`.

Loading is delegated to ``kubernetes_asyncio.config`` (kubeconfig files with contexts, exec
plugins, OIDC, in-cluster service accounts); this module turns its ``Configuration`` into what
our aiohttp session needs: a base URL, an SSL context and a way to get the current
``Authorization`` header. Credentials that expire (exec plugins, projected service account
tokens) are reloaded on demand: the client calls :meth:`ConnectionConfig.refresh` after a 401.
"""

from __future__ import annotations

import inspect
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opframe.errors import ConfigError

__all__ = ["ConnectionConfig"]


@dataclass
class ConnectionConfig:
    """Everything needed to open HTTP connections to one API server.

    Attributes:
        host: the base URL, e.g. ``https://127.0.0.1:6443``.
        ssl_context: TLS settings (CA, client certificate), ``None`` for plain HTTP.
        server_hostname: the TLS server name to verify, when it differs from the host.
        configuration: the ``kubernetes_asyncio`` ``Configuration`` this was built from.
    """

    host: str
    ssl_context: ssl.SSLContext | None = None
    server_hostname: str | None = None
    configuration: Any = None
    _reload: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

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

        return cls.from_configuration(configuration, reload=reload)

    @classmethod
    def in_cluster(cls) -> ConnectionConfig:
        """Use the pod's service account (token and CA mounted by the kubelet)."""
        from kubernetes_asyncio.client import Configuration
        from kubernetes_asyncio.config import incluster_config
        from kubernetes_asyncio.config.config_exception import ConfigException

        configuration = Configuration()
        try:
            load: Callable[..., None] = incluster_config.load_incluster_config
            load(client_configuration=configuration)
        except ConfigException as exc:
            raise ConfigError(
                f"not running in a cluster: {exc}; use Client.from_kubeconfig() outside a pod"
            ) from exc
        return cls.from_configuration(configuration)

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

    async def refresh(self) -> bool:
        """Reload credentials (exec plugin, token file); ``True`` if anything could be reloaded."""
        if self._reload is None:
            return False
        await self._reload()
        return True
