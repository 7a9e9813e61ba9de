"""Fixtures shared by the API server tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.apiserver._webhook_server import WebhookServer


@pytest_asyncio.fixture
async def hooks(tmp_path: Path) -> AsyncIterator[WebhookServer]:
    """A started HTTPS webhook server (:class:`WebhookServer`) with a CA of its own."""
    async with WebhookServer(tmp_path) as server:
        yield server
