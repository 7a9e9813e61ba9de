"""A client workload that writes keys throughout a scenario and proves none was lost.

Every write that etcd acknowledged is remembered; :meth:`KeyWriter.verify` reads each one back
(linearizably) at the end. Writes that were not acknowledged may or may not have happened and
are not counted, as for any etcd client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import aetcd

__all__ = ["KeyWriter"]

Endpoints = Callable[[], Awaitable[list[str]]]


class KeyWriter:
    """Writes ``/workload/key-N`` continuously to whichever member answers.

    ``endpoints`` returns the current client URLs (members come and go during a scenario).
    """

    def __init__(self, endpoints: Endpoints, *, prefix: str = "/workload/", pace: float = 0.01):
        self._endpoints = endpoints
        self.prefix = prefix
        self.pace = pace
        self.acknowledged: dict[str, str] = {}
        self.failed_attempts = 0
        self._clients: dict[str, aetcd.Client] = {}

    async def run(self) -> None:
        """Write until cancelled."""
        i = 0
        try:
            while True:
                key, value = f"{self.prefix}key-{i:06d}", f"value-{i}"
                if await self._put(key, value):
                    self.acknowledged[key] = value
                    i += 1
                else:
                    self.failed_attempts += 1
                # Pacing, not synchronisation: a steady trickle of writes through every step.
                await asyncio.sleep(self.pace)
        finally:
            await self.close()

    async def _put(self, key: str, value: str) -> bool:
        for endpoint in await self._endpoints():
            try:
                client = await self._client(endpoint)
                await asyncio.wait_for(client.put(key.encode(), value.encode()), 2.0)
                return True
            except Exception:
                await self._drop(endpoint)
        return False

    async def verify(self) -> list[str]:
        """Read every acknowledged key back; return the keys missing or wrong."""
        for endpoint in await self._endpoints():
            try:
                client = await self._client(endpoint)
                found = await client.get_prefix(self.prefix.encode())
                stored = {kv.key.decode(): kv.value.decode() for kv in found}
            except Exception:
                await self._drop(endpoint)
                continue
            return [k for k, v in self.acknowledged.items() if stored.get(k) != v]
        raise ConnectionError("no etcd member answered the read-back")

    async def _client(self, endpoint: str) -> aetcd.Client:
        client = self._clients.get(endpoint)
        if client is None:
            host, _, port = endpoint.removeprefix("http://").partition(":")
            client = aetcd.Client(host=host, port=int(port or 2379), timeout=2)
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
