"""Label selectors evaluated client-side, for reads from the informer cache.

Accepts the string syntax of ``kubectl -l`` and the API (``a=b,c!=d,e in (x,y),f notin (z),g,!h``)
or a mapping of required labels (``matchLabels``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opframe.kinds import LabelSelector

__all__ = [
    "LabelMatcher",
    "label_selector_matches",
    "parse_selector",
    "selector_params",
    "selector_string",
]

LabelMatcher = Callable[[Mapping[str, str]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([^\s!=<>(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_CMP_RE = re.compile(r"^\s*([^\s!=<>(),]+)\s*(==|=|!=|>|<)\s*([^\s!=<>(),]*)\s*$")


def _split(selector: str) -> list[str]:
    # Commas inside "in (a,b)" do not separate requirements.
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> LabelMatcher:
    if m := _CMP_RE.match(text):
        key, op, value = m.groups()
        if op in ("=", "=="):
            return lambda labels: labels.get(key) == value
        if op == "!=":
            return lambda labels: labels.get(key) != value
        number = int(value)
        if op == ">":
            return lambda labels: _int(labels.get(key)) > number
        return lambda labels: _int(labels.get(key)) < number
    if m := _SET_RE.match(text):
        negated, key, op, values = m.groups()
        if op is None:
            if negated:
                return lambda labels: key not in labels
            return lambda labels: key in labels
        if negated:
            raise ValueError(f"invalid label selector requirement {text.strip()!r}")
        allowed = frozenset(v.strip() for v in values.split(",") if v.strip())
        if op == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    raise ValueError(f"invalid label selector requirement {text.strip()!r}")


def _int(value: str | None) -> float:
    try:
        return int(value) if value is not None else float("nan")
    except ValueError:
        return float("nan")


@lru_cache(maxsize=256)
def _parse_string(selector: str) -> LabelMatcher:
    requirements = [_requirement(part) for part in _split(selector)]
    return lambda labels: all(req(labels) for req in requirements)


def parse_selector(selector: str | Mapping[str, str]) -> LabelMatcher:
    """Compile a label selector into a predicate over a labels mapping.

    >>> parse_selector("app=etcd,tier in (db,cache)")({"app": "etcd", "tier": "db"})
    True
    """
    if isinstance(selector, str):
        return _parse_string(selector)
    required = dict(selector)
    return lambda labels: all(labels.get(k) == v for k, v in required.items())


def selector_string(selector: str | Mapping[str, str] | None) -> str | None:
    """The query-string form of a selector: a mapping becomes ``k=v,...`` (keys sorted, so
    equal selectors compare equal); ``None`` or empty stays ``None``."""
    if selector is None:
        return None
    if isinstance(selector, str):
        return selector.strip() or None
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or None


def selector_params(
    label_selector: str | Mapping[str, str] | None,
    field_selector: str | Mapping[str, str] | None,
) -> dict[str, str]:
    """The ``labelSelector``/``fieldSelector`` query parameters of a list or watch request."""
    params: dict[str, str] = {}
    if (labels := selector_string(label_selector)) is not None:
        params["labelSelector"] = labels
    if (fields := selector_string(field_selector)) is not None:
        params["fieldSelector"] = fields
    return params


def label_selector_matches(
    selector: LabelSelector | Mapping[str, Any] | None, labels: Mapping[str, str]
) -> bool:
    """Whether ``labels`` match a ``metav1.LabelSelector`` (typed, or its JSON form).

    The rules of apimachinery's ``LabelSelectorAsSelector``
    (``staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go``): every ``matchLabels``
    pair and every ``matchExpressions`` requirement must hold (``In``, ``NotIn``, ``Exists``,
    ``DoesNotExist``; ``NotIn`` holds for a missing key); a missing selector (``None``) matches
    nothing, an empty one (``{}``) everything; an unknown operator matches nothing (where
    apimachinery answers an error)::

        label_selector_matches({"matchLabels": {"app": "web"}}, pod.metadata.labels or {})

    A controller that adopts objects should refuse an empty selector first, as the workload
    controllers do: it would select every object of the namespace.
    """
    if selector is None:
        return False
    raw: Mapping[str, Any] = selector if isinstance(selector, Mapping) else selector.to_dict()
    for key, value in (raw.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in raw.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In":
            ok = present and labels[key] in values
        elif op == "NotIn":
            ok = not present or labels[key] not in values
        elif op == "Exists":
            ok = present
        elif op == "DoesNotExist":
            ok = not present
        else:
            ok = False
        if not ok:
            return False
    return True
