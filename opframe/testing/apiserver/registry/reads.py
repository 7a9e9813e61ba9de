"""Reads at a resourceVersion: the cacher's and etcd's rules for lists and gets.

- no resourceVersion: the current state (a consistent read);
- ``resourceVersion=0``: any state, the current one here;
- ``resourceVersion=N`` (``NotOlderThan``, the default match): a state at least as new as N;
  a read of an N the storage has not reached waits up to 3 s, then is a 504 (``Too large
  resource version``);
- ``resourceVersionMatch=Exact`` (or the legacy exact read: N with a ``limit``): the state at
  exactly N, rebuilt from the watch history while it reaches back that far, else
  ``410 Expired`` as etcd answers a compacted revision;
- ``continue``: the next page of the snapshot the first page was read from.

    page, meta = list_page(store, rt, namespace, opts, labels, fields)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from typing import Any

from opframe.testing.apiserver.errors import bad_request, gone
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import storage_key
from opframe.testing.apiserver.registry.storage import Store, StoredObject

__all__ = [
    "EXPIRED_LIST",
    "INCONSISTENT_CONTINUE",
    "decode_continue",
    "encode_continue",
    "list_page",
    "snapshot",
]

#: etcd3 store's answer for a list at a compacted revision.
EXPIRED_LIST = "The resourceVersion for the provided list is too old."
#: etcd3 store's answer for a continue token whose snapshot is compacted.
INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)

Labels = Callable[[dict[str, str]], bool] | None
Fields = Callable[[dict[str, Any]], Any] | None


def encode_continue(rv: int, start: str) -> str:
    """A continue token: the snapshot's resourceVersion and the key just after ``start``."""
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00"})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """``(resourceVersion, start key)`` of a continue token (400 if it is not one)."""
    try:
        pad = "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(token + pad))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad_request(
            "continue key is not valid: the provided continue parameter is not valid"
        ) from None


def _key_of(so: StoredObject) -> str:
    return f"{so.meta.get('namespace', '')}/{so.meta['name']}"


def snapshot(store: Store, key: str, scope: str | None, rv: int) -> list[StoredObject] | None:
    """The objects of ``key`` (in ``scope``) as they were at ``rv``, sorted like a list.

    Rebuilt by undoing, newest first, every event after ``rv``; ``None`` when the history
    does not reach back to ``rv``.
    """
    history = store.history_since(key, rv)
    if history is None:
        return None
    current = {_key_of(so): so for so in store.iter_sorted(key, scope)}
    for ev in reversed(history):
        k = _key_of(ev.obj)
        if ev.type == "ADDED":
            current.pop(k, None)
        elif ev.prev is not None:
            current[k] = ev.prev
    objs = [
        so for so in current.values() if scope in (None, "") or so.meta.get("namespace") == scope
    ]
    objs.sort(key=lambda so: (so.meta.get("namespace", ""), so.meta["name"]))
    return objs


def _after(
    objs: Iterable[StoredObject], start: str, namespaced_all: bool
) -> Iterable[StoredObject]:
    if not start:
        yield from objs
        return
    for so in objs:
        pos = _key_of(so) if namespaced_all else so.meta["name"]
        if pos >= start:
            yield so


def list_page(
    store: Store,
    rt: ResourceType,
    namespace: str | None,
    *,
    resource_version: str,
    exact: bool,
    limit: int,
    continue_token: str,
    labels: Labels,
    fields: Fields,
) -> tuple[list[StoredObject], dict[str, Any]]:
    """The page of objects a list asks for, and its list metadata.

    ``resource_version`` has been checked not to be in the future (see ``http.rest``);
    ``exact`` asks for the state at exactly that version.
    """
    key = storage_key(rt)
    scope = namespace or None if rt.namespaced else ""
    namespaced_all = rt.namespaced and not namespace
    list_rv = store.rv
    start = ""
    source: Iterable[StoredObject]
    if continue_token:
        list_rv, start = decode_continue(continue_token)
        if list_rv < 0:  # the token of an expired snapshot: go on at the current state
            list_rv = store.rv
    if exact and not continue_token:
        list_rv = int(resource_version)
    if list_rv != store.rv:
        objs = snapshot(store, key, scope, list_rv)
        if objs is None and continue_token:
            # handleCompactedErrorForPaging: 410, with a token to go on inconsistently.
            error = gone(INCONSISTENT_CONTINUE)
            error.list_meta["continue"] = encode_continue(-1, start.removesuffix("\x00"))
            raise error
        if objs is None:
            raise gone(EXPIRED_LIST)
        source = _after(objs, start, namespaced_all)
    else:
        source = store.iter_sorted(key, scope, start)
    it = iter(source)
    page: list[StoredObject] = []
    more = False
    remaining = 0
    last = None
    for so in it:
        if limit and len(page) >= limit:
            more = True
            remaining = 1 + sum(1 for _ in it)
            break
        if labels is not None and not labels(so.meta.get("labels") or {}):
            continue
        if fields is not None and not fields(so.obj):
            continue
        page.append(so)
        last = so
    meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
    if more and last is not None:
        pos = _key_of(last) if namespaced_all else last.meta["name"]
        meta["continue"] = encode_continue(list_rv, pos)
        if labels is None and fields is None:
            meta["remainingItemCount"] = remaining
    return page, meta
