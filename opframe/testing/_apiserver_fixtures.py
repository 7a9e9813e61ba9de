"""pytest fixtures for the embedded API server (see opframe.testing.plugin).

``api_server`` starts an :class:`~opframe.testing.apiserver.ApiServer` (HTTPS, generated CA and
token, state in a temporary directory) for one test and stops it afterwards::

    async def test_configmaps(api_server):
        config = api_server.kubeconfig      # point any client at it
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from opframe.testing.apiserver import ApiServer

try:  # strict-mode projects need pytest-asyncio's decorator; auto mode accepts both
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - pytest-asyncio is how async tests run at all
    _async_fixture = pytest.fixture

__all__ = ["api_server", "api_server_http"]


@_async_fixture
async def api_server() -> AsyncIterator[ApiServer]:
    """A running embedded API server over HTTPS, private to the test."""
    async with ApiServer() as server:
        yield server


@_async_fixture
async def api_server_http() -> AsyncIterator[ApiServer]:
    """A running embedded API server over plain HTTP (no TLS handshake per connection)."""
    async with ApiServer(tls=False) as server:
        yield server
