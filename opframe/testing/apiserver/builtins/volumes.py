"""storage.k8s.io/v1 StorageClasses and core/v1 PersistentVolumes (stored; no provisioner).

Rules from ``pkg/apis/storage/v1/defaults.go``, ``pkg/apis/storage/validation/validation.go``,
``pkg/apis/core/v1/defaults.go`` (``SetDefaults_PersistentVolume``), ``pkg/apis/core/
validation/validation.go`` (``ValidatePersistentVolume``) and ``pkg/registry/core/
persistentvolume/strategy.go`` (a new volume is ``Pending``).
"""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver.builtins.meta import is_qualified_name
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import (
    forbidden,
    invalid,
    not_supported,
    required,
    too_many,
)

__all__ = [
    "access_mode_causes",
    "default_persistent_volume",
    "default_storage_class",
    "validate_persistent_volume",
    "validate_storage_class",
    "validate_storage_class_update",
]

_ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
#: The volume sources a PersistentVolume may name (exactly one).
_SOURCES = (
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "hostPath",
    "iscsi",
    "local",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
)


def default_persistent_volume(obj: dict[str, Any]) -> None:
    """``SetDefaults_PersistentVolume``: Retain, Filesystem."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")


def access_mode_causes(modes: Any, detail: str = "") -> list[Cause]:
    """``spec.accessModes`` of a volume or claim: at least one, each a supported mode.

    ``detail`` is the claim's wording of the missing list (the volume's has none).
    """
    if not modes:
        return [required("spec.accessModes", detail)]
    return [
        not_supported("spec.accessModes", mode, _ACCESS_MODES)
        for mode in modes
        if mode not in _ACCESS_MODES
    ]


def validate_persistent_volume(obj: dict[str, Any]) -> list[Cause]:
    """``ValidatePersistentVolumeSpec``: access modes, a storage capacity, one source."""
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    causes.extend(access_mode_causes(spec.get("accessModes")))
    capacity = spec.get("capacity") or {}
    if not capacity:
        causes.append(required("spec.capacity"))
    elif "storage" not in capacity or len(capacity) > 1:
        causes.append(not_supported("spec.capacity", sorted(capacity), ("storage",)))
    sources = [k for k in _SOURCES if spec.get(k) is not None]
    if not sources:
        causes.append(required("spec", "must specify a volume type"))
    elif len(sources) > 1:
        causes.append(forbidden(f"spec.{sources[1]}", "may not specify more than 1 volume type"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy not in ("Delete", "Recycle", "Retain"):
        causes.append(
            not_supported(
                "spec.persistentVolumeReclaimPolicy", policy or "", ("Delete", "Recycle", "Retain")
            )
        )
    host = spec.get("hostPath")
    if isinstance(host, dict) and not host.get("path"):
        causes.append(required("spec.hostPath.path"))
    return causes


def default_storage_class(obj: dict[str, Any]) -> None:
    """``SetDefaults_StorageClass``: reclaim Delete, bind Immediate."""
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


def validate_storage_class(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateStorageClass``: a qualified provisioner, known policies."""
    causes: list[Cause] = []
    provisioner = str(obj.get("provisioner") or "")
    if not provisioner:
        causes.append(required("provisioner"))
    else:
        causes.extend(
            invalid("provisioner", provisioner, m) for m in is_qualified_name(provisioner.lower())
        )
    reclaim = obj.get("reclaimPolicy")
    if reclaim is not None and reclaim not in ("Delete", "Retain"):
        causes.append(not_supported("reclaimPolicy", reclaim, ("Delete", "Retain")))
    mode = obj.get("volumeBindingMode")
    if mode is not None and mode not in ("Immediate", "WaitForFirstConsumer"):
        causes.append(
            not_supported("volumeBindingMode", mode, ("Immediate", "WaitForFirstConsumer"))
        )
    params = obj.get("parameters") or {}
    if len(params) > 512:
        causes.append(too_many("parameters", len(params), 512))
    for i, topology in enumerate(obj.get("allowedTopologies") or []):
        if not (topology or {}).get("matchLabelExpressions"):
            causes.append(
                required(
                    f"allowedTopologies[{i}].matchLabelExpressions",
                    "must have at least one label expression",
                )
            )
    return causes


def validate_storage_class_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidateStorageClassUpdate``: provisioner, parameters, reclaim and binding modes are
    fixed."""
    causes: list[Cause] = []
    if new.get("parameters") != old.get("parameters"):
        causes.append(forbidden("parameters", "updates to parameters are forbidden."))
    if new.get("provisioner") != old.get("provisioner"):
        causes.append(forbidden("provisioner", "updates to provisioner are forbidden."))
    if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
        causes.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    if new.get("volumeBindingMode") != old.get("volumeBindingMode"):
        causes.append(
            invalid("volumeBindingMode", new.get("volumeBindingMode"), "field is immutable")
        )
    return causes
