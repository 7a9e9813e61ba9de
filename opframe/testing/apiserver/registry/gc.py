"""The in-process controllers a cluster runs behind its API server: garbage collector, namespaces.

Real clusters run these in kube-controller-manager; the emulator runs them in-process so
ownerReferences and namespace deletion behave the way operators expect:

- background deletion: once every owner of an object is gone, the object is deleted; an
  object that still has a live owner only loses its dangling ownerReferences;
- foreground deletion: an owner with the ``foregroundDeletion`` finalizer stays until its
  dependents are gone, then the finalizer is removed and the owner goes;
- orphan: an owner with the ``orphan`` finalizer has its dependents' ownerReferences to it
  removed, then the finalizer is removed;
- a deleted namespace has its content deleted, then its ``kubernetes`` finalizer is removed;
- with a root CA (:meth:`Controllers.publish_root_ca`), the root-ca-cert-publisher's
  ``kube-root-ca.crt`` ConfigMap in every namespace, recreated when deleted or changed.

Work is queued after the write that caused it and run from the event loop right after, so a
DELETE answers first and the cascade follows, as on a real cluster.
"""

from __future__ import annotations

import copy
import logging
from collections import deque
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import Registry, storage_key
from opframe.testing.apiserver.registry.soon import SoonRunner, run_step
from opframe.testing.apiserver.registry.storage import Store, StoredObject, WatchEvent
from opframe.testing.apiserver.registry.writes import DeleteOptions, WriteOptions, Writer

__all__ = ["ROOT_CA_CONFIGMAP", "Controllers"]

log = logging.getLogger(__name__)

_Ref = tuple[str, str, str]  # storage key, namespace, name
_MANAGER = "kube-controller-manager"
#: The root-ca-cert-publisher's ConfigMap (pkg/controller/certificates/rootcacertpublisher).
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
_DESCRIPTION_KEY = "kubernetes.io/description"
_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)


class Controllers:
    """Garbage collector and namespace controller over one store."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        writer: Writer,
        *,
        default_service_accounts: bool = False,
    ) -> None:
        self.store = store
        self.registry = registry
        self.writer = writer
        self._dependents: dict[str, set[_Ref]] = {}
        self._uids: dict[str, _Ref] = {}
        self._work: deque[Callable[[], None]] = deque()
        self._runner = SoonRunner(self._run)
        self._closed = False
        self._service_accounts = default_service_accounts
        self._root_ca = ""
        store.on_write.append(self._on_write)
        for key, so in store.all_objects():
            self._index(key, None, so)
            if key == "/namespaces":
                self._schedule(partial(self._default_service_account, so.meta["name"]))

    def publish_root_ca(self, pem: str) -> None:
        """Keep ``kube-root-ca.crt`` (key ``ca.crt`` = ``pem``) in every namespace from now on."""
        self._root_ca = pem
        for so in list(self.store.iter_sorted("/namespaces", "")):
            self._schedule(partial(self._sync_root_ca, so.meta["name"]))

    def close(self) -> None:
        """Stop running queued work."""
        self._closed = True
        self._work.clear()

    # -- indexes ---------------------------------------------------------------------------

    def _index(self, key: str, prev: StoredObject | None, so: StoredObject | None) -> None:
        if prev is not None:
            ref = (key, prev.meta.get("namespace", ""), prev.meta["name"])
            for o in prev.meta.get("ownerReferences") or []:
                deps = self._dependents.get(o.get("uid", ""))
                if deps is not None:
                    deps.discard(ref)
                    if not deps:
                        del self._dependents[o.get("uid", "")]
        if so is not None:
            ref = (key, so.meta.get("namespace", ""), so.meta["name"])
            self._uids[so.meta.get("uid", "")] = ref
            for o in so.meta.get("ownerReferences") or []:
                self._dependents.setdefault(o.get("uid", ""), set()).add(ref)

    def _on_write(self, ev: WatchEvent) -> None:
        if self._root_ca and (
            ev.key == "/namespaces"
            or (ev.key == "/configmaps" and ev.obj.meta["name"] == ROOT_CA_CONFIGMAP)
        ):
            ns = ev.obj.meta["name"] if ev.key == "/namespaces" else ev.obj.meta["namespace"]
            self._schedule(partial(self._sync_root_ca, ns))
        if ev.type == "DELETED":
            self._index(ev.key, ev.prev, None)
            uid = ev.obj.meta.get("uid", "")
            self._uids.pop(uid, None)
            self._schedule(lambda: self._owner_gone(uid))
            ns = ev.obj.meta.get("namespace", "")
            if ns:
                self._schedule(lambda: self._finish_namespace(ns))
            for o in ev.obj.meta.get("ownerReferences") or []:
                owner_uid = o.get("uid", "")
                self._schedule(partial(self._foreground_check, owner_uid))
            return
        self._index(ev.key, ev.prev, ev.obj)
        meta = ev.obj.meta
        if ev.type == "ADDED" and ev.key == "/namespaces":
            self._schedule(partial(self._default_service_account, meta["name"]))
        if meta.get("deletionTimestamp"):
            finalizers = meta.get("finalizers") or []
            uid = meta.get("uid", "")
            if "orphan" in finalizers:
                self._schedule(lambda: self._orphan(uid))
            if "foregroundDeletion" in finalizers:
                self._schedule(lambda: self._foreground(uid))
            if ev.key == "/namespaces" and (
                ev.prev is None or not ev.prev.meta.get("deletionTimestamp")
            ):
                name = meta["name"]
                self._schedule(lambda: self._delete_namespace_content(name))

    def _schedule(self, fn: Callable[[], None]) -> None:
        if self._closed:
            return
        self._work.append(fn)
        self._runner.poke()

    def _run(self) -> None:
        while self._work and not self._closed:
            run_step(self._work.popleft(), "controller step", log)

    # -- helpers -----------------------------------------------------------------------------

    def _stored_dependents(self, uid: str) -> Iterator[tuple[ResourceType, StoredObject]]:
        """The dependents of owner ``uid`` still stored, each looked up as the loop reaches it."""
        for ref in list(self._dependents.get(uid, ())):
            found = self._get(ref)
            if found is not None:
                yield found

    def _get(self, ref: _Ref) -> tuple[ResourceType, StoredObject] | None:
        key, ns, name = ref
        so = self.store.get(key, ns, name)
        if so is None:
            return None
        types = self.registry.by_storage(key)
        if not types:
            return None
        # The stored version: its writes need no conversion (a CRD's may need its webhook).
        rt = next(
            (t for t in types if t.custom and t.version == t.storage_version),
            next((t for t in types if t.custom or not t.group.startswith("events.")), types[0]),
        )
        return rt, so

    def _update_meta(
        self, rt: ResourceType, so: StoredObject, change: Callable[[dict[str, Any]], None]
    ) -> None:
        new = copy.deepcopy(self.writer.served(rt, so.obj))
        change(new["metadata"])
        self.writer.update(rt, new, so, WriteOptions(manager=_MANAGER))

    # -- garbage collection ------------------------------------------------------------------

    def _owner_gone(self, uid: str) -> None:
        for rt, so in self._stored_dependents(uid):
            refs = so.meta.get("ownerReferences") or []
            alive = [r for r in refs if r.get("uid") in self._uids]
            if alive:
                if len(alive) != len(refs):
                    self._update_meta(rt, so, _set_owners(alive))
                continue
            if not so.meta.get("deletionTimestamp"):
                self.writer.delete(rt, so, DeleteOptions(propagation="Background"))

    def _foreground(self, uid: str) -> None:
        for rt, so in self._stored_dependents(uid):
            if not so.meta.get("deletionTimestamp"):
                self.writer.delete(rt, so, DeleteOptions(propagation="Foreground"))
        self._foreground_check(uid)

    def _foreground_check(self, uid: str) -> None:
        ref = self._uids.get(uid)
        if ref is None:
            return
        found = self._get(ref)
        if found is None:
            return
        rt, owner = found
        if "foregroundDeletion" not in (owner.meta.get("finalizers") or []):
            return
        if any(self._blocks(d, uid) for d in self._dependents.get(uid, ())):
            return
        self._update_meta(rt, owner, _drop_finalizer("foregroundDeletion"))

    def _blocks(self, ref: _Ref, owner_uid: str) -> bool:
        """Whether a dependent still holds up its owner's foreground deletion."""
        so = self.store.get(*ref)
        if so is None:
            return False
        return any(
            o.get("uid") == owner_uid and o.get("blockOwnerDeletion")
            for o in so.meta.get("ownerReferences") or []
        )

    def _orphan(self, uid: str) -> None:
        for rt, so in self._stored_dependents(uid):
            keep = [r for r in so.meta.get("ownerReferences") or [] if r.get("uid") != uid]

            def change(m: dict[str, Any], keep: list[Any] = keep) -> None:
                if keep:
                    m["ownerReferences"] = keep
                else:
                    m.pop("ownerReferences", None)

            self._update_meta(rt, so, change)
        owner_ref = self._uids.get(uid)
        owner = self._get(owner_ref) if owner_ref else None
        if owner is not None:
            self._update_meta(owner[0], owner[1], _drop_finalizer("orphan"))

    # -- namespaces --------------------------------------------------------------------------

    def _default_service_account(self, namespace: str) -> None:
        """The service-account controller's job: a ``default`` ServiceAccount everywhere."""
        if not self._service_accounts:
            return
        ns = self.store.get("/namespaces", "", namespace)
        if ns is None or ns.meta.get("deletionTimestamp"):
            return
        if self.store.get("/serviceaccounts", namespace, "default") is not None:
            return
        rt = self.registry.find_plural("serviceaccounts")
        if rt is None:
            return
        obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
        self.writer.create(rt, obj, namespace, WriteOptions(manager=_MANAGER))

    def _sync_root_ca(self, namespace: str) -> None:
        """The publisher's sync: create the ConfigMap, or put back its data and annotation."""
        ns = self.store.get("/namespaces", "", namespace)
        rt = self.registry.find_plural("configmaps")
        if ns is None or ns.meta.get("deletionTimestamp") or rt is None:
            return
        data = {"ca.crt": self._root_ca}
        so = self.store.get("/configmaps", namespace, ROOT_CA_CONFIGMAP)
        if so is None:
            meta = {"name": ROOT_CA_CONFIGMAP, "annotations": {_DESCRIPTION_KEY: _DESCRIPTION}}
            obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
            self.writer.create(rt, obj, namespace, WriteOptions(manager=_MANAGER))
            return
        annotations = so.meta.get("annotations") or {}
        if so.obj.get("data") == data and annotations.get(_DESCRIPTION_KEY):
            return
        new = copy.deepcopy(so.obj)
        new["data"] = data
        new["metadata"].setdefault("annotations", {})[_DESCRIPTION_KEY] = _DESCRIPTION
        self.writer.update(rt, new, so, WriteOptions(manager=_MANAGER))

    def _namespaced_types(self) -> list[ResourceType]:
        seen: dict[str, ResourceType] = {}
        for rt in self.registry.all_types():
            if rt.namespaced and storage_key(rt) not in seen:
                seen[storage_key(rt)] = rt
        return list(seen.values())

    def _delete_namespace_content(self, namespace: str) -> None:
        for rt in self._namespaced_types():
            for so in list(self.store.iter_sorted(storage_key(rt), namespace)):
                if not so.meta.get("deletionTimestamp"):
                    self.writer.delete(
                        rt, so, DeleteOptions(propagation="Background", grace_seconds=0)
                    )
        self._finish_namespace(namespace)

    def _finish_namespace(self, namespace: str) -> None:
        ns = self.store.get("/namespaces", "", namespace)
        if ns is None or not ns.meta.get("deletionTimestamp"):
            return
        for rt in self._namespaced_types():
            if next(self.store.iter_sorted(storage_key(rt), namespace), None) is not None:
                return
        rt_ns = self.registry.find_plural("namespaces")
        if rt_ns is None or ns.meta.get("finalizers"):
            return
        # The namespace controller's last step: the "kubernetes" finalizer in spec goes, and
        # with it the namespace.
        self.writer.remove(rt_ns, ns)


def _set_owners(owners: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(m: dict[str, Any]) -> None:
        m["ownerReferences"] = owners

    return change


def _drop_finalizer(name: str) -> Callable[[dict[str, Any]], None]:
    def change(m: dict[str, Any]) -> None:
        rest = [f for f in m.get("finalizers") or [] if f != name]
        if rest:
            m["finalizers"] = rest
        else:
            m.pop("finalizers", None)

    return change
