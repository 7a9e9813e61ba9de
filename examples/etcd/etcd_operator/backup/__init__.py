"""Backups of etcd clusters: ``EtcdBackup`` snapshots to S3 or a volume, schedules, restore.

- :mod:`~etcd_operator.backup.models`: the ``EtcdBackup`` resource and the backup and restore
  parts of the ``EtcdCluster`` spec;
- :mod:`~etcd_operator.backup.snapshot`: streaming a snapshot out of etcd and checking it;
- :mod:`~etcd_operator.backup.s3`: multipart upload, download and delete on S3-compatible
  storage (``aiobotocore``);
- :mod:`~etcd_operator.backup.controller`: the ``EtcdBackup`` reconciler;
- :mod:`~etcd_operator.backup.restore`: a new cluster whose every member is restored from a
  snapshot;
- :mod:`~etcd_operator.backup.fetch`: the program the restored members' init containers run.
"""

__all__: list[str] = []
