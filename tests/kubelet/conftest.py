"""Shared pieces of the kubelet tests: a fast cluster, pod builders, waiting helpers."""

from __future__ import annotations

from _host_cluster import local_cluster_options, no_leaked_processes

__all__ = ["local_cluster_options", "no_leaked_processes"]
