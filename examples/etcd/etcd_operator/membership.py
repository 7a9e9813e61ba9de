"""etcd membership and member status over gRPC, on ``aetcd``.

``aetcd`` covers the key-value API and basic membership; learners (``member add --learner``,
``member promote``) and ``MoveLeader`` are not in its client, so this module calls etcd's
``Cluster`` and ``Maintenance`` services through the gRPC stubs ``aetcd`` ships.

Every error names the endpoint that failed.
"""

from __future__ import annotations

import contextlib
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


class EtcdAdmin:
    """Membership operations against a cluster reachable at ``endpoints`` (client URLs).

    Use as an async context manager; one gRPC channel per endpoint is opened lazily and
    closed on exit::

        async with EtcdAdmin(["http://127.0.0.1:2379"]) as admin:
            members = await admin.member_list()
    """

    def __init__(
        self, endpoints: Sequence[str], *, timeout: float = 2.0, tls: ClientTLS | None = None
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.timeout = timeout
        self.tls = tls
        """The client certificate every call presents (``https`` endpoints)."""
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
        client = self._clients.get(endpoint)
        if client is None:
            host, port = _host_port(endpoint)
            client = connect(host, port, tls=self.tls, timeout=self.timeout)
            await client.connect()
            self._clients[endpoint] = client
        return client

    async def _call(self, endpoint: str, service: str, method: str, request: Any) -> Any:
        client = await self._client(endpoint)
        stubs = {"cluster": client.clusterstub, "kv": client.kvstub}
        stub = stubs.get(service, client.maintenancestub)
        try:
            return await getattr(stub, method)(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as e:
            raise MembershipError(f"etcd {endpoint}: {method} failed: {e.details()}") from e
        except (TimeoutError, OSError) as e:
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


def _member(m: Any) -> Member:
    return Member(
        id=int(m.ID),
        name=str(m.name),
        peer_urls=tuple(m.peerURLs),
        client_urls=tuple(m.clientURLs),
        is_learner=bool(m.isLearner),
    )
