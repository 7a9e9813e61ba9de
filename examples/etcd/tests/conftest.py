"""pytest wiring for the etcd operator's tests (the harness itself is in ``etcd_e2e.py``)."""

from __future__ import annotations

import pytest
from etcd_e2e import etcd_env, etcd_reconciler

__all__ = ["etcd_env", "etcd_reconciler"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end on LocalCluster with real etcd")
