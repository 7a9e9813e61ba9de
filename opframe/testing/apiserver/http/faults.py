"""Fault injection for tests: error answers, latency and dropped watch streams.

    server.faults.add(verb="list", resource="widgets", status=429, retry_after=1, times=2)
    server.faults.add(verb="watch", resource="widgets", status=410)
    server.faults.latency(resource="pods", seconds=0.2)
    await server.faults.drop_watches(resource="widgets")

A fault matches a request by verb (``get``, ``list``, ``watch``, ``create``, ``update``,
``patch``, ``delete``, ``deletecollection``), resource plural, and namespace; ``None`` matches
anything. ``times`` limits how often it fires (``None``: until removed).
"""

from __future__ import annotations

from dataclasses import dataclass

from opframe.testing.apiserver.errors import StatusError
from opframe.testing.apiserver.http.watch import WatchRegistry

__all__ = ["Fault", "Faults", "Latency"]

_REASONS = {
    400: ("BadRequest", "bad request"),
    403: ("Forbidden", "forbidden"),
    404: ("NotFound", "the server could not find the requested resource"),
    409: ("Conflict", "the object has been modified; please apply your changes and try again"),
    410: ("Expired", "too old resource version"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted"),
}


@dataclass
class Fault:
    """An injected error answer."""

    verb: str | None
    resource: str | None
    namespace: str | None
    status: int
    retry_after: int | None
    times: int | None
    message: str

    def error(self) -> StatusError:
        """The answer this fault gives."""
        reason, default = _REASONS.get(self.status, ("InternalError", "injected fault"))
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        details = {"retryAfterSeconds": self.retry_after} if self.retry_after is not None else None
        return StatusError(self.status, reason, self.message or default, details, headers=headers)


@dataclass
class Latency:
    """Added delay before answering."""

    verb: str | None
    resource: str | None
    seconds: float


def _hit(want: str | None, have: str | None) -> bool:
    return want is None or want == have


class Faults:
    """The faults of one server; tests change them while it runs."""

    def __init__(self, watches: WatchRegistry) -> None:
        self._faults: list[Fault] = []
        self._latency: list[Latency] = []
        self._watches = watches

    def add(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        status: int = 500,
        retry_after: int | None = None,
        times: int | None = None,
        message: str = "",
    ) -> Fault:
        """Answer matching requests with ``status`` (and ``Retry-After`` if given)."""
        fault = Fault(verb, resource, namespace, status, retry_after, times, message)
        self._faults.append(fault)
        return fault

    def latency(
        self, *, seconds: float, verb: str | None = None, resource: str | None = None
    ) -> Latency:
        """Delay matching requests by ``seconds``."""
        lat = Latency(verb, resource, seconds)
        self._latency.append(lat)
        return lat

    def remove(self, item: Fault | Latency) -> None:
        """Remove one fault or latency rule."""
        if isinstance(item, Fault):
            self._faults = [f for f in self._faults if f is not item]
        else:
            self._latency = [lat for lat in self._latency if lat is not item]

    def clear(self) -> None:
        """Remove every fault and latency rule."""
        self._faults.clear()
        self._latency.clear()

    async def drop_watches(self, resource: str | None = None) -> int:
        """End the open watch streams (of one resource plural, or all); returns how many."""
        return self._watches.drop(resource)

    def delay(self, verb: str, resource: str) -> float:
        """Seconds to wait before answering this request."""
        return sum(
            lat.seconds
            for lat in self._latency
            if _hit(lat.verb, verb) and _hit(lat.resource, resource)
        )

    def take(self, verb: str, resource: str, namespace: str | None) -> Fault | None:
        """The fault that fires for this request, if any (counting it)."""
        for fault in self._faults:
            if (
                _hit(fault.verb, verb)
                and _hit(fault.resource, resource)
                and _hit(fault.namespace, namespace)
            ):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None
