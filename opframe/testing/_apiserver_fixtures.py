"""pytest fixtures for the embedded API server (see opframe.testing.plugin).

``api_server`` starts an :class:`~opframe.testing.apiserver.ApiServer` (HTTPS, generated CA and
token, state in a temporary directory) for one test and stops it afterwards::

    async def test_configmaps(api_server):
        config = api_server.kubeconfig      # point any client at it
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from opframe.testing.apiserver import ApiServer

__all__ = ["api_server", "api_server_http"]


@pytest_asyncio.fixture
async def api_server() -> AsyncIterator[ApiServer]:
    """A running embedded API server over HTTPS, private to the test."""
    async with ApiServer() as server:
        yield server


@pytest_asyncio.fixture
async def api_server_http() -> AsyncIterator[ApiServer]:
    """A running embedded API server over plain HTTP (no TLS handshake per connection)."""
    async with ApiServer(tls=False) as server:
        yield server
