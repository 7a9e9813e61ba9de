"""Controller semantics on an in-memory cache: mapping, coalescing, errors, requeues, shutdown.

The same behaviours against the embedded API server are in test_controller_apiserver.py.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import pytest

from opframe import Context, ObjectRef, Reason, ReasonSource, Result
from opframe.controller import Controller
from opframe.errors import Forbidden, NotFound, TerminalError
from opframe.kinds import ConfigMap
from opframe.metrics import Metrics
from opframe.predicates import generation_changed
from opframe.ratelimit import ExponentialBackoffRateLimiter
from opframe.resource import ObjectMeta

from ._fakes import Calls, Web, make_running, owned_by, running, started, web


def recording(calls: Calls) -> Any:
    async def reconcile(ctx: Context, obj: Any) -> None:
        calls.record((ctx.ref, ctx.reasons, obj))

    return reconcile


async def test_primary_event_reconciles_the_object_read_from_the_cache() -> None:
    calls = Calls()
    controller = Controller(for_=Web, reconciler=recording(calls))
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", web("a"))
        await calls.wait_for(lambda c: len(c) == 1)
    request, reasons, obj = calls.items[0]
    assert request == ObjectRef("default", "a")
    assert obj.spec.content == "a"
    assert [str(r) for r in reasons] == ["ADDED Web default/a (for)"]


async def test_events_for_one_key_coalesce_into_one_reconcile_with_every_reason() -> None:
    calls = Calls()
    controller = Controller(for_=Web, reconciler=recording(calls))
    cache_events = [("ADDED", 1), ("MODIFIED", 2), ("MODIFIED", 3)]
    cache = make_running(controller)
    for type_, generation in cache_events:  # before the workers start: all three wait
        cache.informers[Web].emit(type_, web("a", generation=generation))
    async with started(cache):
        await calls.wait_for(lambda c: len(c) >= 1)
    assert len(calls.items) == 1
    _, reasons, obj = calls.items[0]
    assert [r.event for r in reasons] == ["ADDED", "MODIFIED", "MODIFIED"]
    assert obj.metadata.generation == 3


async def test_owned_object_event_reconciles_its_controller_owner() -> None:
    calls = Calls()
    controller = Controller(for_=Web, reconciler=recording(calls)).owns(ConfigMap)
    owner = web("owner")
    other = web("other")
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", owner)
        cache.informers[Web].emit("ADDED", other)
        await calls.wait_for(lambda c: len(c) == 2)
        cm = ConfigMap(
            metadata=ObjectMeta(
                name="cm",
                namespace="default",
                owner_references=[owned_by(owner), owned_by(other, controller=False)],
            )
        )
        cache.informers[ConfigMap].emit("ADDED", cm)
        await calls.wait_for(lambda c: len(c) == 3)
    request, reasons, _ = calls.items[2]
    assert request == ObjectRef("default", "owner")
    assert [str(r) for r in reasons] == ["ADDED ConfigMap default/cm (owns)"]


async def test_owner_reference_removed_still_reconciles_the_former_owner() -> None:
    calls = Calls()
    controller = Controller(for_=Web, reconciler=recording(calls)).owns(ConfigMap)
    owner = web("owner")
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", owner)
        await calls.wait_for(lambda c: len(c) == 1)
        meta = ObjectMeta(name="cm", namespace="default", owner_references=[owned_by(owner)])
        old = ConfigMap(metadata=meta)
        new = ConfigMap(metadata=ObjectMeta(name="cm", namespace="default"))
        cache.informers[ConfigMap].emit("MODIFIED", new, old)
        await calls.wait_for(lambda c: len(c) == 2)
    assert calls.items[1][0] == ObjectRef("default", "owner")


def _by_label(cm: ConfigMap) -> list[ObjectRef]:
    """The Web a ConfigMap's ``web`` label names."""
    target = (cm.metadata.labels or {}).get("web")
    return [ObjectRef(cm.metadata.namespace, target)] if target else []


async def test_watches_maps_other_kinds_through_the_mapper() -> None:
    calls = Calls()

    controller = Controller(for_=Web, reconciler=recording(calls)).watches(ConfigMap, _by_label)
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", web("target"))
        await calls.wait_for(lambda c: len(c) == 1)
        labelled = ObjectMeta(name="x", namespace="default", labels={"web": "target"})
        cache.informers[ConfigMap].emit("ADDED", ConfigMap(metadata=labelled))
        cache.informers[ConfigMap].emit("ADDED", ConfigMap(metadata=ObjectMeta(name="y")))
        await calls.wait_for(lambda c: len(c) == 2)
    assert calls.items[1][1][0].source == "watches"


async def test_predicates_filter_primary_events() -> None:
    calls = Calls()
    controller = Controller(for_=Web, reconciler=recording(calls), predicates=[generation_changed])
    async with running(controller) as cache:
        informer = cache.informers[Web]
        informer.emit("ADDED", web("a", generation=1))
        await calls.wait_for(lambda c: len(c) == 1)
        informer.emit("MODIFIED", web("a", generation=1, labels={"status": "only"}))
        informer.emit("MODIFIED", web("a", generation=2))
        await calls.wait_for(lambda c: len(c) == 2)
    assert [r.event for r in calls.items[1][1]] == ["MODIFIED"]
    assert calls.items[1][2].metadata.generation == 2


async def test_errors_are_retried_with_growing_backoff() -> None:
    times = Calls()

    async def failing(ctx: Context, obj: Web) -> None:
        times.record((time.monotonic(), ctx.retries, [r.source for r in ctx.reasons]))
        raise RuntimeError("boom")

    limiter = ExponentialBackoffRateLimiter(0.02, 10.0)
    controller = Controller(for_=Web, reconciler=failing, rate_limiter=limiter)
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", web("a"))
        await times.wait_for(lambda c: len(c) == 4)
    stamps = [t for t, _, _ in times.items]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    for gap, expected in zip(gaps, (0.02, 0.04, 0.08), strict=True):
        assert gap >= expected - 0.001, gaps  # a timer may fire a hair early
    assert [retries for _, retries, _ in times.items] == [0, 1, 2, 3]
    assert times.items[1][2] == ["retry"]


async def test_exception_is_logged_with_the_key_and_the_controller_keeps_working(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = Calls()

    async def reconcile(ctx: Context, obj: Web) -> None:
        if obj.metadata.name == "bad":
            raise ValueError("user bug")
        calls.record(ctx.ref)

    controller = Controller(for_=Web, reconciler=reconcile, name="webs")
    with caplog.at_level(logging.ERROR, logger="opframe"):
        async with running(controller) as cache:
            cache.informers[Web].emit("ADDED", web("bad"))
            cache.informers[Web].emit("ADDED", web("good"))
            await calls.wait_for(lambda c: ObjectRef("default", "good") in c)
    failures = [r for r in caplog.records if "reconcile failed" in r.getMessage()]
    assert failures
    record = failures[0]
    assert "webs default/bad" in record.getMessage()
    assert (record.controller, record.namespace, record.object_name) == ("webs", "default", "bad")  # type: ignore[attr-defined]
    assert "ValueError: user bug" in record.getMessage()
    assert record.exc_info is None  # one line: the traceback goes to debug level


async def _fail_three_times(caplog: pytest.LogCaptureFixture, level: int) -> None:
    """Run a controller whose reconcile of ``a`` always fails, until it was retried twice,
    logging at ``level``."""
    calls = Calls()

    async def failing(ctx: Context, obj: Web) -> None:
        calls.record(ctx.retries)
        raise RuntimeError("still broken")

    limiter = ExponentialBackoffRateLimiter(0.001, 1.0)
    controller = Controller(for_=Web, reconciler=failing, rate_limiter=limiter)
    with caplog.at_level(level, logger="opframe"):
        async with running(controller) as cache:
            cache.informers[Web].emit("ADDED", web("a"))
            await calls.wait_for(lambda c: len(c) >= 3)


async def test_each_retry_logs_one_line_with_its_attempt_and_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _fail_three_times(caplog, logging.ERROR)
    lines = [r.getMessage() for r in caplog.records if "reconcile failed" in r.getMessage()]
    assert "attempt 1, retrying in 0.001s" in lines[0]
    assert "attempt 2, retrying in 0.002s" in lines[1]
    assert all("\n" not in line for line in lines)


async def test_the_traceback_is_logged_once_at_debug_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _fail_three_times(caplog, logging.DEBUG)
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1 and tracebacks[0].levelno == logging.DEBUG


async def test_terminal_error_is_not_retried() -> None:
    calls = Calls()

    async def reconcile(ctx: Context, obj: Web) -> None:
        calls.record(obj.metadata.name)
        if obj.metadata.name == "bad":
            raise TerminalError("spec can never work")

    metrics = Metrics()
    controller = Controller(for_=Web, reconciler=reconcile, name="webs")
    async with running(controller, metrics=metrics) as cache:
        cache.informers[Web].emit("ADDED", web("bad"))
        await calls.wait_for(lambda c: c == ["bad"])
        # A later key is reconciled after the failed one; "bad" was not put back meanwhile.
        cache.informers[Web].emit("ADDED", web("next"))
        await calls.wait_for(lambda c: "next" in c)
        assert cache.running.queue.delayed == 0
        assert cache.running.queue.num_requeues(ObjectRef("default", "bad")) == 0
    assert calls.items == ["bad", "next"]
    sample = metrics.registry.get_sample_value
    assert sample("controller_runtime_terminal_reconcile_errors_total", {"controller": "webs"}) == 1


async def test_terminal_error_becomes_a_warning_event_on_the_object() -> None:
    calls = Calls()

    async def reconcile(ctx: Context, obj: Web) -> None:
        calls.record(obj.metadata.name)
        raise TerminalError("spec.size must be odd")

    controller = Controller(for_=Web, reconciler=reconcile)
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", web("bad"))
        await calls.wait_for(lambda c: c == ["bad"])
        async with asyncio.timeout(5):
            await cache.recorder.recorded.wait()
    assert cache.recorder.events == [("Warning", "bad", "ReconcileError", "spec.size must be odd")]


async def test_requeue_after_is_a_reason_only_once_its_timer_fires() -> None:
    calls = Calls()

    async def reconcile(ctx: Context, obj: Web) -> Result:
        calls.record([str(r) for r in ctx.reasons])
        return Result(requeue_after=30)

    controller = Controller(for_=Web, reconciler=reconcile)
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", web("a"))
        await calls.wait_for(lambda c: len(c) == 1)
        # An event before the 30 s timer fires: its reconcile must not claim the requeue.
        cache.informers[Web].emit("MODIFIED", web("a", generation=2))
        await calls.wait_for(lambda c: len(c) == 2)
    assert calls.items[1] == ["MODIFIED Web default/a (for)"]


async def test_an_event_triggered_failure_keeps_the_pending_retry_and_its_attempt_count() -> None:
    """JOSDK 5.4: events do not inflate a failing key's backoff (its retry deadline holds)."""
    calls = Calls()

    async def failing(ctx: Context, obj: Web) -> None:
        calls.record((ctx.retries, [r.source for r in ctx.reasons]))
        raise RuntimeError("broken")

    limiter = ExponentialBackoffRateLimiter(0.3, 10.0)
    controller = Controller(for_=Web, reconciler=failing, rate_limiter=limiter)
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", web("a"))
        await calls.wait_for(lambda c: len(c) == 1)
        loop = asyncio.get_running_loop()
        scheduled_at = loop.time()
        for generation in (2, 3, 4):  # three events while the retry waits
            cache.informers[Web].emit("MODIFIED", web("a", generation=generation))
            await calls.wait_for(lambda c, n=generation: len(c) == n)
        await calls.wait_for(lambda c: len(c) == 5)
        fired_after = loop.time() - scheduled_at
    # The scheduled retry came on its first deadline (0.3 s), as attempt 1, not 4.
    assert calls.items[4] == (1, [ReasonSource.RETRY])
    assert fired_after < 0.3 * 2
    assert limiter.num_requeues(ObjectRef("default", "a")) == 2


async def test_requeue_after_reconciles_again_after_the_delay() -> None:
    calls = Calls()

    async def reconcile(ctx: Context, obj: Web) -> Result:
        calls.record((time.monotonic(), [r.source for r in ctx.reasons]))
        return Result(requeue_after=0.05)

    controller = Controller(for_=Web, reconciler=reconcile)
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", web("a"))
        await calls.wait_for(lambda c: len(c) == 2)
    (first, _), (second, reasons) = calls.items[:2]
    assert second - first >= 0.05 - 0.001  # a timer may fire a hair early
    assert reasons == ["requeue_after"]


async def test_object_gone_from_cache_calls_on_deleted_instead_of_reconcile() -> None:
    calls = Calls()

    class Reconciler:
        async def reconcile(self, ctx: Context, obj: Web) -> None:
            calls.record(("reconcile", ctx.ref))

        async def on_deleted(self, ctx: Context) -> None:
            calls.record(("deleted", ctx.ref))

    controller = Controller(for_=Web, reconciler=Reconciler())
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", web("a"))
        await calls.wait_for(lambda c: len(c) == 1)
        cache.informers[Web].emit("DELETED", web("a"))
        await calls.wait_for(lambda c: len(c) == 2)
    assert calls.items == [
        ("reconcile", ObjectRef("default", "a")),
        ("deleted", ObjectRef("default", "a")),
    ]


async def test_object_gone_without_on_deleted_is_skipped() -> None:
    calls = Calls()
    controller = Controller(for_=Web, reconciler=recording(calls))
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", web("a"))
        cache.informers[Web].emit("DELETED", web("a"))
        cache.informers[Web].emit("ADDED", web("b"))
        await calls.wait_for(lambda c: len(c) == 1)
    assert [request for request, _, _ in calls.items] == [ObjectRef("default", "b")]


async def test_no_two_concurrent_reconciles_of_one_key_under_load() -> None:
    in_flight: set[ObjectRef] = set()
    overlaps: list[ObjectRef] = []
    calls = Calls()

    async def reconcile(ctx: Context, obj: Web) -> None:
        if ctx.ref in in_flight:
            overlaps.append(ctx.ref)
        in_flight.add(ctx.ref)
        await asyncio.sleep(0)  # let other workers run while this key is in flight
        await asyncio.sleep(0)
        in_flight.discard(ctx.ref)
        calls.record(ctx.ref)

    controller = Controller(for_=Web, reconciler=reconcile, max_concurrent_reconciles=16)
    async with running(controller) as cache:
        informer = cache.informers[Web]
        for generation in range(1, 60):
            for name in ("a", "b", "c", "d"):
                informer.emit("MODIFIED", web(name, generation=generation))
            await asyncio.sleep(0)  # interleave events with running reconciles
        await calls.wait_for(
            lambda c: len(cache.running.queue) == 0 and not cache.running.queue.processing
        )
    assert overlaps == []
    assert len(calls.items) > 4  # keys were re-added while in flight and processed again


async def test_shutdown_lets_in_flight_reconciles_finish() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def reconcile(ctx: Context, obj: Web) -> None:
        started.set()
        await release.wait()
        finished.append(ctx.ref.name)

    controller = Controller(for_=Web, reconciler=reconcile)
    cache = make_running(controller)
    cache.informers[Web].emit("ADDED", web("a"))
    cache.informers[Web].emit("ADDED", web("b"))
    async with asyncio.timeout(5):
        run = asyncio.create_task(
            cache.running.run(client=None, recorder=cache.recorder)  # type: ignore[arg-type]
        )
        await started.wait()
        cache.running.shutdown()
        assert not run.done()
        release.set()
        await run
    assert finished == ["a"]  # in flight finished; "b" was never started


async def test_reconcile_timeout_cancels_and_retries() -> None:
    calls = Calls()

    async def reconcile(ctx: Context, obj: Web) -> None:
        calls.record(ctx.retries)
        if ctx.retries == 0:
            await asyncio.Event().wait()  # hangs until the timeout cancels it

    limiter = ExponentialBackoffRateLimiter(0.001, 1.0)
    controller = Controller(
        for_=Web, reconciler=reconcile, reconcile_timeout=0.05, rate_limiter=limiter, name="webs"
    )
    metrics = Metrics()
    async with running(controller, metrics=metrics) as cache:
        cache.informers[Web].emit("ADDED", web("a"))
        await calls.wait_for(lambda c: c == [0, 1])
    timeouts = "controller_runtime_reconcile_timeouts_total"
    assert metrics.registry.get_sample_value(timeouts, {"controller": "webs"}) == 1


async def test_reconcile_metrics_are_counted_per_result() -> None:
    calls = Calls()

    async def reconcile(ctx: Context, obj: Web) -> Result | None:
        calls.record(obj.metadata.name)
        if obj.metadata.name == "bad" and ctx.retries == 0:
            raise RuntimeError("once")
        return Result(requeue_after=60) if obj.metadata.name == "later" else None

    metrics = Metrics()
    limiter = ExponentialBackoffRateLimiter(0.001, 1.0)
    controller = Controller(for_=Web, reconciler=reconcile, name="webs", rate_limiter=limiter)
    async with running(controller, metrics=metrics) as cache:
        for name in ("ok", "bad", "later"):
            cache.informers[Web].emit("ADDED", web(name))
        await calls.wait_for(lambda c: len(c) == 4)
    sample = metrics.registry.get_sample_value
    total = "controller_runtime_reconcile_total"
    assert sample(total, {"controller": "webs", "result": "success"}) == 2
    assert sample(total, {"controller": "webs", "result": "error"}) == 1
    assert sample(total, {"controller": "webs", "result": "requeue_after"}) == 1
    assert sample("controller_runtime_reconcile_errors_total", {"controller": "webs"}) == 1
    queue_labels = {"name": "webs", "controller": "webs"}
    assert sample("workqueue_adds_total", queue_labels) == 4
    assert sample("workqueue_retries_total", queue_labels) == 1
    assert sample("controller_runtime_max_concurrent_reconciles", {"controller": "webs"}) == 1


def test_controller_name_defaults_to_the_kind_in_lower_case() -> None:
    async def reconcile(ctx: Context, obj: Web) -> None:
        return None

    assert Controller(for_=Web, reconciler=reconcile).name == "web"


def test_a_sync_reconciler_is_refused_when_the_controller_is_built() -> None:
    def reconcile(ctx: Context, obj: Web) -> None:
        return None

    with pytest.raises(TypeError, match="is not async"):
        Controller(for_=Web, reconciler=reconcile)


def test_owns_returns_a_new_description_and_leaves_the_old_one() -> None:
    base = Controller(for_=Web, reconciler=recording(Calls()))
    grown = base.owns(ConfigMap)
    assert [s.kind for s in base.sources] == [Web]
    assert [s.kind for s in grown.sources] == [Web, ConfigMap]
    assert [s.role for s in grown.sources] == [ReasonSource.FOR, ReasonSource.OWNS]


def test_one_description_runs_in_two_places_with_their_own_queues() -> None:
    description = Controller(for_=Web, reconciler=recording(Calls()))
    first, second = make_running(description), make_running(description)
    first.running.enqueue(ObjectRef("default", "a"))
    assert len(first.running.queue) == 1 and len(second.running.queue) == 0


def test_manager_namespace_narrows_namespaced_kinds_only() -> None:
    from opframe.kinds import Namespace

    async def reconcile(ctx: Context, obj: Any) -> None:
        return None

    controller = Controller(for_=Namespace, reconciler=reconcile).owns(ConfigMap)
    cache = make_running(controller, namespace="team-a")
    namespaces = {model: options["namespace"] for model, options in cache.requests}
    assert namespaces == {Namespace: None, ConfigMap: "team-a"}


async def test_enqueue_triggers_a_reconcile_with_its_reason() -> None:
    calls = Calls()
    controller = Controller(for_=Web, reconciler=recording(calls))
    async with running(controller) as cache:
        cache.informers[Web].store.objects[("default", "a")] = web("a")
        cache.running.enqueue(ObjectRef("default", "a"), Reason(ReasonSource.MANUAL))
        await calls.wait_for(lambda c: len(c) == 1)
    assert [str(r) for r in calls.items[0][1]] == ["manual"]


def not_found(name: str, kind: str) -> NotFound:
    body = {"kind": "Status", "reason": "NotFound", "details": {"name": name, "kind": kind}}
    return NotFound(404, "NotFound", f'{kind} "{name}" not found', body=body)


async def test_not_found_for_the_object_itself_is_not_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = Calls()

    async def reconcile(ctx: Context, obj: Web) -> None:
        calls.record(ctx.ref.name)
        if ctx.retries == 0:
            raise not_found(ctx.ref.name, "webs" if ctx.ref.name == "a" else "configmaps")

    limiter = ExponentialBackoffRateLimiter(0.001, 1.0)
    controller = Controller(for_=Web, reconciler=reconcile, rate_limiter=limiter)
    with caplog.at_level(logging.INFO, logger="opframe"):
        async with running(controller) as cache:
            cache.informers[Web].emit("ADDED", web("a"))
            cache.informers[Web].emit("ADDED", web("b"))
            await calls.wait_for(lambda c: c.count("a") == 2 and c.count("b") == 2)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.object_name for r in errors] == ["b"]  # type: ignore[attr-defined]
    deleted = [r for r in caplog.records if "deleted during the reconcile" in r.getMessage()]
    assert [r.object_name for r in deleted] == ["a"]  # type: ignore[attr-defined]


async def test_active_workers_counts_reconciles_in_flight() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def reconcile(ctx: Context, obj: Web) -> None:
        started.set()
        await release.wait()

    metrics = Metrics()
    controller = Controller(for_=Web, reconciler=reconcile, name="webs")
    labels = {"controller": "webs"}
    async with running(controller, metrics=metrics) as cache:
        cache.informers[Web].emit("ADDED", web("a"))
        await started.wait()
        assert metrics.registry.get_sample_value("controller_runtime_active_workers", labels) == 1
        release.set()
    assert metrics.registry.get_sample_value("controller_runtime_active_workers", labels) == 0


async def test_a_timeout_inside_the_reconciler_is_an_ordinary_error() -> None:
    calls = Calls()

    async def reconcile(ctx: Context, obj: Web) -> None:
        calls.record(ctx.retries)
        if ctx.retries == 0:
            raise TimeoutError("the external service did not answer")

    metrics = Metrics()
    limiter = ExponentialBackoffRateLimiter(0.001, 1.0)
    controller = Controller(
        for_=Web, reconciler=reconcile, reconcile_timeout=5, rate_limiter=limiter, name="webs"
    )
    async with running(controller, metrics=metrics) as cache:
        cache.informers[Web].emit("ADDED", web("a"))
        await calls.wait_for(lambda c: c == [0, 1])
    sample = metrics.registry.get_sample_value
    assert sample("controller_runtime_reconcile_timeouts_total", {"controller": "webs"}) == 0
    assert sample("controller_runtime_reconcile_errors_total", {"controller": "webs"}) == 1


async def test_a_watches_mapper_sees_old_and_new_so_a_removed_reference_still_triggers() -> None:
    """controller-runtime ``pkg/handler/enqueue_mapped.go`` maps both objects of an update."""
    calls = Calls()

    controller = Controller(for_=Web, reconciler=recording(calls)).watches(ConfigMap, _by_label)
    async with running(controller) as cache:
        cache.informers[Web].store.objects[("default", "before")] = web("before")
        cache.informers[Web].store.objects[("default", "after")] = web("after")
        meta = {"name": "x", "namespace": "default"}
        old = ConfigMap(metadata=ObjectMeta(**meta, labels={"web": "before"}))
        new = ConfigMap(metadata=ObjectMeta(**meta, labels={"web": "after"}))
        cache.informers[ConfigMap].emit("MODIFIED", new, old)
        await calls.wait_for(lambda c: len(c) == 2)
    assert {ref for ref, _, _ in calls.items} == {
        ObjectRef("default", "before"),
        ObjectRef("default", "after"),
    }


async def test_a_403_becomes_a_warning_event_naming_the_verb_resource_and_namespace() -> None:
    """A reconcile refused by RBAC is retried and reported on the object in words a user can
    act on (the API server's wording: responsewriters/errors.go forbiddenMessage)."""
    calls = Calls()

    async def reconcile(ctx: Context, obj: Web) -> None:
        calls.record(obj.metadata.name)
        raise Forbidden(
            403, "Forbidden",
            'secrets is forbidden: User "system:serviceaccount:ops:web" cannot create '
            'resource "secrets" in API group "" in the namespace "default"',
        )  # fmt: skip

    controller = Controller(for_=Web, reconciler=reconcile)
    async with running(controller) as cache:
        cache.informers[Web].emit("ADDED", web("a"))
        await calls.wait_for(lambda c: len(c) >= 2)  # retried, the worker still running
        async with asyncio.timeout(5):
            await cache.recorder.recorded.wait()
    kind, name, reason, message = cache.recorder.events[0]
    assert (kind, name, reason) == ("Warning", "a", "Forbidden")
    assert message == (
        'Forbidden: cannot create secrets in namespace "default": add the verb to the '
        "operator's Role or ClusterRole (Controller.permits, then opframe rbac generate)"
    )
