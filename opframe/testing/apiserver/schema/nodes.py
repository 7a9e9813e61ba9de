"""A CRD schema compiled once into nodes that pruning, defaulting and validation walk.

Every custom resource write walks the schema several times (prune, default, validate, CEL), so
the raw ``openAPIV3Schema`` dict is turned once into :class:`Node` objects with the lookups
already done (property maps, ``additionalProperties``, extensions, parsed patterns, CEL
programs) and cached by identity of the schema dict.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MISSING", "Node", "compile_schema"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: Marks an absent value (distinct from JSON ``null``).
MISSING: Any = _Missing()


@dataclass(eq=False)
class Node:
    """One schema node. ``raw`` is the original dict; the rest is derived from it."""

    raw: dict[str, Any]
    types: tuple[str, ...] = ()
    format: str = ""
    nullable: bool = False
    default: Any = MISSING
    properties: dict[str, Node] = field(default_factory=dict)
    #: ``additionalProperties`` as a schema; ``None`` when absent, ``true`` or ``false``.
    additional: Node | None = None
    additional_allows: bool = True
    additional_present: bool = False
    items: Node | None = None
    preserve_unknown: bool = False
    embedded: bool = False
    int_or_string: bool = False
    required: tuple[str, ...] = ()
    enum: list[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    multiple_of: float | None = None
    max_length: int | None = None
    min_length: int | None = None
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""
    max_items: int | None = None
    min_items: int | None = None
    max_properties: int | None = None
    min_properties: int | None = None
    all_of: list[Node] = field(default_factory=list)
    any_of: list[Node] = field(default_factory=list)
    one_of: list[Node] = field(default_factory=list)
    not_: Node | None = None
    list_type: str = ""
    map_keys: tuple[str, ...] = ()
    map_type: str = ""
    rules: list[dict[str, Any]] = field(default_factory=list)
    #: Whether this node or anything below carries a default / a CEL rule / list invariants.
    has_defaults: bool = False
    has_rules: bool = False
    has_list_checks: bool = False
    has_embedded: bool = False
    #: Which value checks apply, so the validator skips the rest quickly.
    checks_string: bool = False
    checks_number: bool = False
    has_junctors: bool = False
    #: Compiled CEL programs, filled lazily by the CEL module.
    cel: Any = None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _go_regexp(pattern: str) -> re.Pattern[str] | None:
    # RE2 and Python agree on the patterns CRDs use; Python needs named groups as (?P<n>...)
    # and has no \z (RE2's end of text).
    translated = pattern.replace("(?<", "(?P<").replace("\\z", "\\Z")
    try:
        return re.compile(translated)
    except re.error:
        return None


_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def _build(raw: dict[str, Any]) -> Node:
    n = Node(raw=raw)
    typ = raw.get("type")
    n.int_or_string = bool(raw.get("x-kubernetes-int-or-string"))
    if n.int_or_string:
        n.types = ("integer", "string")
    elif isinstance(typ, str) and typ:
        n.types = (typ,)
    n.format = raw.get("format") or ""
    n.nullable = bool(raw.get("nullable"))
    if "default" in raw:
        n.default = raw["default"]
    props = raw.get("properties")
    if isinstance(props, dict):
        n.properties = {k: _build(v) for k, v in props.items() if isinstance(v, dict)}
    addl = raw.get("additionalProperties")
    if addl is not None:
        n.additional_present = True
        if isinstance(addl, dict):
            n.additional = _build(addl)
        else:
            n.additional_allows = bool(addl)
    items = raw.get("items")
    if isinstance(items, dict):
        n.items = _build(items)
    n.preserve_unknown = bool(raw.get("x-kubernetes-preserve-unknown-fields"))
    n.embedded = bool(raw.get("x-kubernetes-embedded-resource"))
    req = raw.get("required")
    if isinstance(req, list):
        n.required = tuple(str(r) for r in req)
    enum = raw.get("enum")
    if isinstance(enum, list):
        n.enum = enum
    n.minimum = _num(raw.get("minimum"))
    n.maximum = _num(raw.get("maximum"))
    n.exclusive_minimum = bool(raw.get("exclusiveMinimum"))
    n.exclusive_maximum = bool(raw.get("exclusiveMaximum"))
    n.multiple_of = _num(raw.get("multipleOf"))
    n.max_length = _int(raw.get("maxLength"))
    n.min_length = _int(raw.get("minLength"))
    pattern = raw.get("pattern")
    if isinstance(pattern, str) and pattern:
        n.pattern_text = pattern
        n.pattern = _go_regexp(pattern)
    n.max_items = _int(raw.get("maxItems"))
    n.min_items = _int(raw.get("minItems"))
    n.max_properties = _int(raw.get("maxProperties"))
    n.min_properties = _int(raw.get("minProperties"))
    for key, target in (("allOf", n.all_of), ("anyOf", n.any_of), ("oneOf", n.one_of)):
        subs = raw.get(key)
        if isinstance(subs, list):
            if key == "anyOf" and n.int_or_string and subs == _INT_OR_STRING:
                # The int-or-string pattern is already the type check.
                continue
            target.extend(_build(s) for s in subs if isinstance(s, dict))
    not_ = raw.get("not")
    if isinstance(not_, dict):
        n.not_ = _build(not_)
    n.list_type = raw.get("x-kubernetes-list-type") or ""
    keys = raw.get("x-kubernetes-list-map-keys")
    if isinstance(keys, list):
        n.map_keys = tuple(str(k) for k in keys)
    n.map_type = raw.get("x-kubernetes-map-type") or ""
    rules = raw.get("x-kubernetes-validations")
    if isinstance(rules, list):
        n.rules = [r for r in rules if isinstance(r, dict) and r.get("rule")]
    n.checks_string = bool(
        n.max_length is not None or n.min_length is not None or n.pattern_text or n.format
    )
    n.checks_number = n.minimum is not None or n.maximum is not None or n.multiple_of is not None
    n.has_junctors = bool(n.all_of or n.any_of or n.one_of or n.not_ is not None)
    children = [*n.properties.values(), n.additional, n.items]
    kids = [c for c in children if c is not None]
    n.has_defaults = any(c.default is not MISSING or c.has_defaults for c in kids)
    n.has_rules = bool(n.rules) or any(c.has_rules for c in kids)
    n.has_list_checks = n.list_type in ("set", "map") or any(c.has_list_checks for c in kids)
    n.has_embedded = n.embedded or any(c.has_embedded for c in kids)
    return n


_CACHE_SIZE = 512
_cache: OrderedDict[int, tuple[dict[str, Any], Node]] = OrderedDict()


def compile_schema(schema: dict[str, Any]) -> Node:
    """The compiled form of ``schema``, cached while the same dict object is in use.

    The cache holds a reference to the dict, so its ``id`` cannot be reused by another
    object while the entry exists; callers must not mutate a schema after first use.
    """
    key = id(schema)
    hit = _cache.get(key)
    if hit is not None and hit[0] is schema:
        _cache.move_to_end(key)
        return hit[1]
    node = _build(schema)
    _cache[key] = (schema, node)
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return node
