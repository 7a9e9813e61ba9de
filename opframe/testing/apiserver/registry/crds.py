"""CustomResourceDefinitions: defaults, validation, serving, Established, and removal.

This is the part of kube-apiserver's apiextensions server and its controllers that the
emulator needs: a CRD is defaulted and validated when written, its versions are served as
soon as it is stored, a status write by ``kube-apiserver`` then marks it ``NamesAccepted`` and
``Established``; deleting it marks it ``Terminating`` with the
``customresourcecleanup.apiextensions.k8s.io`` finalizer, its custom resources are deleted,
and once the last one is gone the CRD and its endpoints disappear.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from opframe.testing.apiserver.errors import invalid
from opframe.testing.apiserver.merge import field_manager
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import Registry, storage_key
from opframe.testing.apiserver.registry.storage import Store, StoredObject
from opframe.testing.apiserver.registry.writes import CRD_KEY, DeleteOptions, Writer, now, rfc3339
from opframe.testing.apiserver.schema import custom_resource
from opframe.testing.apiserver.schema.crd_validation import is_established

__all__ = ["CrdController", "crd_types"]

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_CR_VERBS = ("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")


def _version_order(name: str) -> tuple[int, int, int, str]:
    """``version.CompareKubeAwareVersionStrings``: GA, then beta, then alpha, newest first."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", name)
    if m is None:
        return (0, 0, 0, name)  # not kube-like: after every kube-like version
    stage = {"alpha": 1, "beta": 2}.get(m.group(2) or "", 3)
    return (stage + 1, int(m.group(1)), int(m.group(3) or 0), "")


def deprecation_warning(spec: dict[str, Any], version: dict[str, Any]) -> str:
    """The warning a deprecated CRD version adds to every request it serves, or ``""``.

    ``deprecationWarning`` when given, else apiextensions' default: ``group/v kind is
    deprecated; use group/<newest served, not deprecated, newer version> kind``.
    """
    if not version.get("deprecated"):
        return ""
    if version.get("deprecationWarning") is not None:
        return str(version["deprecationWarning"])
    group, kind, name = (
        spec.get("group", ""),
        (spec.get("names") or {}).get("kind", ""),
        version["name"],
    )
    msg = f"{group}/{name} {kind} is deprecated"
    newer = [
        v["name"]
        for v in spec.get("versions") or []
        if v.get("served") and not v.get("deprecated") and _kube_newer(v["name"], name)
    ]
    if newer:
        best = max(newer, key=_version_order)
        msg += f"; use {group}/{best} {kind}"
    return msg


def _kube_newer(a: str, b: str) -> bool:
    """Whether ``a`` sorts before (is newer than) ``b`` in kube-aware version order."""
    ka, kb = _version_order(a), _version_order(b)
    if ka[0] == 0 and kb[0] == 0:
        return a < b
    return ka > kb


def crd_types(crd: dict[str, Any]) -> tuple[list[ResourceType], str]:
    """The resource types a CRD serves, and its storage version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    kind = names.get("kind", "")
    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), "")
    types = []
    for v in spec.get("versions") or []:
        if not v.get("served"):
            continue
        subs = v.get("subresources") or {}
        types.append(
            ResourceType(
                group=group,
                version=v["name"],
                kind=kind,
                plural=names.get("plural", ""),
                singular=names.get("singular") or kind.lower(),
                namespaced=spec.get("scope") == "Namespaced",
                list_kind=names.get("listKind") or kind + "List",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                verbs=_CR_VERBS,
                subresources=frozenset(k for k in ("status", "scale") if k in subs),
                custom=True,
                schema=(v.get("schema") or {}).get("openAPIV3Schema") or {},
                scale=subs.get("scale"),
                printer_columns=tuple(v.get("additionalPrinterColumns") or ()),
                storage_version=storage,
                extra={
                    "crd": crd["metadata"]["name"],
                    "conversion": spec.get("conversion") or {},
                    "deprecation_warning": deprecation_warning(spec, v),
                    "selectable": tuple(
                        str(f.get("jsonPath", "")).lstrip(".")
                        for f in v.get("selectableFields") or []
                        if isinstance(f, dict)
                    ),
                },
            )
        )
    return types, storage


def _condition(kind: str, reason: str, message: str, status: str = "True") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "lastTransitionTime": rfc3339(now()),
        "reason": reason,
        "message": message,
    }


def _accepted(names: dict[str, Any]) -> dict[str, Any]:
    out = dict(names)
    out.setdefault("singular", str(names.get("kind", "")).lower())
    out.setdefault("listKind", f"{names.get('kind', '')}List")
    return out


class CrdController:
    """Keeps the registry in step with stored CRDs and finishes their deletion."""

    def __init__(self, store: Store, registry: Registry, writer: Writer) -> None:
        self.store = store
        self.registry = registry
        self.writer = writer
        writer.crd_prepare = self.prepare
        writer.crd_delete = self.delete
        writer.crd_hooks.append(self.on_crd)
        writer.delete_hooks.append(self.on_removed)

    def restore(self) -> None:
        """Serve the CRDs found in storage (after a restart)."""
        for so in list(self.store.iter_sorted(CRD_KEY, "")):
            types, storage = crd_types(so.obj)
            self.registry.add_crd(so.meta["name"], types, storage)

    # -- writes ------------------------------------------------------------------------------

    def prepare(
        self, crd: dict[str, Any], old: dict[str, Any] | None, subresource: str = ""
    ) -> None:
        """Default and validate a CRD being written (422 on invalid ones).

        The main endpoint keeps the stored status; ``/status`` keeps everything else.
        """
        if old is not None and subresource == "status":
            status = crd.get("status")
            managed = crd.get("metadata", {}).get("managedFields")
            crd.clear()
            crd.update(copy.deepcopy({k: v for k, v in old.items() if k != "status"}))
            if managed is not None:
                crd["metadata"]["managedFields"] = managed
            if status is not None:
                crd["status"] = status
            return
        spec = crd.setdefault("spec", {})
        custom_resource.default_crd(crd)
        if old is None:
            storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
            crd["status"] = {
                "conditions": None,
                "acceptedNames": {"plural": "", "kind": ""},
                "storedVersions": storage,
            }
        else:
            crd["status"] = copy.deepcopy(old.get("status"))
        causes = custom_resource.validate_crd(crd, old)
        if causes:
            raise invalid(
                "CustomResourceDefinition",
                crd["metadata"].get("name", ""),
                causes,
                "apiextensions.k8s.io",
            )

    def on_crd(self, crd: dict[str, Any], removed: bool) -> None:
        """A CRD was stored or removed: serve or stop serving its resources."""
        name = crd["metadata"]["name"]
        if removed:
            for rt in self.registry.remove_crd(name):
                self.store.drop_resource(storage_key(rt))
            return
        types, storage = crd_types(crd)
        fresh = not self.registry.crd_types(name)
        self.registry.add_crd(name, types, storage)
        if fresh and types:
            self.store.start_history(storage_key(types[0]))
        if not crd["metadata"].get("deletionTimestamp") and not is_established(crd):
            self._establish(crd)

    def _establish(self, crd: dict[str, Any]) -> None:
        old = crd
        new = copy.deepcopy(crd)
        names = new["spec"].get("names") or {}
        new["status"] = {
            "conditions": [
                _condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                _condition(
                    "Established", "InitialNamesAccepted", "the initial names have been accepted"
                ),
            ],
            "acceptedNames": _accepted(names),
            "storedVersions": (old.get("status") or {}).get("storedVersions")
            or [v["name"] for v in new["spec"].get("versions") or [] if v.get("storage")],
        }
        field_manager.update_managed_fields(
            old,
            new,
            manager="kube-apiserver",
            operation="Update",
            api_version="apiextensions.k8s.io/v1",
            subresource="status",
            time=rfc3339(now()),
            ignored_fields=tuple(
                k for k in new if k not in ("status", "metadata", "kind", "apiVersion")
            ),
        )
        self.store.put(CRD_KEY, new, created=False)

    # -- deletion ----------------------------------------------------------------------------

    def delete(self, current: StoredObject, opts: DeleteOptions) -> dict[str, Any]:
        """DELETE on a CRD: mark it Terminating; its custom resources go, then it goes."""
        if current.meta.get("deletionTimestamp"):
            return current.obj
        new = copy.deepcopy(current.obj)
        meta = new["metadata"]
        meta["deletionTimestamp"] = rfc3339(now())
        finalizers = list(meta.get("finalizers") or [])
        if CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CLEANUP_FINALIZER)
        meta["finalizers"] = finalizers
        status = new.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Terminating"]
        conditions.append(
            _condition(
                "Terminating",
                "InstanceDeletionPending",
                "CustomResourceDefinition marked for deletion; CustomResource deletion will "
                "begin soon",
            )
        )
        status["conditions"] = conditions
        if opts.dry_run:
            return new
        so = self.store.put(CRD_KEY, new, created=False)
        self._cleanup(so)
        return so.obj

    def _cleanup(self, crd: StoredObject) -> None:
        types = self.registry.crd_types(crd.meta["name"])
        if types:
            rt = types[0]
            for so in list(self.store.iter_sorted(storage_key(rt), None)):
                self.writer.delete(rt, so, DeleteOptions())
        self._finish(crd.meta["name"])

    def _finish(self, name: str) -> None:
        crd = self.store.get(CRD_KEY, "", name)
        if crd is None or not crd.meta.get("deletionTimestamp"):
            return
        types = self.registry.crd_types(name)
        if types and self.store.count(storage_key(types[0])):
            return
        rt = self.registry.find_plural("customresourcedefinitions", "apiextensions.k8s.io")
        if rt is None:
            return
        self.writer.remove(rt, crd)

    def on_removed(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """A custom resource went away: finish its CRD's deletion if it was the last."""
        crd_name = rt.extra.get("crd")
        if rt.custom and isinstance(crd_name, str):
            self._finish(crd_name)
