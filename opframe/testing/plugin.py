"""pytest plugin of opframe: fixtures for the embedded control plane and operators under test.

Loaded automatically through the ``pytest11`` entry point when opframe is installed. The
fixtures live beside the pieces they start: the API server's (``api_server``, ``client``,
``install_crds``, ``run_operator``) in ``_apiserver_fixtures``, the whole local cluster's in
``_cluster_fixtures``.

The fixtures are async, run by pytest-asyncio. A project that did not choose an
``asyncio_mode`` gets ``auto`` (every ``async def test_...`` runs on an event loop, no marker
needed); a project that chose ``strict`` keeps it and marks its tests
``@pytest.mark.asyncio``.
"""

from __future__ import annotations

from typing import Any

import pytest

from opframe.testing._apiserver_fixtures import *  # noqa: F403
from opframe.testing._cluster_fixtures import *  # noqa: F403

_LOOP_SCOPE = "asyncio_default_fixture_loop_scope"


def _configured(config: pytest.Config, name: str) -> bool:
    """Whether the project's ini file (or ``-o``) sets ``name``."""
    if config.getoption(name, None) is not None:
        return True
    values: Any = getattr(config, "_inicfg", None)  # pytest 9; ``inicfg`` before it
    if values is None:
        values = getattr(config, "inicfg", {})
    return name in values


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Choose pytest-asyncio's ``auto`` mode unless the project chose a mode itself."""
    if not config.pluginmanager.hasplugin("asyncio"):
        raise pytest.UsageError(
            "opframe's pytest plugin needs pytest-asyncio: pip install 'opframe[testing]' "
            '(or pytest-asyncio), then set asyncio_mode = "auto" in [tool.pytest.ini_options]'
        )
    if not _configured(config, "asyncio_mode"):
        config.option.asyncio_mode = "auto"
    cache: Any = getattr(config, "_inicache", None)
    if not _configured(config, _LOOP_SCOPE) and isinstance(cache, dict):
        # Our fixtures live for one test; say so, instead of pytest-asyncio's warning that
        # the project did not choose.
        cache[_LOOP_SCOPE] = "function"
