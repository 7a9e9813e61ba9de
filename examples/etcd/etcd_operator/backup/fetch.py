"""``python -m etcd_operator.backup.fetch``: the restore steps a restored member's init
containers run, and the snapshot pod of a backup to a volume.

- ``fetch``: stream a snapshot object from S3 into a file in the member's volume (credentials
  from ``$AWS_ACCESS_KEY_ID``/``$AWS_SECRET_ACCESS_KEY``), checking its SHA-256 against the
  one the ``EtcdBackup`` recorded and etcd's own integrity hash; a mismatch exits 1 and leaves
  no file behind;
- ``save``: stream a snapshot from a member into a file on a volume (the snapshot pod of an
  ``EtcdBackup`` with a volume destination), printing one JSON line with ``sizeBytes``,
  ``sha256`` and ``revision`` (or ``reason`` and ``message``) for the operator to read back
  from the pod's log;
- ``copy``: like ``fetch``, from a file on a mounted volume;
- ``install``: move the restored data dir into place, unless the member already has data
  (a pod recreated on its persistent volume keeps what it has).

Each failure is one line on stderr naming what failed (the container's log), exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

from etcd_operator.backup.s3 import S3Config, S3Store, StorageError
from etcd_operator.backup.snapshot import (
    SnapshotCorrupt,
    SnapshotDigest,
    SnapshotError,
    open_snapshot,
)

__all__ = ["copy", "fetch", "install", "main", "save"]


async def save(endpoint: str, out: Path) -> dict[str, object]:
    """Snapshot the member at ``endpoint`` into ``out`` (through a ``.part`` file).

    Raises:
        SnapshotError: the member did not give a complete, intact snapshot.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    digest = SnapshotDigest()
    try:
        async with await open_snapshot(endpoint) as snap:
            with part.open("wb") as f:
                async for chunk in snap.chunks():
                    digest.update(chunk)
                    f.write(chunk)
            revision = snap.revision
        digest.verify()
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(out)
    return {"sizeBytes": digest.size, "sha256": digest.sha256, "revision": revision}


def copy(source: Path, sha256: str, out: Path) -> int:
    """Copy the snapshot file ``source`` to ``out``, checking it as :func:`fetch` does."""
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    digest = SnapshotDigest()
    try:
        if not source.is_file():
            raise SnapshotCorrupt(f"{source} does not exist on the backup volume")
        with source.open("rb") as src, part.open("wb") as dst:
            while chunk := src.read(1024 * 1024):
                digest.update(chunk)
                dst.write(chunk)
        digest.verify()
        if digest.sha256 != sha256:
            raise SnapshotCorrupt(f"{source} has SHA-256 {digest.sha256}, expected {sha256}")
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(out)
    return digest.size


async def fetch(config: S3Config, key: str, sha256: str | None, out: Path) -> int:
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
        if sha256 and digest.sha256 != sha256:
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
    f.add_argument("--sha256", help="expected SHA-256 (etcd's own hash is checked anyway)")
    f.add_argument("--out", required=True, type=Path)
    sv = sub.add_parser("save", help="snapshot a member into a file")
    sv.add_argument("--endpoint", required=True)
    sv.add_argument("--out", required=True, type=Path)
    cp = sub.add_parser("copy", help="copy and check a snapshot file")
    cp.add_argument("--file", required=True, type=Path)
    cp.add_argument("--sha256", required=True)
    cp.add_argument("--out", required=True, type=Path)
    i = sub.add_parser("install", help="move the restored data dir into place")
    i.add_argument("--from", dest="source", required=True, type=Path)
    i.add_argument("--to", dest="target", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.command == "install":
        print(install(args.source, args.target))
        return 0
    if args.command == "save":
        try:
            result = asyncio.run(save(args.endpoint, args.out))
        except SnapshotError as e:
            print(json.dumps({"reason": "SnapshotFailed", "message": str(e)}), flush=True)
            return 1
        except OSError as e:
            message = f"cannot write {args.out} on the backup volume: {e.strerror}"
            print(json.dumps({"reason": "VolumeUnwritable", "message": message}), flush=True)
            return 1
        print(json.dumps(result), flush=True)
        return 0
    if args.command == "copy":
        shutil.rmtree(args.out.parent, ignore_errors=True)
        try:
            size = copy(args.file, args.sha256, args.out)
        except SnapshotCorrupt as e:
            print(f"restore: {e}", file=sys.stderr)
            return 1
        print(f"copied {args.file}: {size} bytes, SHA-256 {args.sha256}")
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
    print(f"fetched s3://{args.bucket}/{args.key}: {size} bytes, checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
