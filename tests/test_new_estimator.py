"""A new estimator is two files: its strategy module and one entry in catalog/optimizers.py.

A copy of this checkout gets exactly those two edits (a toy estimator: SPSA whose estimate is
halved before the step) and nothing else; then, in that copy, the grid check accepts it with its
own setting and refuses a setting it does not take, the presets resolve it, the dry-run prints
its cost line, a trial trains with it and the reports label it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("catalog", "orchestrator", "trainers", "reports", "bench")
STRATEGY = '''"""A toy estimator for tests: two-point SPSA with the estimate halved before the step."""

from __future__ import annotations

from trainers.optim.zeroth_order import ZerothOrder


class Toy(ZerothOrder):
    def shape_estimate(self) -> None:
        for p in self.params:
            p.grad.mul_(0.5)
'''
ENTRY = '''    "zo-toy": Beyond("trainers.optim.toy:Toy", "Toy-ZO", "SPSA with a halved estimate (a test)", {"rank": 3}),
'''
TABLE_START = "BEYOND: Mapping[str, Beyond] = MappingProxyType({\n"
GRID = "name: toy\nfixed: {dataset: digits, method: aper, tasks: 2, epochs: 1, optimizer: zo-toy, rank: 2}\n"
CHECK = """
from catalog.config import make_config
from reports.beyond import BEYOND_LABELS
from reports.select import OPTIMIZER_LABELS
from trainers.presets import resolve
config = resolve(make_config({"optimizer": "zo-toy", "dataset": "digits", "rank": 2}))
print(config.lr, config.epochs, config.rank, BEYOND_LABELS["zo-toy"], "zo-toy" in OPTIMIZER_LABELS)
"""


def _copy_with_toy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "trainers" / "optim" / "toy.py").write_text(STRATEGY)
    table = tree / "catalog" / "optimizers.py"
    text = table.read_text()
    assert text.count(TABLE_START) == 1
    table.write_text(text.replace(TABLE_START, TABLE_START + ENTRY))
    return tree


def _run(tree: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_toy_estimator_runs_from_its_module_and_one_entry(tmp_path: Path) -> None:
    tree = _copy_with_toy(tmp_path)
    cli = ["-c", "from orchestrator.cli import main; main()"]
    (tmp_path / "grid.yaml").write_text(GRID)

    listed = _run(tree, tmp_path, *cli, "list", "optimizers")
    assert "zo-toy" in listed.stdout.split()

    planned = _run(tree, tmp_path, *cli, "run", "grid.yaml", "--dry-run", "--tracking-uri",
                   f"sqlite:///{tmp_path / 'store.db'}")
    assert planned.returncode == 0, planned.stderr
    assert "estimate: 1 trials" in planned.stdout and planned.stdout.strip().endswith("1 trials: 0 finished, 1 to run")

    (tmp_path / "bad.yaml").write_text(GRID.replace("rank: 2", "ns_steps: 2"))
    refused = _run(tree, tmp_path, *cli, "run", "bad.yaml", "--dry-run")
    assert refused.returncode == 2 and "zo-toy does not take it; allowed with:" in refused.stderr

    checked = _run(tree, tmp_path, "-c", CHECK)
    assert checked.stdout.split() == ["0.01", "3", "2", "Toy-ZO", "False"], checked.stderr

    trained = _run(tree, tmp_path, *cli, "trial", "--optimizer", "zo-toy", "--dataset", "digits", "--method", "aper",
                   "--tasks", "2", "--epochs", "1", "--json")
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout.strip().splitlines()[-1])
    assert len(result["acc"]) == 2 and result["forward_passes"] > 0
