"""Deterministic names and URLs of an etcd cluster's members.

A member is identified by its pod name ``<cluster>-<ordinal>`` and its peer URL, which is
derived from that name through the headless peer Service. The operator finds members in etcd's
live member list by peer URL, never by a stored member ID.
"""

from __future__ import annotations

__all__ = [
    "CLIENT_PORT",
    "PEER_PORT",
    "client_service_name",
    "ordinal_of",
    "peer_service_name",
    "peer_url",
    "pod_name",
    "pod_of_peer_url",
]

CLIENT_PORT = 2379
PEER_PORT = 2380


def pod_name(cluster: str, ordinal: int) -> str:
    """``demo-0``, ``demo-1``, ... (numeric ordinals, never sorted as strings)."""
    return f"{cluster}-{ordinal}"


def ordinal_of(cluster: str, name: str) -> int | None:
    """The ordinal of a member pod name of ``cluster``, or ``None`` if it is not one."""
    prefix = f"{cluster}-"
    if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
        return None
    return int(name[len(prefix) :])


def peer_service_name(cluster: str) -> str:
    """The headless Service that gives members their DNS names."""
    return cluster


def client_service_name(cluster: str) -> str:
    """The Service clients use."""
    return f"{cluster}-client"


def peer_url(cluster: str, namespace: str, name: str, scheme: str = "http") -> str:
    """``http://demo-0.demo.ns.svc:2380`` (``https`` with peer TLS): stable across pod
    restarts and replacements."""
    return f"{scheme}://{name}.{peer_service_name(cluster)}.{namespace}.svc:{PEER_PORT}"


def pod_of_peer_url(cluster: str, url: str) -> str:
    """The member pod of ``cluster`` a peer URL points at (``""`` for a foreign URL)."""
    host = url.split("://", 1)[-1].split(".", 1)[0]
    return host if ordinal_of(cluster, host) is not None else ""
