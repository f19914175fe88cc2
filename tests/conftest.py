"""Shared test set-up: decode-once data caches in one session folder (never in ~/.cache), tests
marked `cuda` skipped where no CUDA device is visible, and one real MLflow tracking server for the
tracking tests of the session."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from servers import MlflowServer


@pytest.fixture(autouse=True, scope="session")
def _data_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = os.environ.get("ZFSWEEP_CACHE_DIR")
    os.environ["ZFSWEEP_CACHE_DIR"] = str(tmp_path_factory.mktemp("zfsweep-cache"))
    yield
    if previous is None:
        os.environ.pop("ZFSWEEP_CACHE_DIR", None)
    else:
        os.environ["ZFSWEEP_CACHE_DIR"] = previous


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """`mlflow server` on an SQLite store (starting one takes most of a minute on a small machine)."""
    folder = tmp_path_factory.mktemp("tracking_server")
    server = MlflowServer(f"sqlite:///{folder / 'server.db'}", folder).start()
    yield server
    server.stop()
