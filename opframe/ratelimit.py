"""Rate limiters for the work queue: how long a key waits before it is retried.

A rate limiter answers one question, :meth:`RateLimiter.when`: "this key failed (again); how
long until it may be processed?". The defaults follow client-go's
``DefaultControllerRateLimiter``: the larger of a per-key exponential backoff (5 ms doubling up
to 1000 s) and an overall token bucket (10 per second, burst 100) shared by all keys, so one
flapping object backs off on its own while a storm of failures cannot hammer the API server::

    limiter = default_rate_limiter()
    limiter.when("default/web")   # 0.005
    limiter.when("default/web")   # 0.010
    limiter.forget("default/web") # after a success: the next failure starts at 5 ms again

Limiters are synchronous and cheap; time comes from an injectable monotonic clock so tests
need no sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Protocol

__all__ = [
    "BucketRateLimiter",
    "ExponentialBackoffRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_rate_limiter",
]

Clock = Callable[[], float]


class RateLimiter(Protocol):
    """Decides the delay before a failed key is retried.

    Implementations keep per-key state between :meth:`when` calls until :meth:`forget`.
    """

    def when(self, key: Hashable) -> float:
        """Record one more retry of ``key`` and return how many seconds it must wait."""
        ...

    def forget(self, key: Hashable) -> None:
        """Drop the retry history of ``key`` (call it after the key was processed fine)."""
        ...

    def num_requeues(self, key: Hashable) -> int:
        """How many times ``key`` was rate-limited since it was last forgotten."""
        ...


class ExponentialBackoffRateLimiter:
    """Per-key exponential backoff: ``base * 2**failures``, capped at ``max_delay``.

    Args:
        base_delay: the delay of the first retry, in seconds (client-go: 5 ms).
        max_delay: the cap, in seconds (client-go: 1000 s).
    """

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        if base_delay <= 0 or max_delay < base_delay:
            raise ValueError("need 0 < base_delay <= max_delay")
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        """Return ``base * 2**n`` for the key's n-th retry (n from 0), capped."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        # Past ~2**64 the float would overflow; the cap was reached long before.
        if failures > 64:
            return self.max_delay
        return min(self.base_delay * (2.0**failures), self.max_delay)

    def forget(self, key: Hashable) -> None:
        """Reset the key's backoff."""
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        """Failures recorded for the key since it was last forgotten."""
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """An overall token bucket shared by every key: ``qps`` tokens a second, ``burst`` at most.

    Each :meth:`when` takes a token; when the bucket is empty it reserves a future token and
    returns how long until then, so callers spread out instead of all retrying at once. It
    keeps no per-key state (:meth:`forget` does nothing, :meth:`num_requeues` is 0).
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock = time.monotonic):
        if qps <= 0 or burst < 1:
            raise ValueError("need qps > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def when(self, key: Hashable) -> float:
        """Take a token; return 0 if one was available, else the wait for a reserved one."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.qps)
        self._updated = now
        # Tokens may go negative: each negative token is a reservation further in the future.
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.qps

    def forget(self, key: Hashable) -> None:
        """Nothing to forget: the bucket is not per key."""

    def num_requeues(self, key: Hashable) -> int:
        """Always 0: the bucket does not count per key."""
        return 0


class MaxOfRateLimiter:
    """Combine limiters: the delay is the largest any of them asks for.

    Every limiter sees every call, so each keeps its own state up to date.
    """

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, key: Hashable) -> float:
        """The largest delay of the combined limiters."""
        return max(limiter.when(key) for limiter in self.limiters)

    def forget(self, key: Hashable) -> None:
        """Forget the key in every limiter."""
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        """The largest retry count any limiter reports."""
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_rate_limiter() -> MaxOfRateLimiter:
    """client-go's ``DefaultControllerRateLimiter``: max(5 ms..1000 s per key, 10 qps/100 burst)."""
    return MaxOfRateLimiter(
        ExponentialBackoffRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100)
    )
