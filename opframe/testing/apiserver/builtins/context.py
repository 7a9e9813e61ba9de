"""What the built-in kinds need from the server core: lookups and the cluster-IP allocator."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["SERVICE_CIDR", "BuiltinContext"]

#: The service range of the recorded server; ``10.0.0.1`` belongs to the ``kubernetes`` service.
SERVICE_CIDR = "10.0.0.0/24"


class BuiltinContext(Protocol):
    """The server core's side of built-in defaulting and validation.

    ``allocate_cluster_ip`` hands out a free address of :data:`SERVICE_CIDR`;
    ``release_cluster_ip`` gives one back. A context may also offer
    ``reserve_cluster_ip(ip) -> bool`` (claim a specific address, ``False`` if taken); without
    it, a Service asking for a specific in-range address gets it unchecked.
    """

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored core/v1 object ``plural`` ``namespace/name``, or None."""
        ...

    def allocate_cluster_ip(self) -> str:
        """A free cluster IP of the service range."""
        ...

    def release_cluster_ip(self, ip: str) -> None:
        """Return ``ip`` to the service range."""
        ...
