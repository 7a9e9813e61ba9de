"""``python -m etcd_operator.backup.fetch``: the restore steps a seed pod's init containers run.

- ``fetch``: stream a snapshot object from S3 into a file in the member's volume (credentials
  from ``$AWS_ACCESS_KEY_ID``/``$AWS_SECRET_ACCESS_KEY``), checking its SHA-256 against the
  one the ``EtcdBackup`` recorded and etcd's own integrity hash; a mismatch exits 1 and leaves
  no file behind;
- ``install``: move the restored data dir into place, unless the member already has data
  (a pod recreated on its persistent volume keeps what it has).

Each failure is one line on stderr naming what failed (the container's log), exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from pathlib import Path

from etcd_operator.backup.s3 import S3Config, S3Store, StorageError
from etcd_operator.backup.snapshot import SnapshotCorrupt, SnapshotDigest

__all__ = ["fetch", "install", "main"]


async def fetch(config: S3Config, key: str, sha256: str, out: Path) -> int:
    """Download ``key`` to ``out`` through a ``.part`` file; return its size.

    Raises:
        StorageError: the object could not be read.
        SnapshotCorrupt: the object is not the snapshot the backup recorded.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    digest = SnapshotDigest()
    try:
        async with S3Store(config) as store:
            with part.open("wb") as f:
                async for chunk in store.download(key):
                    digest.update(chunk)
                    f.write(chunk)
        digest.verify()
        if digest.sha256 != sha256:
            raise SnapshotCorrupt(
                f"s3://{config.bucket}/{key} has SHA-256 {digest.sha256}, expected {sha256}"
            )
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(out)
    return digest.size


def install(source: Path, target: Path) -> str:
    """Move ``source/data`` to ``target`` unless ``target`` holds a member; clean ``source``."""
    try:
        if (target / "member").exists():
            return f"{target} already holds a member: keeping its data"
        if target.exists():
            shutil.rmtree(target)
        (source / "data").replace(target)
        return f"restored data installed in {target}"
    finally:
        shutil.rmtree(source, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run ``fetch`` or ``install``."""
    parser = argparse.ArgumentParser(prog="python -m etcd_operator.backup.fetch")
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download and check a snapshot")
    f.add_argument("--endpoint")
    f.add_argument("--bucket", required=True)
    f.add_argument("--key", required=True)
    f.add_argument("--region", default="us-east-1")
    f.add_argument("--path-style", action="store_true")
    f.add_argument("--sha256", required=True)
    f.add_argument("--out", required=True, type=Path)
    i = sub.add_parser("install", help="move the restored data dir into place")
    i.add_argument("--from", dest="source", required=True, type=Path)
    i.add_argument("--to", dest="target", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.command == "install":
        print(install(args.source, args.target))
        return 0
    key_id, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        print("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set", file=sys.stderr)
        return 1
    # Start from a clean restore dir: a previous, interrupted attempt may have left one.
    shutil.rmtree(args.out.parent, ignore_errors=True)
    config = S3Config(
        bucket=args.bucket,
        access_key_id=key_id,
        secret_access_key=secret,
        endpoint=args.endpoint,
        region=args.region,
        force_path_style=args.path_style,
    )
    try:
        size = asyncio.run(fetch(config, args.key, args.sha256, args.out))
    except (StorageError, SnapshotCorrupt) as e:
        print(f"restore: {e}", file=sys.stderr)
        return 1
    print(f"fetched s3://{args.bucket}/{args.key}: {size} bytes, SHA-256 {args.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
