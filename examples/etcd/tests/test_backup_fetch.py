"""The restore steps a seed's init containers run (``etcd_operator.backup.fetch``), on files.

``install`` follows etcd's rule that a data dir holding a member is never overwritten
(``etcdutl snapshot restore`` refuses an existing data dir: ``etcdutl/snapshot/v3_snapshot.go``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from etcd_operator.backup.fetch import copy, install
from etcd_operator.backup.snapshot import SnapshotCorrupt


def _snapshot(path: Path) -> str:
    db = os.urandom(4096)
    data = db + hashlib.sha256(db).digest()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_install_moves_the_restored_data_dir_into_place(tmp_path: Path) -> None:
    (tmp_path / "restore" / "data" / "member").mkdir(parents=True)
    install(tmp_path / "restore", tmp_path / "data")
    assert (tmp_path / "data" / "member").is_dir()
    assert not (tmp_path / "restore").exists()


def test_install_keeps_a_member_that_already_has_data(tmp_path: Path) -> None:
    (tmp_path / "restore" / "data" / "member").mkdir(parents=True)
    (tmp_path / "data" / "member").mkdir(parents=True)
    (tmp_path / "data" / "member" / "mine").write_text("old")
    message = install(tmp_path / "restore", tmp_path / "data")
    assert "keeping" in message
    assert (tmp_path / "data" / "member" / "mine").read_text() == "old"
    assert not (tmp_path / "restore").exists()


def test_copy_checks_the_recorded_hash(tmp_path: Path) -> None:
    sha = _snapshot(tmp_path / "snap.db")
    assert copy(tmp_path / "snap.db", sha, tmp_path / "out" / "snapshot.db") > 0
    assert (tmp_path / "out" / "snapshot.db").read_bytes() == (tmp_path / "snap.db").read_bytes()


def test_copy_of_a_changed_file_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    _snapshot(tmp_path / "snap.db")
    out = tmp_path / "out" / "snapshot.db"
    with pytest.raises(SnapshotCorrupt, match="SHA-256"):
        copy(tmp_path / "snap.db", "0" * 64, out)
    assert list(out.parent.iterdir()) == []


def test_copy_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(SnapshotCorrupt, match=r"nope\.db does not exist"):
        copy(tmp_path / "nope.db", "0" * 64, tmp_path / "out" / "snapshot.db")
