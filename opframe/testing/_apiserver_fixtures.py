"""pytest fixtures for the embedded API server (see opframe.testing.plugin).

``api_server`` starts an :class:`~opframe.testing.apiserver.ApiServer` (HTTPS, generated CA and
token, state in a temporary directory) for one test and stops it afterwards::

    async def test_configmaps(api_server):
        config = api_server.kubeconfig      # point any client at it

The server enforces RBAC (its token is a ``system:masters`` user, so it may do anything);
a test that wants the old allow-all server overrides ``api_server_authorization``::

    @pytest.mark.parametrize("api_server_authorization", ["AlwaysAllow"])
    async def test_anything_goes(api_server): ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from opframe.testing.apiserver import ApiServer

__all__ = ["api_server", "api_server_authorization", "api_server_http"]


@pytest.fixture
def api_server_authorization() -> str:
    """The authorization mode of ``api_server``/``api_server_http``: ``"RBAC"`` or
    ``"AlwaysAllow"`` (override it, or parametrize it, to change it)."""
    return "RBAC"


@pytest_asyncio.fixture
async def api_server(api_server_authorization: str) -> AsyncIterator[ApiServer]:
    """A running embedded API server over HTTPS, private to the test."""
    async with ApiServer(authorization=api_server_authorization) as server:
        yield server


@pytest_asyncio.fixture
async def api_server_http(api_server_authorization: str) -> AsyncIterator[ApiServer]:
    """A running embedded API server over plain HTTP (no TLS handshake per connection)."""
    async with ApiServer(tls=False, authorization=api_server_authorization) as server:
        yield server
