"""Prometheus metrics with controller-runtime's names, so existing dashboards and alerts work.

Each :class:`Metrics` owns its own ``CollectorRegistry`` (one per manager): two managers in one
process, or two tests, never collide, and nothing is registered at import time::

    metrics = Metrics()
    queue = WorkQueue(metrics=metrics.queue("configmap"))
    print(metrics.render().decode())

Series (labels in braces):

- ``controller_runtime_reconcile_total{controller,result}`` with ``result`` one of
  ``success``, ``error``, ``requeue``, ``requeue_after``;
- ``controller_runtime_reconcile_errors_total{controller}``,
  ``controller_runtime_terminal_reconcile_errors_total{controller}`` (Python has no panics
  distinct from errors, so there is no ``reconcile_panics_total``),
  ``controller_runtime_reconcile_timeouts_total{controller}``;
- ``controller_runtime_reconcile_time_seconds{controller}`` (histogram),
  ``controller_runtime_max_concurrent_reconciles{controller}``,
  ``controller_runtime_active_workers{controller}``;
- ``workqueue_depth``, ``workqueue_adds_total``, ``workqueue_queue_duration_seconds``,
  ``workqueue_work_duration_seconds``, ``workqueue_unfinished_work_seconds``,
  ``workqueue_longest_running_processor_seconds``, ``workqueue_retries_total``, all
  ``{name,controller}``;
- ``leader_election_master_status{name}`` (1 while leading, else 0).
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

# controller-runtime's reconcile-time buckets (5 ms .. 60 s).
_RECONCILE_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8,
    0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30,
    40, 50, 60,
)  # fmt: skip
# client-go's workqueue buckets: exponential from 1 ns by 10, ten of them.
_QUEUE_BUCKETS = tuple(1e-9 * 10**i for i in range(10))


class _QueueLevels(Protocol):
    """What the queue gauges read at scrape time (a ``WorkQueue`` fits)."""

    def __len__(self) -> int: ...

    def unfinished_work_seconds(self) -> float: ...

    def longest_running_seconds(self) -> float: ...


class Metrics:
    """The metric families of one manager, registered in :attr:`registry`.

    Args:
        registry: where to register; a fresh ``CollectorRegistry`` by default.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        ctl = ["controller"]
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=r,
        )
        self.reconcile_errors_total = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            ctl,
            registry=r,
        )
        self.terminal_reconcile_errors_total = Counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            ctl,
            registry=r,
        )
        self.reconcile_timeouts_total = Counter(
            "controller_runtime_reconcile_timeouts_total",
            "Total number of reconciliation timeouts per controller",
            ctl,
            registry=r,
        )
        self.reconcile_time_seconds = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ctl,
            buckets=_RECONCILE_BUCKETS,
            registry=r,
        )
        self.max_concurrent_reconciles = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            ctl,
            registry=r,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            ctl,
            registry=r,
        )
        q = ["name", "controller"]
        self.workqueue_depth = Gauge("workqueue_depth", "Current depth of workqueue", q, registry=r)
        self.workqueue_adds_total = Counter(
            "workqueue_adds_total", "Total number of adds handled by workqueue", q, registry=r
        )
        self.workqueue_queue_duration_seconds = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            q,
            buckets=_QUEUE_BUCKETS,
            registry=r,
        )
        self.workqueue_work_duration_seconds = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes",
            q,
            buckets=_QUEUE_BUCKETS,
            registry=r,
        )
        self.workqueue_unfinished_work_seconds = Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been "
            "observed by work_duration. Large values indicate stuck threads.",
            q,
            registry=r,
        )
        self.workqueue_longest_running_processor_seconds = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            q,
            registry=r,
        )
        self.workqueue_retries_total = Counter(
            "workqueue_retries_total", "Total number of retries handled by workqueue", q, registry=r
        )
        self.leader_election_master_status = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates "
            "backup, 1 indicates master. 'name' is the string used to identify the lease.",
            ["name"],
            registry=r,
        )

    def queue(self, controller: str) -> PrometheusQueueMetrics:
        """A :class:`~opframe.queue.QueueMetricsSink` for the queue of ``controller``.

        Call :meth:`PrometheusQueueMetrics.bind` with the queue so the depth and in-flight
        gauges are read from it at scrape time (no polling task, no cost per add).
        """
        return PrometheusQueueMetrics(self, controller)

    def controller(self, controller: str) -> ControllerMetrics:
        """The reconcile counters of one controller."""
        return ControllerMetrics(self, controller)

    def set_leader(self, lease_name: str, leading: bool) -> None:
        """Set ``leader_election_master_status{name=lease_name}``."""
        self.leader_election_master_status.labels(name=lease_name).set(1 if leading else 0)

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)


class PrometheusQueueMetrics:
    """The ``workqueue_*`` series of one controller's queue (a ``QueueMetricsSink``)."""

    def __init__(self, metrics: Metrics, controller: str) -> None:
        labels = {"name": controller, "controller": controller}
        self._depth = metrics.workqueue_depth.labels(**labels)
        self._adds = metrics.workqueue_adds_total.labels(**labels)
        self._queue_duration = metrics.workqueue_queue_duration_seconds.labels(**labels)
        self._work_duration = metrics.workqueue_work_duration_seconds.labels(**labels)
        self._retries = metrics.workqueue_retries_total.labels(**labels)
        self._unfinished = metrics.workqueue_unfinished_work_seconds.labels(**labels)
        self._longest = metrics.workqueue_longest_running_processor_seconds.labels(**labels)

    def bind(self, queue: _QueueLevels) -> None:
        """Read ``workqueue_depth`` (keys ready to hand out) and the in-flight gauges from
        ``queue`` whenever the metrics are scraped."""
        self._depth.set_function(lambda: len(queue))
        self._unfinished.set_function(queue.unfinished_work_seconds)
        self._longest.set_function(queue.longest_running_seconds)

    def added(self) -> None:
        """Count one ``workqueue_adds_total``."""
        self._adds.inc()

    def taken(self, queued_seconds: float) -> None:
        """Observe ``workqueue_queue_duration_seconds``."""
        self._queue_duration.observe(queued_seconds)

    def done(self, work_seconds: float) -> None:
        """Observe ``workqueue_work_duration_seconds``."""
        self._work_duration.observe(work_seconds)

    def retried(self) -> None:
        """Count one ``workqueue_retries_total``."""
        self._retries.inc()


class ControllerMetrics:
    """The ``controller_runtime_*`` series of one controller."""

    def __init__(self, metrics: Metrics, controller: str) -> None:
        self.name = controller
        self._errors = metrics.reconcile_errors_total.labels(controller=controller)
        self._terminal = metrics.terminal_reconcile_errors_total.labels(controller=controller)
        self._timeouts = metrics.reconcile_timeouts_total.labels(controller=controller)
        self._time = metrics.reconcile_time_seconds.labels(controller=controller)
        self.active_workers = metrics.active_workers.labels(controller=controller)
        self.max_concurrent = metrics.max_concurrent_reconciles.labels(controller=controller)
        # Pre-create every result so the series exist (at 0) before the first reconcile.
        self._results = {
            result: metrics.reconcile_total.labels(controller=controller, result=result)
            for result in ("success", "error", "requeue", "requeue_after")
        }
        self._errors.inc(0)

    def observe(self, result: str, seconds: float) -> None:
        """Count one reconcile with ``result`` that took ``seconds``."""
        self._results[result].inc()
        self._time.observe(seconds)
        if result == "error":
            self._errors.inc()

    def terminal_error(self) -> None:
        """Count one terminal (not retried) error."""
        self._terminal.inc()

    def timeout(self) -> None:
        """Count one reconcile cancelled by ``reconcile_timeout``."""
        self._timeouts.inc()
