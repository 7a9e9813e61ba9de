"""pytest wiring for the etcd operator's tests (the harness itself is in ``etcd_e2e.py``)."""

from __future__ import annotations

import pytest
from etcd_e2e import _kubelet_own_dns_names, etcd_env, etcd_reconciler

__all__ = ["_kubelet_own_dns_names", "etcd_env", "etcd_reconciler"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end on LocalCluster with real etcd")
