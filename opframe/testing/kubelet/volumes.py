"""Pod volumes as host directories.

- ``emptyDir``: ``<root>/pods/<pod uid>/volumes/<name>``, removed with the pod.
- ``persistentVolumeClaim``: ``<root>/pvcs/<namespace>/<claim>-<claim uid>``, which outlives
  every pod using it (a new claim of the same name gets new data, as a new PV would). The
  kubelet plays a ``WaitForFirstConsumer`` provisioner: the claim becomes ``Bound`` when the
  first pod using it starts.
- ``configMap`` and ``secret``: files laid out by :func:`atomic_write` as kubelet's atomic
  writer does, and rewritten in place when the object changes (:meth:`VolumeManager.refresh_object`,
  driven by the kubelet's watch), so a container sees a renewed Secret without a restart;
- ``downwardAPI`` and ``projected``: files written once when the pod starts; a projected
  ``serviceAccountToken`` (the ``kube-api-access-*`` volume the API server
  adds) is a token bound to the pod from the TokenRequest API, refreshed by the pod worker
  before it expires (:attr:`ProjectedToken.refresh_at`).
- ``hostPath``: the host path itself.
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opframe.client import Client
from opframe.errors import ApiError
from opframe.testing.kubelet._mirror import get_or_none, merge_patch
from opframe.testing.kubelet.env import EnvError, field_ref

__all__ = ["ProjectedToken", "VolumeError", "VolumeManager", "atomic_write"]

Obj = dict[str, Any]


class VolumeError(RuntimeError):
    """A volume could not be set up (kubelet's ``FailedMount``)."""


def _write_files(directory: Path, files: Mapping[str, bytes], mode: int | None) -> None:
    for rel, data in files.items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode if mode is not None else 0o644)


_DATA = "..data"


def atomic_write(directory: Path, files: Mapping[str, bytes], mode: int | None) -> bool:
    """Publish ``files`` in ``directory`` all at once; ``False`` if they were already there.

    kubelet's atomic writer (``pkg/volume/util/atomic_writer.go``): the files go into a
    fresh hidden directory ``..<timestamp>``, the symlink ``..data`` is switched to it by one
    ``rename`` (a reader sees the old set or the new one, never a mix), each visible name is a
    symlink through ``..data``, and the previous directory is removed afterwards. Volume
    directories bind-mounted into a container therefore show an update in place, while a
    ``subPath`` mount (bound to one file) keeps the old content, as in Kubernetes.
    """
    link = directory / _DATA
    if link.is_symlink():
        current = directory / os.readlink(link)
        old = {
            str(p.relative_to(current)): p.read_bytes() for p in current.rglob("*") if p.is_file()
        }
        if old == dict(files):
            return False
    else:
        current = None
    stamp = directory / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    stamp.mkdir(parents=True)
    for rel, data in files.items():
        target = stamp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode if mode is not None else 0o644)
    staging = directory / f"{_DATA}_tmp"
    staging.unlink(missing_ok=True)
    staging.symlink_to(stamp.name)
    staging.replace(link)
    visible = {rel.split("/", 1)[0] for rel in files}
    for name in visible:
        entry = directory / name
        if not entry.is_symlink():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)
            entry.symlink_to(f"{_DATA}/{name}")
    for entry in directory.iterdir():
        # Keys that left the object: their symlinks would dangle.
        if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in visible:
            entry.unlink()
    if current is not None and current != stamp:
        shutil.rmtree(current, ignore_errors=True)
    return True


@dataclass(frozen=True)
class _ObjectVolume:
    """A configMap or secret volume of a running pod, to rewrite when its object changes."""

    kind: str
    namespace: str
    name: str
    source: Mapping[str, Any]
    directory: Path
    mode: int | None


@dataclass
class ProjectedToken:
    """A service-account token file of a projected volume, refreshed before it expires."""

    file: Path
    namespace: str
    account: str
    request: Obj  # the TokenRequest body (audiences, expirationSeconds, boundObjectRef)
    mode: int
    issued: float = 0.0
    expires: float = 0.0

    @property
    def refresh_at(self) -> float:
        """When to ask for a new token: at 80% of its lifetime, or after 24 hours, as
        kubelet's token manager (``pkg/kubelet/token/token_manager.go``) decides."""
        ttl = self.expires - self.issued
        return self.issued + min(0.8 * ttl, 24 * 3600.0)


class VolumeManager:
    """Creates, keeps and removes the host side of pod volumes under ``root``."""

    def __init__(self, root: Path, api: Client, *, ca_pem: bytes | None = None) -> None:
        self.root = root
        self._api = api
        self._ca_pem = ca_pem
        self.tokens: dict[str, list[ProjectedToken]] = {}  # pod uid -> its token files
        self.objects: dict[str, list[_ObjectVolume]] = {}  # pod uid -> its configMap/secret volumes

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
        self.tokens.pop(uid, None)  # a retried preparation requests its tokens afresh
        self.objects.pop(uid, None)
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
                atomic_write(target, files, mode)
                name_ = str(src.get("name") or src.get("secretName") or "")
                self.objects.setdefault(uid, []).append(
                    _ObjectVolume(kind, ns, name_, src, target, mode)
                )
                continue
            elif "downwardAPI" in vol:
                files = self._downward_files(pod, vol["downwardAPI"].get("items") or [])
            elif "projected" in vol:
                mode = vol["projected"].get("defaultMode")
                for source in vol["projected"].get("sources") or []:
                    if "serviceAccountToken" in source:
                        await self._service_account_token(
                            pod, target, source["serviceAccountToken"], mode
                        )
                        continue
                    files.update(await self._projected(pod, ns, source))
            else:
                raise VolumeError(f"volume {name!r}: unsupported type {sorted(vol)}")
            _write_files(target, files, mode)
        return paths

    async def _claim(self, ns: str, claim: str) -> Path:
        path = f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}"
        pvc = await get_or_none(self._api, path)
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
            await merge_patch(self._api, path + "/status", body)
        return directory

    def remove_claim_data(self, ns: str, claim: str, uid: str) -> None:
        """Delete a deleted claim's data (its reclaim policy is Delete)."""
        shutil.rmtree(self.root / "pvcs" / ns / f"{claim}-{uid}", ignore_errors=True)

    async def _object_files(self, kind: str, ns: str, src: Mapping[str, Any]) -> dict[str, bytes]:
        plural = "configmaps" if kind == "ConfigMap" else "secrets"
        name = src.get("name") or src.get("secretName") or ""
        obj = await get_or_none(self._api, f"/api/v1/namespaces/{ns}/{plural}/{name}")
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
        if "configMap" in source:
            return await self._object_files("ConfigMap", ns, source["configMap"])
        if "secret" in source:
            return await self._object_files("Secret", ns, source["secret"])
        if "downwardAPI" in source:
            return self._downward_files(pod, source["downwardAPI"].get("items") or [])
        return {}

    async def _service_account_token(
        self, pod: Obj, directory: Path, source: Obj, mode: int | None
    ) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        request: Obj = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": int(source.get("expirationSeconds") or 3600),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        if source.get("audience"):
            request["spec"]["audiences"] = [source["audience"]]
        token = ProjectedToken(
            file=directory / str(source.get("path") or "token"),
            namespace=str(meta.get("namespace", "default")),
            account=str(spec.get("serviceAccountName") or "default"),
            request=request,
            mode=0o644 if mode is None else mode,
        )
        await self.refresh(token)
        self.tokens.setdefault(meta["uid"], []).append(token)

    async def refresh(self, token: ProjectedToken) -> None:
        """Get a new token from the TokenRequest API and swap it into the file atomically.

        Raises:
            VolumeError: the API server refused (no such service account, ...).
        """
        path = f"/api/v1/namespaces/{token.namespace}/serviceaccounts/{token.account}/token"
        try:
            answer = await self._api.request("POST", path, body=token.request)
        except ApiError as exc:
            raise VolumeError(f"failed to fetch token: {exc}") from exc
        status = answer.get("status") or {}
        expires = datetime.datetime.fromisoformat(
            str(status["expirationTimestamp"]).replace("Z", "+00:00")
        ).timestamp()
        token.issued, token.expires = time.time(), expires
        token.file.parent.mkdir(parents=True, exist_ok=True)
        staging = token.file.with_name(f".{token.file.name}.tmp")
        staging.write_text(str(status["token"]))
        staging.chmod(token.mode)
        staging.replace(token.file)  # the container sees the old or the new token, never half

    async def refresh_object(self, kind: str, namespace: str, name: str) -> int:
        """Rewrite every running pod's volume of ConfigMap/Secret ``namespace/name`` from the
        object as the API server has it now; return how many volumes changed.

        A volume whose object is gone or lost a key keeps its last content (kubelet does
        not empty a mounted volume either); the next change tries again.
        """
        changed = 0
        for volumes in list(self.objects.values()):
            for vol in volumes:
                if (vol.kind, vol.namespace, vol.name) != (kind, namespace, name):
                    continue
                if not vol.directory.exists():
                    continue  # the pod is being removed
                try:
                    files = await self._object_files(kind, namespace, vol.source)
                except VolumeError:
                    continue
                changed += atomic_write(vol.directory, files, vol.mode)
        return changed

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
        self.tokens.pop(uid, None)
        self.objects.pop(uid, None)
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)
