"""An SQLite store on a local disk keeps a write-ahead log: each MLflow write costs a third less.

In its default journal mode (DELETE) SQLite writes a rollback journal beside the database on
every commit, syncs it, syncs the database and deletes the journal; MLflow commits several times
per run it writes, so a sweep of short trials spends much of its writer's time there (docs/scale.md).
In WAL mode a commit appends to one log and syncs it once, readers (the MLflow UI, `zfsweep status`)
no longer block the driver's writes, and what a commit wrote is as durable as before
(`synchronous` stays FULL). The mode is a property of the file, so it is set once, as the driver
opens the store, and every later connection uses it.

WAL needs the database's readers and writers to share memory, which a network file system
(NFS, Lustre, GPFS, CIFS, ...) cannot give (https://sqlite.org/wal.html): a store on anything but a
local file system keeps its journal mode. The file system is read from /proc/self/mountinfo, so
this applies on Linux only; elsewhere nothing changes.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

MOUNTS = Path("/proc/self/mountinfo")
# File systems of one machine's own disks (or memory) that SQLite's shared memory works on.
LOCAL_FILE_SYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "jfs", "bcachefs",
                                "reiserfs", "tmpfs", "ramfs", "overlay"})
SWITCH_TIMEOUT_SECONDS = 2.0  # a reader holding the file (an MLflow UI) makes the switch wait, at most this


def file_system(path: Path, mounts: str | None = None) -> str | None:
    """The type of the file system holding `path` (the mount point nearest to it in `mounts`, the text of
    /proc/self/mountinfo); None where that cannot be read."""
    if mounts is None:
        try:
            mounts = MOUNTS.read_text()
        except OSError:
            return None
    target = str(path.resolve())
    found: tuple[int, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        point = _unescape(fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (found is None or len(point) >= found[0]):
            found = (len(point), line.split(" - ", 1)[1].split()[0])
    return found[1] if found else None


def _unescape(field: str) -> str:
    """A mountinfo path field, whose spaces, tabs, newlines and backslashes are written as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def write_ahead(database: Path, mounts: str | None = None) -> str | None:
    """Put the SQLite file `database` in WAL mode if it lies on a local file system; the journal mode it
    has then (None: left as it was, on another file system or where the switch could not be made)."""
    if database.name == ":memory:" or file_system(database.parent, mounts) not in LOCAL_FILE_SYSTEMS:
        return None
    try:
        with contextlib.closing(sqlite3.connect(database, timeout=SWITCH_TIMEOUT_SECONDS)) as connection:
            return str(connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
    except sqlite3.Error:  # busy past the timeout, or not writable: it works as before, only slower
        return None
