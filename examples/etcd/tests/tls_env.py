"""Helpers of the TLS tests: supplied Secrets, a TLS write/read-back workload, etcdctl calls."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aetcd
from etcd_e2e import NAMESPACE, EtcdEnv, settled
from etcd_operator import tls
from etcd_operator.models import EtcdCluster, EtcdClusterSpec, StorageSpec, TLSSpec
from etcd_operator_demo.workload import KeyWriter, member_endpoints, write_throughout

from opframe import NotFound, ObjectMeta, Secret

ETCDCTL = shutil.which("etcdctl")
KUBECTL = shutil.which("kubectl")


def tls_secret(name: str, pair: tls.KeyPair, ca: bytes) -> Secret:
    """A ``kubernetes.io/tls`` Secret with ``ca.crt``, as cert-manager writes them."""

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode()

    return Secret(
        metadata=ObjectMeta(name=name, namespace=NAMESPACE),
        type="kubernetes.io/tls",
        data={"tls.crt": b64(pair.cert), "tls.key": b64(pair.key), "ca.crt": b64(ca)},
    )


async def supply_secrets(env: EtcdEnv, cluster: str) -> tls.KeyPair:
    """Issue a CA and peer/server/client leaves for ``cluster`` (SANs as documented), store
    them as ``<cluster>-{peer,server,client}`` Secrets; return the CA."""
    now = dt.datetime.now(dt.UTC)
    ca = tls.issue_ca("test CA", now)
    probe = EtcdCluster(metadata={"name": cluster, "namespace": NAMESPACE}, spec={})
    for role in tls.ROLES:
        dns, ips = tls.sans(probe, role)
        leaf = tls.issue_leaf(ca, f"{cluster}-{role}", role, dns, ips, now, dt.timedelta(days=1))
        await env.client.create(tls_secret(f"{cluster}-{role}", leaf, ca.cert))
    return ca


async def client_tls(env: EtcdEnv, secret: str, cluster: str) -> tls.ClientTLS:
    """The client credentials in Secret ``secret`` (read now: renewals are picked up)."""
    s = await env.client.get(Secret, secret, NAMESPACE)
    data = s.decoded()
    return tls.ClientTLS(
        ca=data["ca.crt"],
        cert=data["tls.crt"],
        key=data["tls.key"],
        server_name=f"{cluster}-client.{NAMESPACE}.svc",
    )


async def create_generating(
    env: EtcdEnv,
    size: int,
    what: str,
    *,
    validity: str | None = None,
    storage: StorageSpec | None = None,
    deadline: float = 90,
) -> None:
    """Create cluster ``e2e`` of ``size`` members whose certificates the operator generates
    (``spec.tls.autoGenerate``, valid for ``validity`` where given) and wait until it has
    settled (``what`` names that state in the timeout message)."""
    tls_spec = TLSSpec(auto_generate=True)
    if validity is not None:
        tls_spec = TLSSpec(auto_generate=True, certificate_validity=validity)
    spec = EtcdClusterSpec(size=size, tls=tls_spec)
    if storage is not None:
        spec = EtcdClusterSpec(size=size, tls=tls_spec, storage=storage)
    await env.client.create(
        EtcdCluster(metadata={"name": "e2e", "namespace": NAMESPACE}, spec=spec)
    )
    await env.until(settled(size), what, deadline=deadline)


@contextlib.asynccontextmanager
async def writing_tls(env: EtcdEnv, secret: str, name: str = "e2e") -> AsyncIterator[KeyWriter]:
    """``EtcdEnv.writing`` over TLS: each new connection uses the client Secret as it is now."""

    async def connect(host: str, port: int) -> aetcd.Client:
        try:
            creds = await client_tls(env, secret, name)
        except NotFound:
            creds = None
        return tls.connect(host, port, tls=creds, timeout=2)

    async with write_throughout(
        lambda: member_endpoints(env.client, NAMESPACE, name, "https"), connect=connect
    ) as writer:
        yield writer


def write_client_files(creds: tls.ClientTLS, directory: Path) -> tuple[Path, Path, Path]:
    """ca.crt, tls.crt, tls.key on disk for etcdctl (the key readable by its owner only)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, cert, key = directory / "ca.crt", directory / "tls.crt", directory / "tls.key"
    ca.write_bytes(creds.ca)
    cert.write_bytes(creds.cert)
    key.write_bytes(creds.key)
    os.chmod(key, 0o600)
    return ca, cert, key


async def etcdctl(env: EtcdEnv, pod: str, *args: str) -> tuple[int, str]:
    """Run Debian's etcdctl (v3 API) in member ``pod`` through ``kubectl exec``, where the
    cluster's DNS names resolve (the pod's hosts file); return its exit code and output."""
    assert ETCDCTL is not None and KUBECTL is not None
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        f"--kubeconfig={env.cluster.kubeconfig}",
        "exec",
        "-n",
        NAMESPACE,
        pod,
        "-c",
        "etcd",
        "--",
        "/usr/bin/env",
        "ETCDCTL_API=3",
        ETCDCTL,
        "--command-timeout=5s",
        "--dial-timeout=3s",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(30.0):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "timed out"
    return proc.returncode or 0, out.decode(errors="replace")
