"""The backup tests' harness: a real S3-compatible server (moto) on loopback with real
credentials checking, and a LocalCluster running the operator with the backup controllers.

moto runs as its own process (``python -m moto.server``) on 127.0.0.1. With
``INITIAL_NO_AUTH_ACTION_COUNT`` it enforces IAM authentication after the first requests, which
create an IAM user with an access key and the bucket: from then on wrong keys get
``InvalidAccessKeyId`` exactly as from AWS.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import pytest_asyncio
from etcd_e2e import E2E_POLICY, NAMESPACE
from etcd_e2e import running_operator as e2e_running_operator
from etcd_operator.backup.models import EtcdBackup
from etcd_operator.backup.s3 import S3Config
from etcd_operator.backup.schedule import BackupScheduleReconciler
from etcd_operator.models import EtcdCluster
from etcd_operator.operator import build_manager
from etcd_operator.reconciler import EtcdClusterReconciler
from etcd_operator_demo.backup_step import operator_resolver

from opframe import Client, Manager, NotFound, install_crds
from opframe.kinds import Secret
from opframe.testing import LocalCluster, eventually

BUCKET = "backups"
SECRET = "s3-credentials"
# The requests moto serves before it enforces authentication: the setup calls below.
_SETUP_CALLS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class S3Server:
    """A moto server with one bucket and one IAM user allowed everything."""

    endpoint: str
    access_key_id: str
    secret_access_key: str

    def config(self, **overrides: str) -> S3Config:
        values = {
            "bucket": BUCKET,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "endpoint": self.endpoint,
            **overrides,
        }
        return S3Config(force_path_style=True, **values)

    def boto(self) -> object:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def keys(self) -> list[str]:
        resp = self.boto().list_objects_v2(Bucket=BUCKET)  # type: ignore[attr-defined]
        return sorted(o["Key"] for o in resp.get("Contents", []))

    def uploads_in_progress(self) -> list[str]:
        resp = self.boto().list_multipart_uploads(Bucket=BUCKET)  # type: ignore[attr-defined]
        return [u["Key"] for u in resp.get("Uploads", [])]


@pytest.fixture
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server process on 127.0.0.1 enforcing credentials."""
    port = _free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_CALLS)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                # /moto-api/ is moto's own endpoint: it does not count as an S3/IAM request.
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)  # a child process's start-up: nothing to wait on but a port
        anon = {"aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", **anon)
        iam.create_user(UserName="backup")
        iam.put_user_policy(
            UserName="backup",
            PolicyName="all",
            PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Action":"*","Resource":"*"}]}',
        )
        key = iam.create_access_key(UserName="backup")["AccessKey"]
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **anon)
        s3.create_bucket(Bucket=BUCKET)
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class FakeClock:
    """The schedule controller's clock: real time plus whatever the test advanced it by."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, by: timedelta) -> None:
        self.offset += by


@dataclass
class BackupEnv:
    """A LocalCluster with the operator (cluster and backup controllers) and an S3 server."""

    cluster: LocalCluster
    s3: S3Server
    clock: FakeClock

    @property
    def client(self) -> Client:
        return self.cluster.client

    async def credentials(self, name: str = SECRET, *, key: str = "", secret: str = "") -> None:
        data = {
            "AWS_ACCESS_KEY_ID": key or self.s3.access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret or self.s3.secret_access_key,
        }
        await self.client.create(
            Secret(
                metadata={"name": name, "namespace": NAMESPACE},
                data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
            )
        )

    def s3_destination(self, *, endpoint: str = "", secret: str = SECRET) -> dict[str, object]:
        return {
            "s3": {
                "endpoint": endpoint or self.s3.endpoint,
                "bucket": BUCKET,
                "prefix": "etcd/",
                "forcePathStyle": True,
                "credentialsSecret": {"name": secret},
            }
        }

    async def backup(self, name: str, cluster: str, destination: dict[str, object]) -> None:
        await self.client.create(
            EtcdBackup.model_validate(
                {
                    "metadata": {"name": name, "namespace": NAMESPACE},
                    "spec": {"clusterName": cluster, "destination": destination},
                }
            )
        )

    async def finished(self, name: str, deadline: float = 60) -> EtcdBackup:
        """Wait until the backup is Succeeded or Failed; return it."""

        async def done() -> bool:
            try:
                b = await self.client.get(EtcdBackup, name, NAMESPACE)
            except NotFound:
                return False
            return b.status is not None and b.status.phase in ("Succeeded", "Failed")

        await eventually(done, timeout=deadline, message=f"EtcdBackup {name} finished")
        return await self.client.get(EtcdBackup, name, NAMESPACE)

    async def create_cluster(self, name: str, size: int, spec: dict[str, object]) -> None:
        await self.client.create(
            EtcdCluster.model_validate(
                {
                    "metadata": {"name": name, "namespace": NAMESPACE},
                    "spec": {"size": size, "version": "3.5.1", **spec},
                }
            )
        )


@contextlib.asynccontextmanager
async def running_operator(cluster: LocalCluster, clock: FakeClock) -> AsyncIterator[None]:
    """The operator (cluster and backup controllers, short deadlines) running on ``cluster``
    under its ServiceAccount with the RBAC generated from those controllers (the e2e
    harness's :func:`etcd_e2e.running_operator`): Secrets (storage credentials, TLS
    certificates) are read with the generated rules, never as the admin."""

    def build(client: Client) -> Manager:
        reconciler = EtcdClusterReconciler(E2E_POLICY, steady_interval=1.0, busy_interval=0.3)
        return build_manager(
            client,
            reconciler=reconciler,
            backups=True,
            schedule=BackupScheduleReconciler(clock=clock, max_interval=0.2),
            health_address=None,
            metrics_address=None,
        )

    async with e2e_running_operator(cluster, build):
        yield


@contextlib.asynccontextmanager
async def local_cluster() -> AsyncIterator[LocalCluster]:
    """A LocalCluster with both CRDs installed and the operator's image registered (the
    restore steps' ``python``, played by this interpreter: the demo's resolver)."""
    async with LocalCluster(
        backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0, resolver=operator_resolver()
    ) as cluster:
        await install_crds(cluster.client, EtcdCluster, EtcdBackup)
        yield cluster


@pytest_asyncio.fixture
async def backup_env(s3_server: S3Server) -> AsyncIterator[BackupEnv]:
    """A LocalCluster with the CRDs installed and the operator running."""
    async with local_cluster() as cluster:
        clock = FakeClock()
        async with running_operator(cluster, clock):
            yield BackupEnv(cluster, s3_server, clock)
