"""One walk over a value and its compiled schema, for the passes that share it.

:func:`walk` visits a value, then each child with the schema node that governs it: object
fields by ``properties`` (else ``additionalProperties``), array items by ``items``. A pass
names the subtrees it cares about (``enter``, e.g. ``lambda s: s.has_defaults``) and what it
does at each node (``visit``); ``visit`` may change the value in place before its children are
walked (defaulting fills them in, null-dropping removes them).

    walk(obj, node, lambda x, s, path: ..., enter=lambda s: s.has_list_checks)

Used by defaulting (null dropping and defaults) and by the list-set/map and embedded-resource
checks. Three walkers keep their own traversal because it differs in substance: OpenAPI
validation (``validation``: ``allOf``/``anyOf``/``oneOf``/``not`` validate one value against
several nodes, a type error stops the descent, ratcheting correlates old values), CEL
(``cel``: ``oldSelf`` follows map-list keys, unchanged subtrees are skipped, map entries come
before properties) and pruning (``pruning``: it walks the *data*, since fields the schema does
not know are the point, with metadata and embedded-resource rules).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opframe.testing.apiserver.schema.nodes import Node

__all__ = ["Visit", "walk"]

#: ``visit(value, node, path)``; the path is printed as field errors print it.
Visit = Callable[[Any, Node, str], None]


def _always(node: Node) -> bool:
    return True


def walk(
    x: Any, s: Node, visit: Visit, *, enter: Callable[[Node], bool] = _always, path: str = ""
) -> None:
    """Visit ``x`` under ``s``, then its children, pre-order, where ``enter`` allows."""
    if not enter(s):
        return
    visit(x, s, path)
    if isinstance(x, dict):
        for k, v in list(x.items()):
            sub = s.properties.get(k) or s.additional
            if sub is not None:
                walk(v, sub, visit, enter=enter, path=f"{path}.{k}" if path else k)
    elif isinstance(x, list) and s.items is not None:
        for i, v in enumerate(x):
            walk(v, s.items, visit, enter=enter, path=f"{path}[{i}]")
