"""Shared pieces of the controller tests: a fast local cluster whose `busybox` runs host tools."""

from __future__ import annotations

from _host_cluster import local_cluster_options, no_leaked_processes

__all__ = ["local_cluster_options", "no_leaked_processes"]
