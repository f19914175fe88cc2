"""The `search:` block's up-front checks, the held-out split, and the tuned table on a page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from catalog.records import VALIDATION_METRIC
from orchestrator.cli import main
from orchestrator.commands import load_grid
from orchestrator.grid.cells import sampled_spec, search_cells, tuned_specs
from reports import latex
from reports.runs import runs_frame
from reports.tuned import grid_runs, tuned
from trainers.data import build_benchmark
from trainers.data.core import hold_out

from latexpage import assert_fits_a_page, needs_pdflatex

BASE = """name: block
fixed: {dataset: digits, method: aper, epochs: 1}
axes: {optimizer: [zo-sgd, fo-sgd]}
"""
GOOD = "search: {space: {lr: {loguniform: [1.0e-5, 1.0e-1]}}, samples: 3}\n"


def dry_run(tmp_path: Path, text: str) -> tuple[int, str]:
    (tmp_path / "grid.yaml").write_text(text)
    result = CliRunner().invoke(main, ["run", str(tmp_path / "grid.yaml"), "--dry-run",
                                       "--tracking-uri", f"sqlite:///{tmp_path}/store.db"])
    return result.exit_code, result.output


@pytest.mark.parametrize(("block", "fragment"), [
    ("search: {space: {lr: {loguniform: [1.0e-5, 1.0e-1]}}, sample: 3}",
     "'search.sample': unknown search key; did you mean 'samples'?"),
    ("search: {space: {}}", "'search.space': must name at least one setting to search"),
    ("search: {space: {lr: {uniform: [-1.0, 1.0]}}}", "'search.space.lr.uniform': -1.0: must be a number >= 0"),
    ("search: {space: {lr: {loguniform: [-1.0e-3, 1.0]}}}", "'search.space.lr.loguniform': must have low > 0"),
    ("search: {space: {lr: {loguniform: [1.0e-5, 1.0]}}, per: [method, optimiser]}",
     "'search.per': unknown setting; did you mean 'optimizer'?"),
    ("search: {space: {lr: {loguniform: [1.0e-5, 1.0]}}, per: [method]}",
     "'search.per': trials of cell aper differ in batch_size, lr, optimizer, schedule; add optimizer to"),
    ("search: {space: {seed: {choice: [1, 2]}}}", "'search.space.seed': cannot be searched"),
    ("search: {space: {lr: {between: [1, 2]}}}", "'search.space.lr': must be one of {uniform: [low, high]}"),
    ("search: {space: {lr: {loguniform: [1.0e-5, 1.0]}}, validation: 0.9}", "'search.validation': must be a share"),
    ("search: {space: {lr: {loguniform: [1.0e-5, 1.0]}}, algorithm: grid}", "'search.algorithm': unknown algorithm"),
])
def test_bad_blocks_give_one_line_and_exit_2_writing_nothing(tmp_path: Path, block: str, fragment: str) -> None:
    code, output = dry_run(tmp_path, BASE + block + "\n")
    assert code == 2 and fragment in output and len(output.strip().splitlines()) == 1, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]


def test_a_good_block_plans_the_search_and_defaults_to_three_seeds(tmp_path: Path) -> None:
    code, output = dry_run(tmp_path, BASE + GOOD)
    assert code == 0, output
    assert "search: 2 cells x 3 samples of lr" in output, output
    grid = load_grid(str(tmp_path / "grid.yaml"))
    assert sorted({spec.config.seed for spec in grid.trials}) == [1993, 1994, 1995]
    cells = search_cells(grid)
    assert [cell.label for cell in cells] == ["aper/zo-sgd/digits", "aper/fo-sgd/digits"]
    sample = sampled_spec(cells[0], {"lr": 0.003})
    assert sample.config.seed == 1993 and sample.config.validation == 0.1 and sample.config.lr == 0.003
    assert sample.config_hash not in {spec.config_hash for spec in grid.trials}
    finals = tuned_specs(cells[0], {"lr": 0.003})
    assert [s.config.seed for s in finals] == [1993, 1994, 1995] and all(s.config.validation == 0 for s in finals)


def test_the_held_out_split_is_disjoint_balanced_and_stable_per_seed() -> None:
    benchmark = build_benchmark("digits", "data", seed=1993, tasks=5, image_size=8, validation=0.2)
    again = build_benchmark("digits", "data", seed=1993, tasks=5, image_size=8, validation=0.2)
    other = build_benchmark("digits", "data", seed=1994, tasks=5, image_size=8, validation=0.2)
    classes = range(0, 10)
    train, held = benchmark.training(classes), benchmark.validation(classes)
    assert not set(train) & set(held) and len(train) + len(held) == len(benchmark.train)
    counts = np.bincount(benchmark.train.labels[held], minlength=10)
    totals = np.bincount(benchmark.train.labels, minlength=10)
    assert np.all(np.abs(counts - 0.2 * totals) <= 1)  # class-balanced
    assert np.array_equal(held, again.held_out) and not np.array_equal(benchmark.held_out, other.held_out)
    full = build_benchmark("digits", "data", seed=1993, tasks=5, image_size=8)
    assert full.held_out.size == 0 and len(full.training(classes)) == len(full.train)  # reruns train on all
    assert hold_out(np.array([0, 0, 1]), 0.5, 1).tolist() in ([0], [1])  # a one-image class keeps its image


def _record(run_id: str, **values: object) -> dict[str, object]:
    base = {"run_id": run_id, "experiment": "tune", "dataset": "glyphs", "profile": "corrected", "epochs": 8,
            "tasks": 10, "q": 1, "avg_acc": 40.0, "last_acc": 30.0, "forgetting": 10.0}
    return {**base, **values}


def searched_frame() -> object:
    records = []
    for method in ("ease", "aper"):
        for optimizer in ("fo-sgd", "fo-adam", "zo-sgd", "zo-sgd-sign", "zo-sgd-conserve", "zo-adam",
                          "zo-adam-sign", "zo-adam-conserve", "forward-grad"):
            cell = f"{method}/{optimizer}/glyphs"
            common = {"method": method, "optimizer": optimizer, "cell": cell}
            for i, lr in enumerate((1e-4, 1e-3, 1e-2, 0.1)):
                records.append(_record(f"{cell}-s{i}", **common, phase="search", searched="lr", lr=lr, seed=1993,
                                       validation=0.2, stopped_early="true" if i == 0 else None,
                                       **{VALIDATION_METRIC: 40.0 + i}))
            for seed in (1993, 1994, 1995):
                records.append(_record(f"{cell}-t{seed}", **common, phase="tuned", lr=0.1, seed=seed, avg_acc=45.5))
                records.append(_record(f"{cell}-p{seed}", **common, phase="preset", lr=1e-2, seed=seed))
        for seed in (1993, 1994, 1995):
            records.append(_record(f"{method}-u{seed}", method=method, optimizer="fo-sgd", epochs=0, lr=0.3,
                                   seed=seed, avg_acc=42.0))
    return runs_frame(records, extra_metrics=[VALIDATION_METRIC])


def test_the_tuned_table_pairs_with_the_untrained_run_and_the_paper_tables_never_take_searched_runs() -> None:
    frame = searched_frame()
    table = tuned(frame)
    assert len(table.rows) == 18 and table.rows[0][3] == "lr 0.1"
    best, preset_val, avg, _, _, preset_avg, paired = table.cells[0]
    assert best.mean == 43.0 and preset_val.mean == 42.0 and avg.n == 3 and avg.mean == 45.5
    assert preset_avg.mean == 40.0 and paired.n == 3 and paired.mean == pytest.approx(3.5)
    assert set(grid_runs(frame)["phase"].dropna()) == {"preset"}


@needs_pdflatex
def test_the_tuned_table_fits_a_page(tmp_path: Path) -> None:
    (tmp_path / "tuned.tex").write_text(latex.render(tuned(searched_frame())))
    assert_fits_a_page(tmp_path / "tuned.tex", tmp_path)
