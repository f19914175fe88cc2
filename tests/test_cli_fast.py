"""The fast CLI: `--help`, `list` and grid errors import none of the heavy libraries (times: python -m bench cli)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "ray", "mlflow", "timm", "pandas", "torchvision", "sqlalchemy")
PROBE = ("import sys, atexit; atexit.register(lambda: print('HEAVY=' + ','.join(m for m in {heavy!r} if m in "
         "sys.modules))); sys.argv[0] = 'zfsweep'; from orchestrator.cli import main; main()")


def heavy_imports(*args: str) -> tuple[int, list[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    line = next(line for line in done.stdout.splitlines() if line.startswith("HEAVY="))
    return done.returncode, [m for m in line[6:].split(",") if m], done.stderr


@pytest.mark.parametrize("args, code", [
    (["--help"], 0), (["run", "--help"], 0), (["list", "optimizers"], 0), (["list", "datasets"], 0),
])
def test_help_and_list_load_no_heavy_library(args: list[str], code: int) -> None:
    returncode, heavy, _ = heavy_imports(*args)
    assert returncode == code and heavy == []


@pytest.mark.parametrize("text", [
    "axes: {optimizer: [zo-nope]}\n",            # a value error: the optimizer registry without torch
    "fixed: {lr: 1}\nfixed: {lr: 2}\n",          # a duplicate key
    "fixed: {dataset: digits, tasks: 0}\n",      # a range error
])
def test_grid_errors_load_no_heavy_library(tmp_path: Path, text: str) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    for extra in ([], ["--dry-run"]):
        returncode, heavy, stderr = heavy_imports("run", str(tmp_path / "bad.yaml"), *extra)
        assert returncode == 2 and heavy == [] and stderr.startswith("error: ") and len(stderr.splitlines()) == 1
