"""``x-kubernetes-validations``: CEL rules on custom resources, evaluated with cel-python.

Rules are compiled once per schema node (parsing is the slow part) and evaluated with ``self``
bound to the node's value (``oldSelf`` to the correlated old value on update). Like the real
server, a transition rule (one that reads ``oldSelf``) is skipped when there is no old value,
values equal to their old value are not re-checked (ratcheting), and a failed rule reports
``Invalid value: "object": failed rule: <rule>`` (or its ``message`` / ``messageExpression``) on
the node's field path plus the rule's ``fieldPath``, with its ``reason``.

The environment adds the Kubernetes CEL library functions cheap to provide on top of the
standard ones: string ``lowerAscii``, ``upperAscii``, ``trim``, ``replace``, ``split``,
``substring``, ``charAt``, ``indexOf``, ``lastIndexOf``; list ``join``, ``isSorted``, ``sum``,
``min``, ``max``, ``indexOf``, ``lastIndexOf``; regex ``find``, ``findAll``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

from opframe.testing.apiserver import fielderrors as fe
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.schema.nodes import MISSING, Node
from opframe.testing.apiserver.schema.validation import correlate_map_items, same_json

__all__ = ["BLOCKED_RULES_MESSAGE", "CompiledRule", "cel_causes", "compile_error", "rules_of"]

# cel-python logs every evaluation step at DEBUG; keep it quiet unless asked for.
logging.getLogger("celpy").setLevel(logging.WARNING)
logging.getLogger("Evaluator").setLevel(logging.WARNING)

BLOCKED_RULES_MESSAGE = (
    "some validation rules were not checked because the object was invalid; correct the "
    "existing errors to complete validation"
)

_OLD_SELF = re.compile(r"\boldSelf\b")


def _lower_ascii(s: Any) -> Any:
    return celtypes.StringType("".join(c.lower() if c.isascii() else c for c in s))


def _upper_ascii(s: Any) -> Any:
    return celtypes.StringType("".join(c.upper() if c.isascii() else c for c in s))


def _trim(s: Any) -> Any:
    return celtypes.StringType(str(s).strip())


def _replace(s: Any, old: Any, new: Any, n: Any = None) -> Any:
    count = -1 if n is None else int(n)
    return celtypes.StringType(str(s).replace(str(old), str(new), count))


def _split(s: Any, sep: Any, n: Any = None) -> Any:
    limit = -1 if n is None else int(n)
    if limit == 0:
        return celtypes.ListType([])
    parts = str(s).split(str(sep), limit - 1 if limit > 0 else -1)
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _substring(s: Any, start: Any, end: Any = None) -> Any:
    text = str(s)
    stop = len(text) if end is None else int(end)
    if not 0 <= int(start) <= stop <= len(text):
        raise ValueError(f"index out of range: {start}")
    return celtypes.StringType(text[int(start) : stop])


def _char_at(s: Any, i: Any) -> Any:
    text = str(s)
    idx = int(i)
    if not 0 <= idx <= len(text):
        raise ValueError(f"index out of range: {idx}")
    return celtypes.StringType(text[idx : idx + 1])


def _index_of(x: Any, v: Any, start: Any = None) -> Any:
    if isinstance(x, list):
        for i, e in enumerate(x):
            if e == v:
                return celtypes.IntType(i)
        return celtypes.IntType(-1)
    return celtypes.IntType(str(x).find(str(v), 0 if start is None else int(start)))


def _last_index_of(x: Any, v: Any) -> Any:
    if isinstance(x, list):
        for i in range(len(x) - 1, -1, -1):
            if x[i] == v:
                return celtypes.IntType(i)
        return celtypes.IntType(-1)
    return celtypes.IntType(str(x).rfind(str(v)))


def _join(xs: Any, sep: Any = "") -> Any:
    return celtypes.StringType(str(sep).join(str(x) for x in xs))


def _is_sorted(xs: Any) -> Any:
    return celtypes.BoolType(all(xs[i] <= xs[i + 1] for i in range(len(xs) - 1)))


def _sum(xs: Any) -> Any:
    total: Any = celtypes.IntType(0)
    for i, x in enumerate(xs):
        total = x if i == 0 else total + x
    return total


def _min(xs: Any) -> Any:
    if not xs:
        raise ValueError("min called on empty list")
    return min(xs)


def _max(xs: Any) -> Any:
    if not xs:
        raise ValueError("max called on empty list")
    return max(xs)


def _find(s: Any, pattern: Any) -> Any:
    m = re.search(str(pattern), str(s))
    return celtypes.StringType(m.group(0) if m else "")


def _find_all(s: Any, pattern: Any, n: Any = None) -> Any:
    found = [m.group(0) for m in re.finditer(str(pattern), str(s))]
    if n is not None and int(n) >= 0:
        found = found[: int(n)]
    return celtypes.ListType([celtypes.StringType(f) for f in found])


_FUNCTIONS: dict[str, Any] = {
    "lowerAscii": _lower_ascii,
    "upperAscii": _upper_ascii,
    "trim": _trim,
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "charAt": _char_at,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "join": _join,
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _min,
    "max": _max,
    "find": _find,
    "findAll": _find_all,
}

_ENV = celpy.Environment()


@dataclass
class CompiledRule:
    """One ``x-kubernetes-validations`` entry with its programs."""

    rule: dict[str, Any]
    program: Any
    message_program: Any
    uses_old_self: bool


def compile_error(text: str) -> str | None:
    """Why a CEL expression does not compile, or ``None``."""
    try:
        _ENV.compile(text)
    except Exception as exc:  # cel-python raises its parser's own error types
        return f"compilation failed: {exc}"
    return None


def rules_of(node: Node) -> list[CompiledRule]:
    """The node's compiled rules (compiled on first use, then cached on the node)."""
    if node.cel is not None:
        compiled: list[CompiledRule] = node.cel
        return compiled
    out = []
    for rule in node.rules:
        text = str(rule.get("rule", ""))
        try:
            program = _ENV.program(_ENV.compile(text), functions=_FUNCTIONS)
        except Exception:  # a CRD that passed validation compiles; be safe anyway
            program = None
        msg_prog = None
        expr = rule.get("messageExpression")
        if expr:
            try:
                msg_prog = _ENV.program(_ENV.compile(str(expr)), functions=_FUNCTIONS)
            except Exception:
                msg_prog = None
        out.append(CompiledRule(rule, program, msg_prog, bool(_OLD_SELF.search(text))))
    node.cel = out
    return out


class _LazyMap(celtypes.MapType):
    """A CEL map whose values are converted from JSON when a rule first reads them.

    Rules usually read a few fields of a large object; converting only those keeps
    evaluation cost proportional to what the rule touches.
    """

    def __init__(self, raw: dict[str, Any], node: Node | None) -> None:
        dict.__init__(self, ((celtypes.StringType(k), v) for k, v in raw.items()))
        self._node = node
        self._converted: dict[Any, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        try:
            return self._converted[key]
        except KeyError:
            pass
        raw = dict.__getitem__(self, key)
        node = self._node
        child = None
        if node is not None:
            child = node.properties.get(key) or node.additional
        value = _to_cel(raw, child)
        self._converted[key] = value
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if key in self else default

    def values(self) -> Any:
        return [self[k] for k in self]

    def items(self) -> Any:
        return [(k, self[k]) for k in self]


def _to_cel(value: Any, node: Node | None) -> Any:
    """JSON to CEL values, with ``number`` fields as doubles even when written as integers."""
    if isinstance(value, dict):
        return _LazyMap(value, node)
    if isinstance(value, list):
        items = node.items if node is not None else None
        return celtypes.ListType([_to_cel(v, items) for v in value])
    if (
        node is not None
        and isinstance(value, int)
        and not isinstance(value, bool)
        and node.types == ("number",)
    ):
        return celtypes.DoubleType(float(value))
    return json_to_cel(value)


_FIELD_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")


def _with_field_path(path: str, field_path: str) -> str:
    for m in _FIELD_PATH_PART.finditer(field_path):
        if m.group(1) is not None:
            path = f"{path}.{m.group(1)}" if path else m.group(1)
        elif m.group(2) is not None:
            key = m.group(2)
            path = f"{path}.{key}" if path else key
        else:
            path = f"{path}[{m.group(3)}]"
    return path


class _Run:
    def __init__(self) -> None:
        self.out: list[Cause] = []

    def node(self, x: Any, s: Node, path: str, old: Any) -> None:
        if not s.has_rules:
            return
        if old is not MISSING and same_json(x, old):
            return
        if s.rules:
            self.rules(x, s, path, old)
        if isinstance(x, dict):
            olds = old if isinstance(old, dict) and s.map_type != "atomic" else {}
            if s.additional is not None:
                for k, v in x.items():
                    if k not in s.properties:
                        self.node(v, s.additional, f"{path}[{k}]", olds.get(k, MISSING))
            for k, v in x.items():
                prop = s.properties.get(k)
                if prop is not None:
                    self.node(v, prop, f"{path}.{k}" if path else k, olds.get(k, MISSING))
        elif isinstance(x, list) and s.items is not None:
            # oldSelf of a list item: only map lists correlate (sets do not, unlike ratcheting).
            old_items = correlate_map_items(x, s, old)
            for i, v in enumerate(x):
                self.node(v, s.items, f"{path}[{i}]", old_items[i])

    def rules(self, x: Any, s: Node, path: str, old: Any) -> None:
        activation: dict[str, Any] | None = None
        for cr in rules_of(s):
            if cr.uses_old_self and old is MISSING:
                continue
            if activation is None:
                activation = {"self": _to_cel(x, s)}
            if cr.uses_old_self and "oldSelf" not in activation:
                activation["oldSelf"] = _to_cel(old, s)
            self.evaluate(cr, activation, x, s, path)

    def evaluate(
        self, cr: CompiledRule, activation: dict[str, Any], x: Any, s: Node, path: str
    ) -> None:
        rule = cr.rule
        where = path
        if rule.get("fieldPath"):
            where = _with_field_path(path, str(rule["fieldPath"]))
        where = where or "<nil>"
        value = s.raw.get("type", "")
        if cr.program is None:
            return
        try:
            result = cr.program.evaluate(activation)
        except Exception as exc:  # CELEvalError and errors raised by extension functions
            self.out.append(fe.invalid(where, value, _eval_error(exc, rule)))
            return
        if result is True or (isinstance(result, celtypes.BoolType) and bool(result)):
            return
        detail = self.message(cr, activation)
        reason = rule.get("reason") or "FieldValueInvalid"
        if reason == "FieldValueForbidden":
            self.out.append(fe.forbidden(where, detail))
        elif reason == "FieldValueRequired":
            self.out.append(fe.required(where, detail))
        elif reason == "FieldValueDuplicate":
            self.out.append(fe.duplicate(where, value))
        else:
            self.out.append(fe.invalid(where, value, detail))

    @staticmethod
    def message(cr: CompiledRule, activation: dict[str, Any]) -> str:
        rule = cr.rule
        if cr.message_program is not None:
            try:
                text = cr.message_program.evaluate(activation)
            except Exception:  # the server falls back to the static message
                text = None
            if isinstance(text, str) and text.strip() and "\n" not in text:
                return str(text)
        if rule.get("message"):
            return str(rule["message"]).strip()
        return f"failed rule: {str(rule.get('rule', '')).strip()}"


_NO_SUCH_KEY = re.compile(r"no such member in mapping: '(.*)'")


def _eval_error(exc: Exception, rule: dict[str, Any]) -> str:
    """A runtime error worded as cel-go's (``no such key: x evaluating rule: ...``)."""
    args = getattr(exc, "args", ())
    text = str(args[0]) if args else str(exc)
    rule_text = str(rule.get("message") or rule.get("rule", "")).strip()
    if m := _NO_SUCH_KEY.search(text):
        text = f"no such key: {m.group(1)}"
    elif "no matching overload" in text or "no such overload" in text:
        return (
            "'no such overload': call arguments did not match a supported operator, function "
            f"or macro signature for rule: {rule_text}"
        )
    elif "ZeroDivisionError" in text or "division by zero" in text:
        text = "division by zero"
    return f"{text} evaluating rule: {rule_text}"


def cel_causes(obj: Any, node: Node, *, old: Any = MISSING, path: str = "") -> list[Cause]:
    """Causes from every ``x-kubernetes-validations`` rule under ``node`` for ``obj``."""
    if not node.has_rules:
        return []
    run = _Run()
    run.node(obj, node, path, old)
    return run.out
