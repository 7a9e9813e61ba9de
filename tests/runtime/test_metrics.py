"""Metrics use controller-runtime's names, live in a per-manager registry, and read at scrape."""

from __future__ import annotations

import logging

import pytest

from opframe._logging import logger_for
from opframe.metrics import Metrics
from opframe.queue import WorkQueue

CONTROLLER_RUNTIME_SERIES = [
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_terminal_reconcile_errors_total",
    "controller_runtime_reconcile_timeouts_total",
    "controller_runtime_reconcile_time_seconds",
    "controller_runtime_max_concurrent_reconciles",
    "controller_runtime_active_workers",
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_queue_duration_seconds",
    "workqueue_work_duration_seconds",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
    "workqueue_retries_total",
    "leader_election_master_status",
]


def test_rendered_metrics_carry_controller_runtime_names() -> None:
    metrics = Metrics()
    metrics.controller("web").observe("success", 0.01)
    metrics.controller("web").max_concurrent.set(1)
    metrics.controller("web").active_workers.set(0)
    metrics.queue("web").added()
    metrics.set_leader("web-operator", True)
    text = metrics.render().decode()
    for name in CONTROLLER_RUNTIME_SERIES:
        assert f"\n{name}" in text or text.startswith(name) or f"# TYPE {name}" in text, name
    assert 'controller_runtime_reconcile_total{controller="web",result="success"} 1.0' in text
    assert 'leader_election_master_status{name="web-operator"} 1.0' in text


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.controller("web").observe("error", 0.1)
    second.controller("web")  # registering the same names again does not collide
    labels = {"controller": "web"}
    assert first.registry.get_sample_value("controller_runtime_reconcile_errors_total", labels) == 1
    assert (
        second.registry.get_sample_value("controller_runtime_reconcile_errors_total", labels) == 0
    )


async def test_queue_metrics_follow_the_queue() -> None:
    metrics = Metrics()
    sink = metrics.queue("web")
    queue: WorkQueue[str] = WorkQueue(metrics=sink)
    sink.bind(queue)
    queue.add("a")
    queue.add("b")
    labels = {"name": "web", "controller": "web"}
    sample = metrics.registry.get_sample_value
    assert sample("workqueue_depth", labels) == 2
    assert sample("workqueue_adds_total", labels) == 2
    key = await queue.get()
    assert sample("workqueue_depth", labels) == 1
    assert sample("workqueue_queue_duration_seconds_count", labels) == 1
    assert sample("workqueue_longest_running_processor_seconds", labels) >= 0  # type: ignore[operator]
    queue.done(key)
    assert sample("workqueue_work_duration_seconds_count", labels) == 1
    assert sample("workqueue_longest_running_processor_seconds", labels) == 0


def test_context_logger_prefixes_and_attaches_the_context(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logger_for("controller", controller="web").bind(
        namespace="default", name="a", reconcile_id="42"
    )
    with caplog.at_level(logging.INFO, logger="opframe"):
        log.info("created %s", "cm")
    record = caplog.records[-1]
    assert record.getMessage() == "[web default/a #42] created cm"
    assert (record.controller, record.namespace, record.object_name) == ("web", "default", "a")  # type: ignore[attr-defined]
    assert record.reconcile_id == "42"  # type: ignore[attr-defined]
