"""Fixtures shared by the tracking tests: one real MLflow tracking server for the session."""

from __future__ import annotations

from typing import Iterator

import pytest

from servers import MlflowServer


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """`mlflow server` on an SQLite store (starting one takes most of a minute on a small machine)."""
    folder = tmp_path_factory.mktemp("tracking_server")
    server = MlflowServer(f"sqlite:///{folder / 'server.db'}", folder).start()
    yield server
    server.stop()
