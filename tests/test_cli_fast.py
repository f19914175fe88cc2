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


@pytest.mark.parametrize("args, fragment", [
    (["trial", "--optimizer", "zo-nope"], "'optimizer': unknown value 'zo-nope'; allowed: "),
    (["trial", "--tasks", "0"], "'tasks': must be an integer > 0"),
    (["trial", "--lr", "nan"], "'lr': must be a finite number"),
])
def test_trial_flags_are_checked_before_torch_loads(args: list[str], fragment: str) -> None:
    returncode, heavy, stderr = heavy_imports(*args)
    assert returncode == 2 and heavy == [] and stderr.startswith("error: ") and fragment in stderr, stderr
    assert len(stderr.splitlines()) == 1


def test_trial_help_lists_the_allowed_values_and_glyphs_is_the_default_data_set() -> None:
    from click.testing import CliRunner

    from orchestrator.cli import main
    from catalog.names import DATASET_NAMES as DATASETS
    from catalog.names import PROFILES
    from catalog.optimizers import optimizer_names

    text = " ".join(CliRunner().invoke(main, ["trial", "--help"], terminal_width=1000).output.split())
    assert f"--dataset TEXT one of {', '.join(DATASETS)} (default: glyphs)" in text, text
    assert f"one of {', '.join(optimizer_names())} (default: fo-sgd)" in text
    assert f"one of {', '.join(PROFILES)} (default: corrected)" in text
    assert "--schedule TEXT one of cosine, constant (default: paper preset)" in text


def test_version_and_list_experiments_answer_without_heavy_libraries(tmp_path: Path) -> None:
    from importlib.metadata import version

    done = subprocess.run([sys.executable, "-c", "from orchestrator.cli import main; main()", "--version"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == f"zfsweep {version('zfsweep')}", done.stdout
    returncode, heavy, stderr = heavy_imports("list", "experiments", "--tracking-uri", f"sqlite:///{tmp_path}/none.db")
    assert returncode == 2 and stderr.startswith(f"error: no store at {tmp_path}/none.db") and heavy == []


def test_a_dry_run_imports_only_what_its_grid_uses(tmp_path: Path) -> None:
    # A cub grid and a store not made yet: no scikit-learn (digits), matplotlib (glyphs), MLflow or Ray.
    from test_data import write_folders

    write_folders(tmp_path / "data", "cub")
    (tmp_path / "cub.yaml").write_text(f"fixed: {{dataset: cub, data_root: {tmp_path / 'data'}, method: aper, "
                                       "optimizer: zo-sgd, backbone: test_vit, weights: random, image_size: 32, tasks: 2}\n")
    unused = ("sklearn", "matplotlib", "mlflow", "ray", "pandas", "sqlalchemy")
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=unused), "run", str(tmp_path / "cub.yaml"),
                           "--dry-run", "--tracking-uri", f"sqlite:///{tmp_path / 'new.db'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "HEAVY=\n" in done.stdout + "\n" and not (tmp_path / "new.db").exists(), done.stdout[-300:]
