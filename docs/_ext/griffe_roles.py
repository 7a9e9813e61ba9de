"""Griffe extension: the Sphinx roles of opframe's docstrings become cross-references.

The code documents itself with reST roles (``:class:`~opframe.Manager```, ``:meth:`run```);
mkdocstrings renders Markdown, where a role would show as raw text. Each role is turned into
an *optional* autorefs link: a link where the target is documented in the reference, plain
code where it is not (so ``mkdocs build --strict`` does not fail on a name left out of the
reference pages).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from griffe import Extension

__all__ = ["SphinxRoles"]

_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|mod|attr|data|exc|obj|const):"
    r"`(?P<body>[^`]+)`"
)
_EXPLICIT = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^>]+)>$")


def _replace(match: re.Match[str], module: str) -> str:
    body = match["body"].strip()
    explicit = _EXPLICIT.match(body)
    if explicit:
        title, target = explicit["title"], explicit["target"]
    else:
        target = body.lstrip("~")
        title = target.rsplit(".", 1)[-1] if body.startswith("~") else target
    target = target.lstrip("~.")
    if not target.startswith(("opframe", "etcd_operator")):
        target = f"{module}.{target}"
    return f'<autoref identifier="{_canonical(target)}" optional><code>{title}</code></autoref>'


def _canonical(target: str) -> str:
    """Where ``target`` is defined: ``opframe.Manager`` -> ``opframe.manager.Manager``.

    The reference documents each name in its module; the code refers to the short path.
    """
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        rest = parts[cut:]
        for i, name in enumerate(rest):
            inner = getattr(obj, name, None)
            if inner is None:
                return target
            defined = getattr(inner, "__module__", None), getattr(inner, "__qualname__", None)
            if defined[0] and defined[1] and (isinstance(inner, type) or callable(inner)):
                obj = inner
                continue
            # An attribute (or data): the canonical path of its owner, then its name.
            owner = _path_of(obj)
            return ".".join([owner, *rest[i:]]) if owner else target
        return _path_of(obj) or target
    return target


def _path_of(obj: Any) -> str:
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module and qualname and "<" not in qualname:
        return f"{module}.{qualname}"
    return str(getattr(obj, "__name__", ""))


def convert(text: str, module: str) -> str:
    """``text`` with every Sphinx role replaced by an optional autoref."""
    return _ROLE.sub(lambda m: _replace(m, module), text)


class SphinxRoles(Extension):
    """Rewrite docstrings as they are loaded."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        """Convert the roles of ``obj``'s docstring."""
        docstring = getattr(obj, "docstring", None)
        if docstring is None or ":" not in docstring.value:
            return
        docstring.value = convert(docstring.value, obj.module.path)
