"""Pod networking on loopback: one 127.b.x.y address per pod and a managed hosts file.

Linux routes all of 127.0.0.0/8 to ``lo``, so every pod can bind its own address with the
ports its spec names (2379, 2380 for etcd) without clashing with other pods. Each kubelet
claims a whole ``127.b.0.0/16`` block with an advisory lock file, so several kubelets on one
machine (parallel test runs, a background ``opframe local up``) never hand out the same
address; the lock dies with the process.

DNS is a hosts file per pod, mounted over ``/etc/hosts`` in the pod's mount namespace, listing
(like kubelet's managed hosts file plus what CoreDNS would answer):

- the pod's own hostname (and ``hostname.subdomain.ns.svc.<domain>`` with a subdomain);
- ``hostname.subdomain.ns.svc.<domain>`` of every pod whose subdomain names a headless
  service in its namespace (ready pods, or all pods when the service sets
  ``publishNotReadyAddresses``);
- every service: a headless service resolves to its ready pods' addresses; a ClusterIP
  service resolves to the address of **one** ready endpoint pod, because there is no
  kube-proxy: connect to the service on the pod's port (``port`` should equal
  ``targetPort``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "AddressBlock",
    "PodAddress",
    "ServiceRecord",
    "cluster_records",
    "render_hosts",
    "write_in_place",
]

_LOCK_DIR = Path(tempfile.gettempdir()) / "opframe-loopback-blocks"


class AddressBlock:
    """A ``127.b.0.0/16`` block of loopback addresses owned by this process.

    ``AddressBlock()`` claims the first free block (1..254) with a lock file; ``close()``
    releases it. Addresses are handed out round-robin so a released address is not reused
    at once (stale hosts entries and sockets in TIME_WAIT elsewhere).
    """

    def __init__(self, block: int | None = None) -> None:
        if not _LOCK_DIR.exists():
            _LOCK_DIR.mkdir(parents=True, exist_ok=True)
            # Shared by every user's kubelets, like /tmp itself.
            with contextlib.suppress(PermissionError):
                _LOCK_DIR.chmod(0o1777)
        candidates = [block] if block is not None else range(1, 255)
        self._fd = -1
        for b in candidates:
            try:
                # Read-only is enough for flock, and works on another user's lock file.
                fd = os.open(_LOCK_DIR / f"{b}.lock", os.O_RDONLY | os.O_CREAT, 0o644)
            except PermissionError:
                continue  # another user's block
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd, self.block = fd, b
            break
        else:
            raise RuntimeError("every 127.b.0.0/16 loopback block is claimed by a kubelet")
        self._next = 1
        self._used: dict[str, str] = {}

    def allocate(self, owner: str) -> str:
        """An address for ``owner`` (a pod uid); the same owner gets the same address."""
        for ip, who in self._used.items():
            if who == owner:
                return ip
        for _ in range(254 * 254):
            n, self._next = self._next, self._next % (254 * 254) + 1
            ip = f"127.{self.block}.{(n - 1) // 254 + 1}.{(n - 1) % 254 + 1}"
            if ip not in self._used:
                self._used[ip] = owner
                return ip
        raise RuntimeError(f"loopback block 127.{self.block}.0.0/16 is full")

    def release(self, owner: str) -> None:
        """Give back ``owner``'s address (no-op if it has none)."""
        for ip, who in list(self._used.items()):
            if who == owner:
                del self._used[ip]

    def close(self) -> None:
        """Release the block's lock."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True)
class PodAddress:
    """What the hosts file needs to know about one pod."""

    namespace: str
    name: str
    ip: str
    ready: bool
    hostname: str = ""
    subdomain: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def effective_hostname(self) -> str:
        """``spec.hostname`` or, as in Kubernetes, the pod name."""
        return self.hostname or self.name


@dataclass(frozen=True)
class ServiceRecord:
    """What the hosts file needs to know about one service."""

    namespace: str
    name: str
    selector: Mapping[str, str]
    headless: bool
    publish_not_ready: bool = False

    def selects(self, pod: PodAddress) -> bool:
        """Whether the service's selector picks ``pod`` (an empty selector picks none)."""
        return (
            bool(self.selector)
            and pod.namespace == self.namespace
            and all(pod.labels.get(k) == v for k, v in self.selector.items())
        )


def _names(base: str, namespace: str, own_namespace: str, domain: str) -> list[str]:
    # Search-path forms the pod could use: short names only within its own namespace.
    names = [f"{base}.{namespace}.svc.{domain}", f"{base}.{namespace}.svc", f"{base}.{namespace}"]
    if namespace == own_namespace:
        names.append(base)
    return names


def cluster_records(
    pods: Iterable[PodAddress],
    services: Iterable[ServiceRecord],
    *,
    namespace: str = "",
    domain: str = "cluster.local",
    exclude: tuple[str, str] | None = None,
) -> list[tuple[str, list[str]]]:
    """(address, names) pairs for the cluster DNS names of pods and services (pure).

    ``namespace`` is the asking pod's namespace (its short names are included); ``exclude``
    skips one pod (the asking pod, which lists itself first).
    """
    pods = sorted(pods, key=lambda p: (p.namespace, p.name))
    services = sorted(services, key=lambda s: (s.namespace, s.name))
    headless = {(s.namespace, s.name): s for s in services if s.headless}
    records: list[tuple[str, list[str]]] = []
    for pod in pods:
        svc = headless.get((pod.namespace, pod.subdomain)) if pod.subdomain else None
        if svc is None or (pod.namespace, pod.name) == exclude:
            continue
        if pod.ready or svc.publish_not_ready:
            base = f"{pod.effective_hostname}.{pod.subdomain}"
            records.append((pod.ip, _names(base, pod.namespace, namespace, domain)))
    for svc in services:
        targets = [p for p in pods if svc.selects(p) and (p.ready or svc.publish_not_ready)]
        if not svc.headless:
            targets = targets[:1]
        names = _names(svc.name, svc.namespace, namespace, domain)
        records.extend((p.ip, names) for p in targets)
    return records


def render_hosts(
    me: PodAddress,
    pods: Iterable[PodAddress],
    services: Iterable[ServiceRecord],
    domain: str = "cluster.local",
) -> str:
    """The hosts file of pod ``me`` given the cluster's pods and services (pure)."""
    lines = [
        "# Kubernetes-managed hosts file (opframe local kubelet).",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
    ]
    # Every form a pod's search path would complete (there is no resolv.conf search here):
    # etcd checks that its own advertised peer URL, often `host.sub.ns.svc`, resolves.
    own = [me.effective_hostname]
    if me.subdomain:
        base = f"{me.effective_hostname}.{me.subdomain}"
        own = [*_names(base, me.namespace, me.namespace, domain), me.effective_hostname]
    lines.append(f"{me.ip}\t" + "\t".join(own))
    lines.append("")
    lines.append("# Cluster DNS names: pods under headless services, then services (a ClusterIP")
    lines.append("# service names one ready pod: there is no kube-proxy).")
    records = cluster_records(
        pods, services, namespace=me.namespace, domain=domain, exclude=(me.namespace, me.name)
    )
    lines.extend(f"{ip}\t{' '.join(names)}" for ip, names in records)
    return "\n".join(lines) + "\n"


def write_in_place(path: Path, content: str) -> bool:
    """Write ``content`` into ``path`` keeping its inode; return whether it changed.

    A bind mount pins the inode, so replacing the file (write + rename) would leave running
    pods reading the old one; rewriting the same inode is what they see.
    """
    data = content.encode()
    try:
        with path.open("r+b") as f:
            if f.read() == data:
                return False
            f.seek(0)
            f.write(data)
            f.truncate()
    except FileNotFoundError:
        path.write_bytes(data)
    return True
