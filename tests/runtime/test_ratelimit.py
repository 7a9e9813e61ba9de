"""Rate limiters: per-key exponential backoff, overall token bucket, their combination."""

from __future__ import annotations

import pytest

from opframe.ratelimit import (
    BucketRateLimiter,
    ExponentialBackoffRateLimiter,
    MaxOfRateLimiter,
    default_rate_limiter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_exponential_backoff_doubles_from_base_per_key() -> None:
    limiter = ExponentialBackoffRateLimiter(0.005, 1000.0)
    assert [limiter.when("a") for _ in range(4)] == [0.005, 0.01, 0.02, 0.04]
    assert limiter.when("b") == 0.005
    assert limiter.num_requeues("a") == 4


def test_exponential_backoff_is_capped_at_max_delay() -> None:
    limiter = ExponentialBackoffRateLimiter(0.005, 1000.0)
    delays = [limiter.when("a") for _ in range(200)]
    assert max(delays) == 1000.0
    assert delays[-1] == 1000.0


def test_forget_resets_backoff() -> None:
    limiter = ExponentialBackoffRateLimiter(0.005, 1.0)
    limiter.when("a")
    limiter.when("a")
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.005


def test_bucket_allows_burst_then_spaces_by_qps() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=10, burst=3, clock=clock)
    assert [bucket.when(i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.when(3) == pytest.approx(0.1)
    assert bucket.when(4) == pytest.approx(0.2)


def test_bucket_refills_over_time() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=10, burst=2, clock=clock)
    bucket.when("a")
    bucket.when("b")
    clock.now += 0.15  # one token (0.1 s at 10 qps), with room for float rounding
    assert bucket.when("c") == 0.0


def test_max_of_takes_the_largest_delay() -> None:
    clock = FakeClock()
    limiter = MaxOfRateLimiter(
        ExponentialBackoffRateLimiter(0.005, 1000.0), BucketRateLimiter(10, 1, clock=clock)
    )
    assert limiter.when("a") == 0.005  # bucket had a token; backoff rules
    assert limiter.when("b") == pytest.approx(0.1)  # bucket empty: its delay rules
    assert limiter.num_requeues("a") == 1


def test_default_rate_limiter_matches_client_go_defaults() -> None:
    limiter = default_rate_limiter()
    backoff, bucket = limiter.limiters
    assert isinstance(backoff, ExponentialBackoffRateLimiter)
    assert (backoff.base_delay, backoff.max_delay) == (0.005, 1000.0)
    assert isinstance(bucket, BucketRateLimiter)
    assert (bucket.qps, bucket.burst) == (10.0, 100)
