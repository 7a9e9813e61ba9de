"""Label and field selectors, parsed and matched the way kube-apiserver does it.

``parse_label_selector("app in (web,db),!tier")`` returns a predicate over a label dict;
``parse_field_selector("metadata.name=x", fields)`` one over an object. Errors are
:class:`StatusError` 400 answers with the real server's wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from opframe.testing.apiserver.errors import StatusError, bad_request
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import storage_key

__all__ = [
    "FIELD_SELECTORS",
    "LabelPredicate",
    "ObjectPredicate",
    "field_value",
    "parse_field_selector",
    "parse_label_selector",
    "selection",
]

LabelPredicate = Callable[[Mapping[str, str]], bool]
ObjectPredicate = Callable[[dict[str, Any]], bool]

#: Extra field selectors per ``group/plural`` (beyond metadata.name and metadata.namespace).
FIELD_SELECTORS: dict[str, tuple[str, ...]] = {
    "/pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "/events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "/secrets": ("type",),
    "/namespaces": ("status.phase",),
    "/nodes": ("spec.unschedulable",),
    "/replicationcontrollers": ("status.replicas",),
    "apps/replicasets": ("status.replicas",),
    "batch/jobs": ("status.successful",),
    "certificates.k8s.io/certificatesigningrequests": ("spec.signerName",),
}

_SPECIAL = set(" \t\n!(),=<>")
_KEY_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _tokens(s: str) -> list[str]:
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in " \t\n":
            i += 1
        elif c in "(),":
            out.append(c)
            i += 1
        elif c in "=!<>":
            two = s[i : i + 2]
            if two in ("==", "!="):
                out.append(two)
                i += 2
            else:
                out.append(c)
                i += 1
        else:
            j = i
            while j < n and s[j] not in _SPECIAL:
                j += 1
            out.append(s[i:j])
            i = j
    return out


def _is_ident(tok: str | None) -> bool:
    return tok is not None and tok not in ("(", ")", ",", "=", "==", "!=", "!", "<", ">")


def _fail(msg: str) -> StatusError:
    return bad_request(f"unable to parse requirement: {msg}")


def _check_key(key: str) -> None:
    name = key
    if "/" in key:
        prefix, _, name = key.rpartition("/")
        if not prefix or len(prefix) > 253 or not _DNS1123_SUB.match(prefix):
            raise _fail(f'<nil>: Invalid value: "{key}": prefix part must be a DNS-1123 subdomain')
    if not name or len(name) > 63 or not _KEY_NAME.match(name):
        raise _fail(
            f'<nil>: Invalid value: "{key}": name part must consist of alphanumeric characters, '
            "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
            "'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )


def parse_label_selector(text: str) -> LabelPredicate:
    """Parse a label selector (``=``, ``==``, ``!=``, ``in``, ``notin``, exists, ``!``)."""
    toks = _tokens(text)
    reqs: list[LabelPredicate] = []
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    while pos < len(toks):
        tok = peek()
        if tok == "!":
            pos += 1
            key = peek()
            if not _is_ident(key):
                raise _fail(f"found '{key or ''}', expected: identifier")
            assert key is not None
            _check_key(key)
            pos += 1
            reqs.append(_requirement(key, "!", frozenset()))
        elif _is_ident(tok):
            assert tok is not None
            key = tok
            _check_key(key)
            pos += 1
            op = peek()
            if op is None or op == ",":
                reqs.append(_requirement(key, "exists", frozenset()))
            elif op in ("=", "==", "!="):
                pos += 1
                val = peek()
                if _is_ident(val):
                    pos += 1
                else:
                    val = ""
                assert val is not None
                if op == "!=":
                    reqs.append(_requirement(key, "notin", frozenset({val})))
                else:
                    reqs.append(_requirement(key, "in", frozenset({val})))
            elif op in ("in", "notin"):
                pos += 1
                if peek() != "(":
                    raise _fail(f"found '{peek() or ''}' expected: '('")
                pos += 1
                values: set[str] = set()
                while True:
                    t = peek()
                    if t == ")":
                        pos += 1
                        break
                    if t == ",":
                        pos += 1
                        continue
                    if not _is_ident(t):
                        raise _fail(f"found '{t or ''}', expected: ',', ')' or identifier")
                    assert t is not None
                    values.add(t)
                    pos += 1
                if op == "in":
                    reqs.append(_requirement(key, "in", frozenset(values)))
                else:
                    reqs.append(_requirement(key, "notin", frozenset(values)))
            elif op in ("<", ">"):
                pos += 1
                val = peek()
                try:
                    num = int(val or "")
                except ValueError:
                    raise _fail("for 'Gt', 'Lt' operators, the value must be an integer") from None
                pos += 1
                reqs.append(_compare(key, num, op == ">"))
            else:
                raise _fail(f"found '{op}', expected: '=', '!=', '==', 'in', notin'")
        else:
            raise _fail(f"found '{tok}', expected: !, identifier, or 'end of string'")
        nxt = peek()
        if nxt is None:
            break
        if nxt != ",":
            raise _fail(f"found '{nxt}', expected: ',' or 'end of string'")
        pos += 1
        if peek() is None:
            raise _fail("found '', expected: identifier after ','")

    if not reqs:
        return lambda labels: True
    if len(reqs) == 1:
        return reqs[0]
    return lambda labels: all(r(labels) for r in reqs)


def _requirement(key: str, op: str, values: frozenset[str]) -> LabelPredicate:
    """One label requirement: ``exists``, ``!`` (does not exist), ``in`` or ``notin``."""
    if op == "exists":
        return lambda labels: key in labels
    if op == "!":
        return lambda labels: key not in labels
    if op == "in":
        return lambda labels: labels.get(key) in values
    # notin and != also match objects without the label, as in Kubernetes.
    return lambda labels: labels.get(key) not in values


def _field_requirement(field: str, value: str, *, equal: bool) -> ObjectPredicate:
    if equal:
        return lambda obj: field_value(obj, field) == value
    return lambda obj: field_value(obj, field) != value


def _compare(key: str, num: int, greater: bool) -> LabelPredicate:
    def pred(labels: Mapping[str, str]) -> bool:
        try:
            v = int(labels[key])
        except (KeyError, ValueError):
            return False
        return v > num if greater else v < num

    return pred


def field_value(obj: dict[str, Any], path: str) -> str | None:
    """The string value of a field-selector path such as ``spec.nodeName``."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, dict) and path == "source":
        return str(cur.get("component", ""))
    return str(cur)


def _split_unescaped(s: str, sep: str) -> list[str]:
    parts, cur, esc = [], "", False
    for c in s:
        if esc:
            cur += c
            esc = False
        elif c == "\\":
            cur += c
            esc = True
        elif c == sep:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return parts


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def parse_field_selector(
    text: str, resource: str, selectable: tuple[str, ...] = ()
) -> ObjectPredicate:
    """Parse a field selector for ``resource`` (``group/plural``); unknown fields are a 400.

    ``selectable`` are a custom resource's ``selectableFields`` (``spec.color``).
    """
    extra = FIELD_SELECTORS.get(resource, ())
    reqs: list[ObjectPredicate] = []
    for part in _split_unescaped(text, ","):
        if not part.strip():
            continue
        m = re.match(r"^(.*?)(==|!=|=)(.*)$", part, re.S)
        if m is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.group(1).strip(), m.group(2), _unescape(m.group(3))
        if field in ("metadata.name", "metadata.namespace"):
            pass
        elif field in extra or field in selectable:
            pass
        elif extra:
            raise bad_request(f"field label not supported: {field}")
        else:
            known = ", ".join(
                f'"{f}"' for f in ("metadata.name", "metadata.namespace", *selectable)
            )
            raise bad_request(f'"{field}" is not a known field selector: only {known}')
        if op == "!=":
            reqs.append(_field_requirement(field, value, equal=False))
        else:
            reqs.append(_field_requirement(field, value, equal=True))
    if not reqs:
        return lambda o: True
    if len(reqs) == 1:
        return reqs[0]
    return lambda o: all(r(o) for r in reqs)


def selection(
    rt: ResourceType, label_selector: str, field_selector: str
) -> tuple[LabelPredicate | None, ObjectPredicate | None]:
    """The (label, field) predicates of a list or watch of ``rt``; ``None`` selects all."""
    labels = parse_label_selector(label_selector) if label_selector else None
    fields = None
    if field_selector:
        selectable = tuple(rt.extra.get("selectable") or ())
        fields = parse_field_selector(field_selector, storage_key(rt), selectable)
    return labels, fields
