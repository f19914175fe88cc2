"""Which MLflow store a command uses, decided without importing MLflow (a fast CLI needs that).

--tracking-uri, else MLFLOW_TRACKING_URI, else an SQLite file `mlflow.db` in the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STORE = "mlflow.db"
SQLITE = "sqlite:///"


def resolve_tracking_uri(uri: str | None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else an SQLite file in the working directory."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{Path(DEFAULT_STORE).resolve()}"


def missing_sqlite_store(uri: str) -> bool:
    """An SQLite store whose file does not exist yet: it holds no runs (and opening it would create it)."""
    return uri.startswith(SQLITE) and not Path(uri[len(SQLITE):]).exists()
