"""pytest fixtures for the embedded API server (see opframe.testing.plugin).

- ``api_server``: an :class:`~opframe.testing.apiserver.ApiServer` (HTTPS, generated CA and
  token, state in a temporary directory) for one test; ``api_server_http`` without TLS.
- ``client``: an :class:`opframe.Client` connected to ``api_server``.
- ``install_crds``: ``await install_crds(Model, ...)`` installs the models' CRDs with
  ``client`` and waits until they are Established.
- ``run_operator``: ``await run_operator(manager)`` (or a factory, or ``"module:attr"``) runs
  the operator under test against ``api_server`` until the test ends, then stops it.
- ``api_server_authorization``: ``"RBAC"`` (the servers enforce RBAC; their token is a
  ``system:masters`` user, so it may do anything); override or parametrize it with
  ``"AlwaysAllow"`` for the old allow-all server:
  ``@pytest.mark.parametrize("api_server_authorization", ["AlwaysAllow"])``.

::

    async def test_greeting_publishes_its_message(client, install_crds, run_operator):
        await install_crds(Greeting)
        await run_operator("greeting:manager")
        await client.create(Greeting(metadata=ObjectMeta(name="hi", namespace="default"),
                                     spec=GreetingSpec(message="Hello")))
        cm = await eventually(lambda: client.get(ConfigMap, "hi", "default"))
        assert cm.data == {"message": "Hello"}
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import pytest
import pytest_asyncio

from opframe.client import Client
from opframe.crd import install_crds as _install_crds
from opframe.resource import Resource
from opframe.testing._operator import OperatorRunner
from opframe.testing.apiserver import ApiServer

__all__ = [
    "InstallCrds",
    "api_server",
    "api_server_authorization",
    "api_server_http",
    "client",
    "install_crds",
    "run_operator",
]


class InstallCrds(Protocol):
    """The ``install_crds`` fixture's type, for annotated tests."""

    async def __call__(
        self,
        *models: type[Resource],
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> list[str]:
        """Install the CRDs of ``models`` and wait until Established; return their names."""
        ...


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


@pytest_asyncio.fixture
async def client(api_server: ApiServer) -> AsyncIterator[Client]:
    """An :class:`opframe.Client` for ``api_server`` (closed after the test)."""
    async with await Client.default(kubeconfig=api_server.kubeconfig) as connected:
        yield connected


@pytest_asyncio.fixture
async def install_crds(client: Client) -> InstallCrds:
    """``await install_crds(Model, ...)``: install the CRDs, wait until Established.

    It is :func:`opframe.install_crds` bound to ``client``; returns the CRD names.
    """

    async def install(*models: type[Resource], timeout: float = 30.0) -> list[str]:  # noqa: ASYNC109
        return await _install_crds(client, *models, timeout=timeout)

    return install


@pytest_asyncio.fixture
async def run_operator(client: Client) -> AsyncIterator[OperatorRunner]:
    """Run managers against ``api_server``; all are stopped (and their errors raised) after."""
    runner = OperatorRunner(client)
    try:
        yield runner
    finally:
        await runner.stop_all()
