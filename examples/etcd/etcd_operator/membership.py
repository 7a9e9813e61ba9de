"""etcd membership and member status over gRPC, on ``aetcd``.

``aetcd`` covers the key-value API and basic membership; learners (``member add --learner``,
``member promote``) and ``MoveLeader`` are not in its client, so this module calls etcd's
``Cluster`` and ``Maintenance`` services through the gRPC stubs ``aetcd`` ships.

Every error names the endpoint that failed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aetcd
import aiohttp
import grpc
from aetcd import rpc

from etcd_operator.tls import ClientTLS, connect

__all__ = [
    "Channels",
    "EtcdAdmin",
    "EtcdBusy",
    "EtcdUnreachable",
    "Member",
    "MemberStatus",
    "Membership",
    "MembershipError",
]


class MembershipError(Exception):
    """A membership call failed; the message names the endpoint and the etcd error."""


class EtcdUnreachable(MembershipError):
    """No endpoint answered."""


class EtcdBusy(MembershipError):
    """etcd refused a membership change for now; it will accept it shortly, so retry soon.

    etcd's strict reconfiguration check refuses ``member add``, ``promote`` and ``remove``
    until every voting member has been connected for five seconds after the last change
    ("unhealthy cluster"), and refuses a second learner ("too many learner members").
    """


# etcd's answers that mean "not now" rather than "no": the change is safe to retry.
_BUSY = (
    "unhealthy cluster",
    "re-configuration failed due to not enough started members",
    "too many learner members",
    "learner is not ready",
)


@dataclass(frozen=True)
class Member:
    """One entry of etcd's member list. ``name`` is empty until the member has started."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool


@dataclass(frozen=True)
class Membership:
    """A live member list and the cluster ID of the member that answered it."""

    cluster_id: int
    members: tuple[Member, ...]
    endpoint: str


@dataclass(frozen=True)
class MemberStatus:
    """``Maintenance.Status`` of one member."""

    endpoint: str
    member_id: int
    cluster_id: int
    version: str
    leader_id: int
    raft_index: int
    raft_term: int
    is_learner: bool
    errors: tuple[str, ...]
    db_size: int = 0
    """Size of the member's database file in bytes."""
    db_size_in_use: int = 0
    """Bytes of that file in use; the rest is what a defragmentation frees."""
    revision: int = 0
    """The store's current revision (from the response header)."""


def _host_port(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    return parts.hostname or "127.0.0.1", parts.port or 2379


_Key = tuple[str, ClientTLS | None]


class Channels:
    """gRPC clients to etcd members kept from one reconcile to the next.

    Without it an idle operator opens and closes a channel (a TCP connection, with TLS a
    handshake) to every member on every periodic reconcile. One client is kept per endpoint
    and client certificate (a renewed certificate gets a new one). A client that failed at the
    transport level is closed, so the next use dials afresh instead of waiting out gRPC's
    reconnect backoff while the member is already back; one that no reconcile has used for
    ``idle`` seconds is closed (a member that went away). Safety does not depend on a channel
    staying with one member: every mutating step checks the cluster ID it gets back.
    """

    def __init__(self, idle: float = 60.0) -> None:
        self.idle = idle
        self._clients: dict[_Key, aetcd.Client] = {}
        self._last_used: dict[_Key, float] = {}
        self._users: dict[_Key, int] = {}

    def __len__(self) -> int:
        return len(self._clients)

    async def acquire(
        self, endpoint: str, tls: ClientTLS | None, call_timeout: float
    ) -> aetcd.Client:
        """The client for ``endpoint`` (its calls' default deadline ``call_timeout`` when it is
        opened here); :meth:`release` it after."""
        now = time.monotonic()
        await self._close_idle(now)
        key = (endpoint, tls)
        client = self._clients.get(key)
        if client is None:
            host, port = _host_port(endpoint)
            client = connect(host, port, tls=tls, timeout=call_timeout)
            await client.connect()
            self._clients[key] = client
        self._users[key] = self._users.get(key, 0) + 1
        self._last_used[key] = now
        return client

    def release(self, endpoint: str, tls: ClientTLS | None) -> None:
        """One user fewer of ``endpoint``'s client (it stays open for the next reconcile)."""
        key = (endpoint, tls)
        if self._users.get(key, 0) > 0:
            self._users[key] -= 1
            self._last_used[key] = time.monotonic()

    async def discard(self, endpoint: str, tls: ClientTLS | None) -> None:
        """Close ``endpoint``'s client after a transport failure; the next use dials again."""
        await self._forget((endpoint, tls))

    async def close(self) -> None:
        """Close every client (the operator is stopping)."""
        clients, self._clients = self._clients, {}
        self._last_used.clear()
        self._users.clear()
        for client in clients.values():
            await _close_quietly(client)

    async def _close_idle(self, now: float) -> None:
        stale = [
            k
            for k, used in self._last_used.items()
            if now - used > self.idle and not self._users.get(k)
        ]
        for key in stale:
            await self._forget(key)

    async def _forget(self, key: _Key) -> None:
        """Close ``key``'s client and drop everything kept about it."""
        self._last_used.pop(key, None)
        self._users.pop(key, None)
        client = self._clients.pop(key, None)
        if client is not None:
            await _close_quietly(client)


async def _close_quietly(client: aetcd.Client) -> None:
    with contextlib.suppress(Exception):
        await client.close()


class EtcdAdmin:
    """Membership operations against a cluster reachable at ``endpoints`` (client URLs).

    Use as an async context manager; one gRPC channel per endpoint is opened lazily and
    closed on exit, or, with ``channels``, taken from and left in that pool::

        async with EtcdAdmin(["http://127.0.0.1:2379"]) as admin:
            members = await admin.member_list()
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 2.0,
        tls: ClientTLS | None = None,
        channels: Channels | None = None,
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.timeout = timeout
        self.tls = tls
        """The client certificate every call presents (``https`` endpoints)."""
        self.channels = channels
        """Where channels come from and go back to (``None``: opened here, closed on exit)."""
        self._clients: dict[str, aetcd.Client] = {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> EtcdAdmin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every channel and the HTTP session opened."""
        clients, self._clients = self._clients, {}
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        for endpoint, client in clients.items():
            if self.channels is not None:
                self.channels.release(endpoint, self.tls)
            else:
                await _close_quietly(client)

    async def _client(self, endpoint: str) -> aetcd.Client:
        client = self._clients.get(endpoint)
        if client is None:
            if self.channels is not None:
                client = await self.channels.acquire(endpoint, self.tls, self.timeout)
            else:
                host, port = _host_port(endpoint)
                client = connect(host, port, tls=self.tls, timeout=self.timeout)
                await client.connect()
            self._clients[endpoint] = client
        return client

    async def _broken(self, endpoint: str) -> None:
        """A transport failure: a pooled channel is not reused (see :class:`Channels`)."""
        if self.channels is not None and self._clients.pop(endpoint, None) is not None:
            self.channels.release(endpoint, self.tls)
            await self.channels.discard(endpoint, self.tls)

    async def _call(self, endpoint: str, service: str, method: str, request: Any) -> Any:
        client = await self._client(endpoint)
        stubs = {"cluster": client.clusterstub, "kv": client.kvstub}
        stub = stubs.get(service, client.maintenancestub)
        try:
            return await getattr(stub, method)(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as e:
            if e.code() in _TRANSPORT_FAILURES:
                await self._broken(endpoint)
            raise MembershipError(f"etcd {endpoint}: {method} failed: {e.details()}") from e
        except (TimeoutError, OSError) as e:
            await self._broken(endpoint)
            raise MembershipError(f"etcd {endpoint}: {method} failed: {e!r}") from e

    async def _first(
        self,
        service: str,
        method: str,
        request: Any,
        endpoints: Iterable[str] = (),
        *,
        busy_elsewhere: bool = False,
    ) -> Any:
        """Send ``request`` to the first endpoint that answers.

        A "not now" answer (:class:`EtcdBusy`) stops the search, unless ``busy_elsewhere``:
        etcd checks "every peer connected for 5 s" on the member that receives the request,
        from that member's own connections, so for a change that cannot cost quorum (adding
        or promoting a learner) another member may already accept it.
        """
        errors: list[str] = []
        busy = False
        for endpoint in tuple(endpoints) or self.endpoints:
            try:
                return await self._call(endpoint, service, method, request)
            except MembershipError as e:
                errors.append(str(e))
                if any(text in str(e) for text in _BUSY):
                    busy = True
                    if not busy_elsewhere:
                        break
        if busy:
            raise EtcdBusy("; ".join(errors))
        raise EtcdUnreachable(
            "; ".join(errors) or "no etcd endpoint to ask (no member pod has an IP)"
        )

    async def member_list(self) -> list[Member]:
        """The live member list, from the first endpoint that answers."""
        return list((await self.membership()).members)

    async def membership(self, endpoints: Iterable[str] = ()) -> Membership:
        """The live member list with the answering member's cluster ID (to check identity)."""
        errors: list[str] = []
        for endpoint in tuple(endpoints) or self.endpoints:
            try:
                resp = await self._call(endpoint, "cluster", "MemberList", rpc.MemberListRequest())
            except MembershipError as e:
                errors.append(str(e))
                continue
            members = tuple(_member(m) for m in resp.members)
            return Membership(int(resp.header.cluster_id), members, endpoint)
        raise EtcdUnreachable(
            "; ".join(errors) or "no etcd endpoint to ask (no member pod has an IP)"
        )

    async def add_member(self, peer_url: str, *, learner: bool) -> Member:
        """``member add`` (as a learner if asked); the new member's pod starts afterwards.

        An add that timed out may still have been applied; asking again then answers "peerURL
        exists", and the member already registered under that URL is returned.
        """
        req = rpc.MemberAddRequest(peerURLs=[peer_url], isLearner=learner)
        try:
            resp = await self._first("cluster", "MemberAdd", req, busy_elsewhere=learner)
        except MembershipError as e:
            if "peerURL exists" not in str(e):
                raise
            for member in await self.member_list():
                if peer_url in member.peer_urls:
                    return member
            raise
        return _member(resp.member)

    async def remove_member(self, member_id: int) -> None:
        """``member remove``; removing a member that is already gone is not an error."""
        try:
            await self._first("cluster", "MemberRemove", rpc.MemberRemoveRequest(ID=member_id))
        except MembershipError as e:
            if "member not found" in str(e):
                return
            raise

    async def promote_member(self, member_id: int) -> bool:
        """``member promote``; ``False`` while the learner has not caught up yet."""
        try:
            await self._first(
                "cluster",
                "MemberPromote",
                rpc.MemberPromoteRequest(ID=member_id),
                busy_elsewhere=True,
            )
        except MembershipError as e:
            if "not in sync" in str(e) or "can only promote a learner member" in str(e):
                return False
            raise
        return True

    async def move_leader(self, leader_endpoint: str, target_id: int) -> None:
        """Transfer leadership to ``target_id``; must be sent to the current leader."""
        await self._call(
            leader_endpoint, "maintenance", "MoveLeader", rpc.MoveLeaderRequest(targetID=target_id)
        )

    async def status(self, endpoint: str) -> MemberStatus:
        """``Maintenance.Status`` of the member serving ``endpoint``."""
        r = await self._call(endpoint, "maintenance", "Status", rpc.StatusRequest())
        return MemberStatus(
            endpoint=endpoint,
            member_id=r.header.member_id,
            cluster_id=r.header.cluster_id,
            version=r.version,
            leader_id=r.leader,
            raft_index=r.raftIndex,
            raft_term=r.raftTerm,
            is_learner=r.isLearner,
            errors=tuple(r.errors),
            db_size=int(r.dbSize),
            db_size_in_use=int(r.dbSizeInUse) or int(r.dbSize),
            revision=int(r.header.revision),
        )

    # -- maintenance (etcd_operator.maintenance) ------------------------------------------

    async def alarms(self) -> list[tuple[int, str]]:
        """The raised alarms as ``(member ID, type)``, e.g. ``(0x8e9e..., "NOSPACE")``."""
        req = rpc.AlarmRequest(action=rpc.AlarmRequest.GET, memberID=0, alarm=rpc.NONE)
        resp = await self._first("maintenance", "Alarm", req)
        return [(int(a.memberID), rpc.AlarmType.Name(a.alarm)) for a in resp.alarms]

    async def disarm(self, member_id: int, alarm: str) -> None:
        """Deactivate the ``alarm`` (``NOSPACE``) raised by ``member_id``."""
        req = rpc.AlarmRequest(
            action=rpc.AlarmRequest.DEACTIVATE,
            memberID=member_id,
            alarm=rpc.AlarmType.Value(alarm),
        )
        await self._first("maintenance", "Alarm", req)

    async def compact(self, revision: int) -> bool:
        """Compact the key space up to ``revision`` and wait until it is physically done;
        ``False`` when it was compacted that far already."""
        req = rpc.CompactionRequest(revision=revision, physical=True)
        try:
            await self._first("kv", "Compact", req)
        except MembershipError as e:
            if "required revision has been compacted" in str(e):
                return False
            raise
        return True

    async def defragment(self, endpoint: str) -> None:
        """Defragment the member serving ``endpoint`` (it blocks that member while it runs)."""
        client = await self._client(endpoint)
        try:
            # Defragmenting rewrites the whole file: far longer than an ordinary call.
            await client.maintenancestub.Defragment(
                rpc.DefragmentRequest(), timeout=max(self.timeout, 60.0)
            )
        except grpc.aio.AioRpcError as e:
            if e.code() in _TRANSPORT_FAILURES:
                await self._broken(endpoint)
            raise MembershipError(f"etcd {endpoint}: Defragment failed: {e.details()}") from e

    async def healthy(self, endpoint: str) -> bool:
        """Whether ``GET /health`` on the member's client URL reports healthy."""
        url = endpoint.rstrip("/") + "/health"
        if self._session is None:
            # One HTTP session for every health check, like the gRPC channels: closed on exit.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        tls = self.tls
        extra: dict[str, Any] = (
            {"ssl": tls.ssl_context, "server_hostname": tls.server_name} if tls else {}
        )
        try:
            async with self._session.get(url, **extra) as resp:
                body = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return False
        return resp.status == 200 and str(body.get("health")) == "true"


_TRANSPORT_FAILURES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
"""gRPC codes that say the channel, not etcd, failed: a pooled channel is dialled afresh."""


def _member(m: Any) -> Member:
    return Member(
        id=int(m.ID),
        name=str(m.name),
        peer_urls=tuple(m.peerURLs),
        client_urls=tuple(m.clientURLs),
        is_learner=bool(m.isLearner),
    )
