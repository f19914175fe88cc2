"""What `make demo` writes stays out of `git status`, and no generated data is committed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from trainers.data.glyphs import cil_path

ROOT = Path(__file__).resolve().parents[1]


def git(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60)


def test_generated_data_is_ignored_and_none_is_committed() -> None:
    generated = cil_path("data").as_posix()  # the glyph cache `make demo` renders under ./data
    for path in (generated, "mlflow.db", "results/report.html", "ray_results/smoke/x", "data/cub/train/a/1.jpg"):
        assert git("check-ignore", "-q", "--no-index", path).returncode == 0, path
    assert git("ls-files", "data").stdout == ""
