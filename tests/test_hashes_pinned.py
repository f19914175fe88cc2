"""The config hashes of every shipped grid are a contract with the stores that hold their runs:
a refactor that changed one would re-run every finished trial. Pinned as (trials, digest of the
hashes in grid order) when the vocabulary moved to catalog/."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from orchestrator.grid.expand import load_grid

GRIDS = Path(__file__).resolve().parents[1] / "grids"
PINNED = {
    "beyond-digits.yaml": (42, "d491cc981ef4d78c"),
    "beyond.yaml": (240, "feda471dd2571c82"),
    "enhancements.yaml": (5, "0a2af1d48495f5d2"),
    "figure5.yaml": (12, "ebcc4b918f3fb0c6"),
    "full.yaml": (20824, "2bab2c798cf91a7a"),
    "mini.yaml": (39, "bba517c7522981e8"),  # changed on purpose: the glyphs lr presets found by tune-glyphs
    "smoke.yaml": (20, "10343e197e08eee0"),  # the same
    "tune-glyphs.yaml": (20, "3547c4fdeefdb954"),
    "table1.yaml": (72, "1e3c966afb6a6290"),
    "table2.yaml": (24, "e555e131a00003dc"),
    "table3.yaml": (5, "124425591766dff1"),
    "table4.yaml": (10, "c2833a45e4154afa"),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_grid_hashes_are_unchanged(name: str) -> None:
    hashes = [trial.config_hash for trial in load_grid(GRIDS / name).trials]
    assert (len(hashes), hashlib.sha256("\n".join(hashes).encode()).hexdigest()[:16]) == PINNED[name]
