"""Pod volumes as host directories.

- ``emptyDir``: ``<root>/pods/<pod uid>/volumes/<name>``, removed with the pod.
- ``persistentVolumeClaim``: ``<root>/pvcs/<namespace>/<claim>-<claim uid>``, which outlives
  every pod using it (a new claim of the same name gets new data, as a new PV would). The
  kubelet plays a ``WaitForFirstConsumer`` provisioner: the claim becomes ``Bound`` when the
  first pod using it starts.
- ``configMap``, ``secret``, ``downwardAPI`` and ``projected`` (including the service-account
  token volume the API server adds): files written once when the pod starts.
- ``hostPath``: the host path itself.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opframe.testing.kubelet._api import RawApi
from opframe.testing.kubelet.env import EnvError, field_ref

__all__ = ["VolumeError", "VolumeManager"]

Obj = dict[str, Any]


class VolumeError(RuntimeError):
    """A volume could not be set up (kubelet's ``FailedMount``)."""


def _write_files(directory: Path, files: Mapping[str, bytes], mode: int | None) -> None:
    for rel, data in files.items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode if mode is not None else 0o644)


class VolumeManager:
    """Creates, keeps and removes the host side of pod volumes under ``root``."""

    def __init__(
        self, root: Path, api: RawApi, *, token: str | None = None, ca_pem: bytes | None = None
    ) -> None:
        self.root = root
        self._api = api
        self._token = token
        self._ca_pem = ca_pem

    def pod_dir(self, uid: str) -> Path:
        """The pod's private directory (emptyDirs, hosts file, logs)."""
        return self.root / "pods" / uid

    def empty_dir(self, uid: str, name: str) -> Path:
        """The host directory of emptyDir ``name`` of pod ``uid``."""
        return self.pod_dir(uid) / "volumes" / name

    async def prepare(self, pod: Obj) -> dict[str, Path]:
        """Create every volume of ``pod``; return volume name → host path.

        Raises:
            VolumeError: a claim, ConfigMap or Secret the pod needs does not exist.
        """
        meta, spec = pod["metadata"], pod.get("spec") or {}
        ns, uid = meta.get("namespace", "default"), meta["uid"]
        paths: dict[str, Path] = {}
        for vol in spec.get("volumes") or []:
            name = vol["name"]
            if "persistentVolumeClaim" in vol:
                paths[name] = await self._claim(ns, vol["persistentVolumeClaim"]["claimName"])
                continue
            if "hostPath" in vol:
                paths[name] = Path(vol["hostPath"]["path"])
                continue
            target = self.empty_dir(uid, name)
            target.mkdir(parents=True, exist_ok=True)
            paths[name] = target
            if "emptyDir" in vol:
                continue
            files: dict[str, bytes] = {}
            mode: int | None = None
            if "configMap" in vol or "secret" in vol:
                kind = "ConfigMap" if "configMap" in vol else "Secret"
                src = vol.get("configMap") or vol.get("secret") or {}
                mode = src.get("defaultMode")
                files = await self._object_files(kind, ns, src)
            elif "downwardAPI" in vol:
                files = self._downward_files(pod, vol["downwardAPI"].get("items") or [])
            elif "projected" in vol:
                mode = vol["projected"].get("defaultMode")
                for source in vol["projected"].get("sources") or []:
                    files.update(await self._projected(pod, ns, source))
            else:
                raise VolumeError(f"volume {name!r}: unsupported type {sorted(vol)}")
            _write_files(target, files, mode)
        return paths

    async def _claim(self, ns: str, claim: str) -> Path:
        path = f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}"
        pvc = await self._api.get_or_none(path)
        if pvc is None:
            raise VolumeError(f'persistentvolumeclaim "{claim}" not found')
        directory = self.root / "pvcs" / ns / f"{claim}-{pvc['metadata']['uid']}"
        directory.mkdir(parents=True, exist_ok=True)
        if (pvc.get("status") or {}).get("phase") != "Bound":
            pvc_spec = pvc.get("spec") or {}
            capacity = ((pvc_spec.get("resources") or {}).get("requests") or {}).get("storage")
            status: Obj = {"phase": "Bound", "accessModes": pvc_spec.get("accessModes") or []}
            if capacity:
                status["capacity"] = {"storage": capacity}
            body = {"metadata": {"uid": pvc["metadata"]["uid"]}, "status": status}
            await self._api.merge_patch(path + "/status", body)
        return directory

    def remove_claim_data(self, ns: str, claim: str, uid: str) -> None:
        """Delete a deleted claim's data (its reclaim policy is Delete)."""
        shutil.rmtree(self.root / "pvcs" / ns / f"{claim}-{uid}", ignore_errors=True)

    async def _object_files(self, kind: str, ns: str, src: Mapping[str, Any]) -> dict[str, bytes]:
        plural = "configmaps" if kind == "ConfigMap" else "secrets"
        name = src.get("name") or src.get("secretName") or ""
        obj = await self._api.get_or_none(f"/api/v1/namespaces/{ns}/{plural}/{name}")
        if obj is None:
            if name == "kube-root-ca.crt" and self._ca_pem is not None:
                obj = {"data": {"ca.crt": self._ca_pem.decode()}}
            elif src.get("optional"):
                return {}
            else:
                raise VolumeError(f'{kind.lower()} "{name}" not found')
        data: dict[str, bytes] = {}
        for key, value in (obj.get("data") or {}).items():
            data[key] = base64.b64decode(value) if kind == "Secret" else str(value).encode()
        for key, value in (obj.get("binaryData") or {}).items():
            data[key] = base64.b64decode(value)
        items = src.get("items")
        if not items:
            return data
        out: dict[str, bytes] = {}
        for item in items:
            if item["key"] not in data:
                if src.get("optional"):
                    continue
                raise VolumeError(f"{kind} {ns}/{name} has no key {item['key']!r}")
            out[item["path"]] = data[item["key"]]
        return out

    def _downward_files(self, pod: Obj, items: list[Obj]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for item in items:
            if "fieldRef" in item:
                try:
                    out[item["path"]] = field_ref(pod, item["fieldRef"]["fieldPath"]).encode()
                except EnvError as exc:
                    raise VolumeError(str(exc)) from exc
        return out

    async def _projected(self, pod: Obj, ns: str, source: Obj) -> dict[str, bytes]:
        if "serviceAccountToken" in source:
            # One static token serves every identity on the embedded API server.
            path = source["serviceAccountToken"].get("path") or "token"
            return {path: (self._token or "").encode()}
        if "configMap" in source:
            return await self._object_files("ConfigMap", ns, source["configMap"])
        if "secret" in source:
            return await self._object_files("Secret", ns, source["secret"])
        if "downwardAPI" in source:
            return self._downward_files(pod, source["downwardAPI"].get("items") or [])
        return {}

    def wipe_empty_dir(self, uid: str, name: str) -> None:
        """Delete an emptyDir's content in place (chaos: a lost local disk)."""
        directory = self.empty_dir(uid, name)
        for child in directory.iterdir() if directory.exists() else []:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    def remove_pod(self, uid: str) -> None:
        """Remove a pod's directory: its emptyDirs, hosts file and logs."""
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)
