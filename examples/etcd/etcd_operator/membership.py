"""etcd membership and member status over gRPC, on ``aetcd``.

``aetcd`` covers the key-value API and basic membership; learners (``member add --learner``,
``member promote``) and ``MoveLeader`` are not in its client, so this module calls etcd's
``Cluster`` and ``Maintenance`` services through the gRPC stubs ``aetcd`` ships.

Every error names the endpoint that failed.
"""

from __future__ import annotations

import asyncio
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

__all__ = [
    "EtcdAdmin",
    "EtcdBusy",
    "EtcdChannels",
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


# Call outcomes that may mean the channel itself is broken (rather than etcd saying no).
_CHANNEL_FAILURES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    }
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


def _host_port(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    return parts.hostname or "127.0.0.1", parts.port or 2379


class EtcdChannels:
    """gRPC clients to etcd endpoints kept from one :class:`EtcdAdmin` to the next.

    A steady reconcile makes a few small calls (member list, one status per member); opening a
    channel for each (TCP and HTTP/2 handshakes, a resolver and its threads in grpc, then the
    teardown) costs more CPU than the calls, and an operator idling over many clusters did
    little else. A client is reused only while it works: a failed call drops it (so the next
    call gets a fresh channel rather than grpc's reconnect backoff on the old one), and one
    left unused for ``idle_after`` seconds is closed (pods come back with new addresses).
    Clients belong to the event loop that opened them; on another loop the pool starts over::

        channels = EtcdChannels()
        async with EtcdAdmin(endpoints, channels=channels) as admin:  # does not close them
            await admin.member_list()
    """

    def __init__(self, *, idle_after: float = 60.0) -> None:
        self.idle_after = idle_after
        self._clients: dict[str, tuple[aetcd.Client, float]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._swept = time.monotonic()

    def get(self, key: str) -> aetcd.Client | None:
        """The open client for ``key`` (marked used now), if any."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._clients = loop, {}  # another loop's channels cannot be used here
        entry = self._clients.get(key)
        if entry is None:
            return None
        self._clients[key] = (entry[0], time.monotonic())
        return entry[0]

    async def put(self, key: str, client: aetcd.Client) -> aetcd.Client:
        """Keep ``client`` for ``key``; if another was kept meanwhile, close ours, use that."""
        kept = self.get(key)
        if kept is not None:
            with contextlib.suppress(Exception):
                await client.close()
            return kept
        self._clients[key] = (client, time.monotonic())
        await self._sweep()
        return client

    async def drop(self, key: str, client: aetcd.Client) -> None:
        """Forget and close ``client`` (a call through it failed)."""
        entry = self._clients.get(key)
        if entry is not None and entry[0] is client:
            del self._clients[key]
        with contextlib.suppress(Exception):
            await client.close()

    async def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._swept < self.idle_after:
            return
        self._swept = now
        stale = [k for k, (_, used) in self._clients.items() if now - used > self.idle_after]
        for key in stale:
            client, _ = self._clients.pop(key)
            with contextlib.suppress(Exception):
                await client.close()

    async def close(self) -> None:
        """Close every kept client."""
        clients, self._clients = self._clients, {}
        for client, _ in clients.values():
            with contextlib.suppress(Exception):
                await client.close()


class EtcdAdmin:
    """Membership operations against a cluster reachable at ``endpoints`` (client URLs).

    Use as an async context manager; one gRPC channel per endpoint is opened lazily and
    closed on exit, unless ``channels`` keeps them for the next admin (a reconciler's)::

        async with EtcdAdmin(["http://127.0.0.1:2379"]) as admin:
            members = await admin.member_list()
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 2.0,
        channels: EtcdChannels | None = None,
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.timeout = timeout
        self.channels = channels
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
        for client in clients.values():
            with contextlib.suppress(Exception):
                await client.close()

    async def _client(self, endpoint: str) -> aetcd.Client:
        if self.channels is not None:
            client = self.channels.get(endpoint)
            if client is None:
                client = await self.channels.put(endpoint, await self._connect(endpoint))
            return client
        client = self._clients.get(endpoint)
        if client is None:
            client = self._clients[endpoint] = await self._connect(endpoint)
        return client

    async def _connect(self, endpoint: str) -> aetcd.Client:
        host, port = _host_port(endpoint)
        client = aetcd.Client(host=host, port=port, timeout=self.timeout)
        await client.connect()
        return client

    async def _call(self, endpoint: str, service: str, method: str, request: Any) -> Any:
        client = await self._client(endpoint)
        stub = client.clusterstub if service == "cluster" else client.maintenancestub
        try:
            return await getattr(stub, method)(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as e:
            if e.code() in _CHANNEL_FAILURES:
                await self._failed(endpoint, client)
            raise MembershipError(f"etcd {endpoint}: {method} failed: {e.details()}") from e
        except (TimeoutError, OSError) as e:
            await self._failed(endpoint, client)
            raise MembershipError(f"etcd {endpoint}: {method} failed: {e!r}") from e

    async def _failed(self, endpoint: str, client: aetcd.Client) -> None:
        """A shared channel that failed a call is not reused (see :class:`EtcdChannels`)."""
        if self.channels is not None:
            await self.channels.drop(endpoint, client)

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
        )

    async def healthy(self, endpoint: str) -> bool:
        """Whether ``GET /health`` on the member's client URL reports healthy."""
        url = endpoint.rstrip("/") + "/health"
        if self._session is None:
            # One HTTP session for every health check, like the gRPC channels: closed on exit.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.get(url) as resp:
                body = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return False
        return resp.status == 200 and str(body.get("health")) == "true"


def _member(m: Any) -> Member:
    return Member(
        id=int(m.ID),
        name=str(m.name),
        peer_urls=tuple(m.peerURLs),
        client_urls=tuple(m.clientURLs),
        is_learner=bool(m.isLearner),
    )
