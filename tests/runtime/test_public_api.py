"""One import path per public name: what an SDK module declares public, ``opframe`` exports.

``opframe.kinds``, ``opframe.crd`` and ``opframe.webhook`` are public modules of many small names
(built-in kinds, schema markers, webhook wire types and options; the handler types most code
needs are exported by ``opframe`` too), ``opframe.certificates`` needs the optional
``cryptography`` package (so ``import opframe`` does not import it) and ``opframe.testing`` is
its own package; the rest is
reached as ``from opframe import X`` (httpx's rule: ``httpx/__init__.py`` re-exports every
public name).
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import opframe

OWN_NAMESPACES = {"kinds", "crd", "webhook", "certificates", "cli", "testing"}
MODULES = sorted(
    m.name
    for m in pkgutil.iter_modules(opframe.__path__)
    if not m.name.startswith("_") and m.name not in OWN_NAMESPACES
)


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_of_a_module_is_exported_by_opframe_as_the_same_object(
    module: str,
) -> None:
    mod = importlib.import_module(f"opframe.{module}")
    declared = getattr(mod, "__all__", None)
    assert declared is not None, f"opframe.{module} declares no __all__"
    for name in declared:
        assert name in opframe.__all__, f"opframe.{module}.{name} is not exported by opframe"
        assert getattr(opframe, name) is getattr(mod, name), name


def test_everything_opframe_exports_exists() -> None:
    for name in opframe.__all__:
        assert hasattr(opframe, name), name


@pytest.mark.parametrize("removed", ["Request", "WatchEvent", "registry", "ApiInfo"])
def test_retired_names_are_gone(removed: str) -> None:
    assert not hasattr(opframe, removed)
