"""From an ``EtcdBackup`` destination to a store: credentials, object keys, locations."""

from __future__ import annotations

from etcd_operator.backup.models import S3Destination
from etcd_operator.backup.s3 import S3Config, StorageError
from opframe import Client, NotFound
from opframe.kinds import Secret

__all__ = ["ACCESS_KEY", "SECRET_KEY", "location_of", "object_key", "s3_config", "volume_file"]

ACCESS_KEY = "AWS_ACCESS_KEY_ID"
SECRET_KEY = "AWS_SECRET_ACCESS_KEY"


def object_key(s3: S3Destination, backup: str) -> str:
    """``<prefix><backup>.db``."""
    return f"{s3.prefix}{backup}.db"


def volume_file(path: str, backup: str) -> str:
    """A snapshot's path inside its volume: ``<path>/<backup>.db``."""
    return "/".join(p for p in (path.strip("/"), f"{backup}.db") if p)


def location_of(s3: S3Destination, backup: str) -> str:
    """``s3://bucket/<prefix><backup>.db``."""
    return f"s3://{s3.bucket}/{object_key(s3, backup)}"


async def s3_config(client: Client, namespace: str, s3: S3Destination) -> S3Config:
    """The bucket's config with the keys from the credentials Secret.

    Raises:
        StorageError: ``InvalidCredentials`` when the Secret or one of its keys is missing.
    """
    name = s3.credentials_secret.name
    try:
        secret = await client.get(Secret, name, namespace)
    except NotFound:
        raise StorageError(
            "InvalidCredentials",
            f"Secret {namespace}/{name} (spec.destination.s3.credentialsSecret) does not exist",
        ) from None
    data = secret.decoded()
    missing = [k for k in (ACCESS_KEY, SECRET_KEY) if not data.get(k)]
    if missing:
        raise StorageError(
            "InvalidCredentials", f"Secret {namespace}/{name} has no {' or '.join(missing)}"
        )
    return S3Config(
        bucket=s3.bucket,
        access_key_id=data[ACCESS_KEY].decode(),
        secret_access_key=data[SECRET_KEY].decode(),
        endpoint=s3.endpoint,
        region=s3.region,
        force_path_style=s3.force_path_style,
    )
