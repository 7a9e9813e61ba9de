"""A client workload that writes keys throughout a scenario and proves none was lost.

Every write that etcd acknowledged is remembered; :meth:`KeyWriter.verify` reads each one back
(linearizably) at the end. Writes that were not acknowledged may or may not have happened and
are not counted, as for any etcd client.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aetcd
from etcd_operator.builders import LABEL_CLUSTER
from etcd_operator.naming import CLIENT_PORT

from opframe import Client, Pod
from opframe.testing import eventually

__all__ = ["KeyWriter", "ReadBackFailed", "member_endpoints", "write_throughout"]

Endpoints = Callable[[], Awaitable[list[str]]]


async def member_endpoints(
    client: Client, namespace: str, cluster: str, scheme: str = "http"
) -> list[str]:
    """Client URLs of ``cluster``'s running member pods, as the API server lists them now."""
    pods = await client.list(Pod, namespace, label_selector={LABEL_CLUSTER: cluster})
    return [
        f"{scheme}://{p.status.pod_ip}:{CLIENT_PORT}"
        for p in pods.items
        if p.status and p.status.pod_ip and p.metadata.deletion_timestamp is None
    ]


class KeyWriter:
    """Writes ``/workload/key-N`` continuously to whichever member answers.

    ``endpoints`` returns the current client URLs (members come and go during a scenario);
    it is asked again only after a write to some endpoint failed.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        prefix: str = "/workload/",
        pace: float = 0.01,
        connect: Callable[[str, int], Awaitable[aetcd.Client]] | None = None,
    ):
        self._endpoints = endpoints
        self._connect = connect or _plain_client
        """Makes the client of one member (host, port): a TLS client for a TLS cluster."""
        self.prefix = prefix
        self.pace = pace
        self.acknowledged: dict[str, str] = {}
        self.ack_times: list[float] = []
        """``time.monotonic()`` of every acknowledgement, in order (for write gaps)."""
        self.failed_attempts = 0
        self._clients: dict[str, aetcd.Client] = {}
        self._known: list[str] | None = None  # endpoints as last asked; None: ask again

    async def run(self) -> None:
        """Write until cancelled."""
        i = 0
        try:
            while True:
                key, value = f"{self.prefix}key-{i:06d}", f"value-{i}"
                if await self._put(key, value):
                    self.acknowledged[key] = value
                    self.ack_times.append(time.monotonic())
                    i += 1
                else:
                    self.failed_attempts += 1
                # A cancellation a library swallowed still shows in the task's count.
                _reraise_if_cancelling()
                # Pacing, not synchronisation: a steady trickle of writes through every step.
                await asyncio.sleep(self.pace)
        finally:
            await self.close()

    async def _put(self, key: str, value: str) -> bool:
        if self._known is None:
            self._known = await self._endpoints()
        for endpoint in self._known:
            try:
                client = await self._client(endpoint)
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a cancellation
                # that arrives as the put completes.
                async with asyncio.timeout(2.0):
                    await client.put(key.encode(), value.encode())
                return True
            except Exception:
                _reraise_if_cancelling()
                await self._drop(endpoint)
                # Members changed (or one is restarting): ask for the endpoints again after
                # this write instead of listing pods before every write.
                self._known = None
        return False

    def longest_gap(self) -> float:
        """The longest time between two acknowledged writes, in seconds."""
        times = self.ack_times
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    async def verify(self) -> list[str]:
        """Read every acknowledged key back; return the keys missing or wrong."""
        for endpoint in await self._endpoints():
            try:
                client = await self._client(endpoint)
                found = await client.get_prefix(self.prefix.encode())
                stored = {kv.key.decode(): kv.value.decode() for kv in found}
            except Exception:
                _reraise_if_cancelling()
                await self._drop(endpoint)
                continue
            return [k for k, v in self.acknowledged.items() if stored.get(k) != v]
        raise ConnectionError("no etcd member answered the read-back")

    async def _client(self, endpoint: str) -> aetcd.Client:
        client = self._clients.get(endpoint)
        if client is None:
            host, _, port = endpoint.split("://", 1)[-1].partition(":")
            client = await self._connect(host, int(port or 2379))
            await client.connect()
            self._clients[endpoint] = client
        return client

    async def _drop(self, endpoint: str) -> None:
        client = self._clients.pop(endpoint, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    async def close(self) -> None:
        """Close every connection."""
        for endpoint in list(self._clients):
            await self._drop(endpoint)


async def _plain_client(host: str, port: int) -> aetcd.Client:
    return aetcd.Client(host=host, port=port, timeout=2)


class ReadBackFailed(AssertionError):
    """An acknowledged key did not read back (or nothing was ever acknowledged)."""


@contextlib.asynccontextmanager
async def write_throughout(
    endpoints: Endpoints, *, connect: Callable[[str, int], Awaitable[aetcd.Client]] | None = None
) -> AsyncIterator[KeyWriter]:
    """Write keys throughout the block; after it, read every acknowledged key back.

    ``connect`` makes the client of one member, as for :class:`KeyWriter` (TLS clusters).

    Raises :class:`ReadBackFailed` if a key is lost or no write was ever acknowledged, and
    ``AssertionError`` if no member answers the read-back within 30 s.
    """
    writer = KeyWriter(endpoints, connect=connect)
    task = asyncio.create_task(writer.run())
    try:
        yield writer
    finally:
        task.cancel()
        # asyncio.wait neither raises the writer's CancelledError nor swallows ours, and
        # the bound turns a writer that ignores cancellation into a failure, not a hang.
        done, _ = await asyncio.wait({task}, timeout=10)
        if not done:
            raise ReadBackFailed("the key writer did not stop within 10 s of being cancelled")
    await eventually(
        lambda: _verified(writer), message="every acknowledged key read back", timeout=30.0
    )
    if not writer.acknowledged:
        raise ReadBackFailed("the workload never got a write acknowledged")


async def _verified(writer: KeyWriter) -> bool:
    try:
        missing = await writer.verify()
    except ConnectionError:
        return False  # no member answered yet: try again
    if missing:
        raise ReadBackFailed(f"{len(missing)} acknowledged keys lost, e.g. {missing[:3]}")
    return True


def _reraise_if_cancelling() -> None:
    """Turn a swallowed cancellation back into one.

    A cancellation can be lost below us: gRPC may report a call cancelled by its task as
    ``AioRpcError(CANCELLED)`` (aetcd re-raises it as its own exception), and Python 3.11's
    ``wait_for`` can drop one that arrives as the inner call completes. Either way the cancelled
    writer would loop forever (seen as a rare hang in the e2e tests); the task's
    ``cancelling()`` count still tells the truth.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
