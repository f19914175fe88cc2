"""Every test builds its decode-once data caches in one session folder, never in ~/.cache; tests marked
`cuda` are skipped where no CUDA device is visible."""

from __future__ import annotations

import os
from typing import Iterator

import pytest


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
