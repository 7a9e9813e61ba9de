"""The demo's backup-and-restore step: an ``EtcdBackup`` of the demo cluster, then a new
cluster restored from it (``spec.bootstrap.fromBackup``) with every acknowledged key.

The snapshot goes to an S3-compatible server when ``moto`` is importable (a dev dependency:
``python -m moto.server`` on loopback, started by :class:`BackupTarget` and stopped with it),
otherwise to a PersistentVolumeClaim (a volume destination).
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError
from etcd_operator.backup.models import EtcdBackup
from etcd_operator.models import EtcdCluster

from etcd_operator_demo.workload import KeyWriter, member_endpoints
from opframe import Client, NotFound, PersistentVolumeClaim, Secret
from opframe.testing import ImageResolver, LocalImage

__all__ = ["BackupTarget", "backup_and_restore", "operator_resolver"]

BUCKET = "etcd-backups"
SECRET = "demo-s3-credentials"
CLAIM = "demo-backups"

Out = Callable[[str], None]
Wait = Callable[[Callable[[], Awaitable[bool]], float, str], Awaitable[None]]


def operator_resolver() -> ImageResolver:
    """The kubelet's images plus the operator's own, whose ``python`` runs a restored
    member's fetch steps: played here by this interpreter, which has ``etcd_operator``."""
    resolver = ImageResolver()
    resolver.register(
        "ghcr.io/opframe/etcd-operator:*",
        LocalImage(
            entrypoint=(sys.executable, "-m", "etcd_operator"), binaries={"python": sys.executable}
        ),
    )
    return resolver


class BackupTarget:
    """Where the demo's backup goes: a moto S3 server on loopback, or a volume.

    An async context manager: entering starts moto (in the background, so it is up by the
    time the backup step runs); leaving stops it.
    """

    def __init__(self, kind: str = "auto") -> None:
        """``kind``: ``s3``, ``volume``, or ``auto`` (S3 when moto is importable)."""
        self.s3 = kind == "s3" or (kind == "auto" and importlib.util.find_spec("moto") is not None)
        self.endpoint = ""
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def kind(self) -> str:
        """``S3 (moto on 127.0.0.1)`` or ``a volume``, for the demo's lines."""
        return f"S3 (moto at {self.endpoint})" if self.s3 else f"volume (PVC {CLAIM})"

    async def __aenter__(self) -> BackupTarget:
        if self.s3:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            self.endpoint = f"http://127.0.0.1:{port}"
            self._proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    async def prepare(self, client: Client, namespace: str, wait: Wait) -> dict[str, object]:
        """Create the bucket and its credentials Secret (or the claim); the destination."""
        if not self.s3:
            await client.create(
                PersistentVolumeClaim.model_validate(
                    {
                        "metadata": {"name": CLAIM, "namespace": namespace},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                )
            )
            return {"volume": {"claimName": CLAIM, "path": "etcd"}}
        await wait(self._bucket_created, 30, "moto S3 server up")
        key = base64.b64encode(b"demo").decode()
        await client.create(
            Secret(
                metadata={"name": SECRET, "namespace": namespace},
                data={"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": key},
            )
        )
        return {
            "s3": {
                "endpoint": self.endpoint,
                "bucket": BUCKET,
                "prefix": "demo/",
                "forcePathStyle": True,
                "credentialsSecret": {"name": SECRET},
            }
        }

    async def _bucket_created(self) -> bool:
        session = get_session()
        try:
            async with session.create_client(
                "s3",
                endpoint_url=self.endpoint,
                region_name="us-east-1",
                aws_access_key_id="demo",
                aws_secret_access_key="demo",
            ) as s3:
                await s3.create_bucket(Bucket=BUCKET)
        except (BotoCoreError, ClientError):  # not listening yet: asked again
            return False
        return True


async def backup_and_restore(
    out: Out,
    client: Client,
    namespace: str,
    cluster: str,
    target: BackupTarget,
    acknowledged: dict[str, str],
    wait: Wait,
    settled: Callable[[EtcdCluster], bool],
    step_timeout: float,
) -> tuple[float, float] | None:
    """Back ``cluster`` up, restore it into ``<cluster>-restored`` and read every
    ``acknowledged`` key back from it; ``(backup seconds, restore seconds)``, ``None`` on a
    lost key."""
    destination = await target.prepare(client, namespace, wait)
    name = f"{cluster}-backup"
    start = time.monotonic()
    await client.create(
        EtcdBackup.model_validate(
            {
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"clusterName": cluster, "destination": destination},
            }
        )
    )
    out(f"EtcdBackup {name} of {cluster} to {target.kind} requested")

    async def finished() -> bool:
        b = await client.get(EtcdBackup, name, namespace)
        return b.status is not None and b.status.phase in ("Succeeded", "Failed")

    await wait(finished, step_timeout, "backup finished")
    backup = await client.get(EtcdBackup, name, namespace)
    s = backup.status
    assert s is not None
    if s.phase != "Succeeded":
        failed = next((c for c in s.conditions if c.type == "Failed"), None)
        out(f"BACKUP FAILED: {failed.message if failed else s.phase}")
        return None
    took_backup = time.monotonic() - start
    out(
        f"backup Succeeded: {s.size_bytes} bytes at revision {s.revision}, "
        f"SHA-256 {(s.sha256 or '')[:12]}..., {s.location} ({took_backup:.1f}s)"
    )

    restored = f"{cluster}-restored"
    start = time.monotonic()
    await client.create(
        EtcdCluster.model_validate(
            {
                "metadata": {"name": restored, "namespace": namespace},
                "spec": {
                    "size": 3,
                    "version": (await client.get(EtcdCluster, cluster, namespace)).spec.version,
                    "bootstrap": {"fromBackup": {"backupName": name}},
                },
            }
        )
    )
    out(f"EtcdCluster {restored} created from {name}: 3 members, each restored from it")

    async def available() -> bool:
        try:
            return settled(await client.get(EtcdCluster, restored, namespace))
        except NotFound:
            return False

    await wait(available, step_timeout, "restored cluster Available")
    reader = KeyWriter(lambda: member_endpoints(client, namespace, restored))
    reader.acknowledged = dict(acknowledged)
    try:
        missing = await reader.verify()
    finally:
        await reader.close()
    took_restore = time.monotonic() - start
    if missing:
        out(f"RESTORE READ-BACK FAILED: {len(missing)} of {len(acknowledged)} keys missing")
        return None
    out(
        f"restored: {restored} Available, all {len(acknowledged)} keys read back "
        f"({took_restore:.1f}s)"
    )
    return took_backup, took_restore
