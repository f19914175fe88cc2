"""An SQLite store on a local disk is switched to a write-ahead log, one on a network file system is left
as it is, and the mount table is read as Linux writes it (orchestrator/store/journal.py)."""

import sqlite3
from pathlib import Path

import pytest

from orchestrator.store.journal import LOCAL_FILE_SYSTEMS, file_system, write_ahead
from orchestrator.store.tracking import Tracker

MOUNTS = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 27 0:50 /export/home /home rw,relatime shared:7 - nfs4 filer:/export/home rw,vers=4.2
41 40 0:51 / /home/alice/my\\040scratch rw - xfs /dev/sdb1 rw
42 27 0:52 / /lustre rw - lustre 10.0.0.1@tcp:/fs rw
"""


def test_the_nearest_mount_point_names_the_file_system() -> None:
    assert file_system(Path("/var/lib/x"), MOUNTS) == "ext4"
    assert file_system(Path("/home/alice/runs"), MOUNTS) == "nfs4"
    assert file_system(Path("/home/alice/my scratch/runs"), MOUNTS) == "xfs"  # \040 is a space
    assert file_system(Path("/home/alice/my scratchpad"), MOUNTS) == "nfs4"  # a prefix of a name is no mount
    assert file_system(Path("/lustre/project"), MOUNTS) == "lustre"
    assert file_system(Path("/anything"), "") is None


def _mode(database: Path) -> str:
    connection = sqlite3.connect(database)
    try:
        return str(connection.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        connection.close()


def test_a_store_on_a_local_disk_writes_ahead_and_one_on_nfs_keeps_its_journal(tmp_path: Path) -> None:
    local, remote = tmp_path / "local.db", tmp_path / "remote.db"
    for database in (local, remote):
        sqlite3.connect(database).close()
    assert write_ahead(local, f"1 0 0:1 / {tmp_path} rw - ext4 /dev/vda rw\n") == "wal"
    assert _mode(local) == "wal"
    assert write_ahead(remote, f"1 0 0:1 / {tmp_path} rw - nfs4 filer:/x rw\n") is None
    assert _mode(remote) == "delete"


def test_the_driver_opens_a_store_in_wal_mode_and_the_read_commands_leave_it(tmp_path: Path) -> None:
    kind = file_system(tmp_path)
    if kind not in LOCAL_FILE_SYSTEMS:
        pytest.skip(f"the temporary folder is on {kind}, not a local file system")
    uri, database = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlflow.db"
    Tracker(uri, "g", writes=False)  # a store made before stores wrote ahead
    assert _mode(database) == "delete"
    found = Tracker.existing(uri, "g")  # `zfsweep status`, a dry run
    assert found is not None and _mode(database) == "delete"
    tracker = Tracker(uri, "g")  # `zfsweep run`
    assert _mode(database) == "wal" and tracker.experiment_id == found.experiment_id
    assert Tracker.existing(uri, "g") is not None and _mode(database) == "wal"
