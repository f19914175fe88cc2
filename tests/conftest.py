"""Every test builds its decode-once data caches in one session folder, never in ~/.cache."""

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
