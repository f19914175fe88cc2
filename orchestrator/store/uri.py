"""Which MLflow store a command uses, decided without importing MLflow (a fast CLI needs that).

--tracking-uri, else MLFLOW_TRACKING_URI, else an SQLite file `mlflow.db` in the working directory.
The URI is checked before MLflow sees it: MLflow reads a path without a scheme as a folder
store and an unknown scheme as a plugin, and fails much later with a traceback. Only `zfsweep
run` may create an SQLite store (in a folder that exists); `status`, `ui` and `report` read
one, so a missing file means a wrong folder or a typo, and MLflow must not create it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from catalog.errors import InputError

DEFAULT_STORE = "mlflow.db"
SQLITE = "sqlite:///"
DATABASES = ("sqlite", "postgresql", "mysql", "mssql")  # SQLAlchemy dialects; `postgresql+psycopg` is postgresql
SERVERS = ("http", "https")
ALLOWED = ("sqlite:///PATH, postgresql://USER@HOST/DB, mysql://..., mssql://..., http(s)://HOST[:PORT], "
           "file:///FOLDER")


class StoreError(InputError):
    """A tracking URI that names no usable store; the message is one line: where it came from, what is allowed."""


def resolve_tracking_uri(uri: str | None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else an SQLite file in the working directory; checked."""
    if uri:
        return check_uri(uri, "--tracking-uri")
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    if from_env:
        return check_uri(from_env, "MLFLOW_TRACKING_URI")
    return f"{SQLITE}{Path(DEFAULT_STORE).resolve()}"


def check_uri(uri: str, source: str) -> str:
    """`uri` if it has a scheme MLflow stores runs in, with what that scheme needs; else StoreError."""
    shown = uri if len(uri) <= 120 else uri[:117] + "..."
    if not uri.isprintable():
        raise StoreError(f"{source}: {shown!r} is not printable text; allowed: {ALLOWED}")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower().split("+", 1)[0]
    if not scheme:
        raise StoreError(f"{source}: {shown!r} has no scheme; allowed: {ALLOWED}")
    if scheme not in (*DATABASES, *SERVERS, "file"):
        raise StoreError(f"{source}: {shown!r}: unknown scheme '{parts.scheme}'; allowed: {ALLOWED}")
    if scheme in SERVERS and not parts.hostname:
        raise StoreError(f"{source}: {shown!r} names no host; allowed: {parts.scheme}://HOST[:PORT]")
    if scheme == "sqlite" and (not uri.startswith(SQLITE) or uri == SQLITE):
        raise StoreError(f"{source}: {shown!r} names no file; allowed: sqlite:///PATH (sqlite:////ABSOLUTE/PATH)")
    if scheme in DATABASES[1:] and not parts.hostname:
        raise StoreError(f"{source}: {shown!r} names no host; allowed: {parts.scheme}://USER@HOST[:PORT]/DB")
    return uri


def sqlite_path(uri: str) -> Path | None:
    """The file of an SQLite store, None for any other store."""
    return Path(uri[len(SQLITE):]) if uri.startswith(SQLITE) else None


def missing_sqlite_store(uri: str) -> bool:
    """An SQLite store whose file does not exist yet: it holds no runs (and opening it would create it)."""
    path = sqlite_path(uri)
    return path is not None and not path.exists()


def require_store(uri: str) -> str:
    """`uri` if its store exists; StoreError `no store at PATH` for a missing SQLite file (created by nothing here)."""
    path = sqlite_path(uri)
    if path is not None and not path.is_file():
        raise StoreError(f"no store at {path.absolute()}: run `zfsweep run GRID` in that folder first, "
                         "or pass the --tracking-uri of the store that holds the runs")
    return uri


def creatable_store(uri: str) -> str:
    """`uri` if `zfsweep run` may use it: an SQLite store that exists, or whose folder does."""
    path = sqlite_path(uri)
    if path is not None and not path.is_file() and not path.absolute().parent.is_dir():
        raise StoreError(f"no store at {path.absolute()}, and no folder {path.absolute().parent} to create it in; "
                         "create the folder or pass another --tracking-uri")
    return uri
