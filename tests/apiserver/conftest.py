"""Fixtures shared by the API server tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio

from opframe.testing.apiserver import ApiServer
from tests.apiserver._webhook_server import WebhookServer


@pytest_asyncio.fixture
async def hooks(tmp_path: Path) -> AsyncIterator[WebhookServer]:
    """A started HTTPS webhook server (:class:`WebhookServer`) with a CA of its own."""
    async with WebhookServer(tmp_path) as server:
        yield server


@pytest_asyncio.fixture
async def admin_session(api_server_http: ApiServer) -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session that authenticates as the server's admin (its bearer token)."""
    headers = {"Authorization": f"Bearer {api_server_http.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        yield session
