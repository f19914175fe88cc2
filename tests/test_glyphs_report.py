"""The untrained reference (`epochs: 0`) is its own labelled, never-bold row of Table 1, and no other table takes it."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.report import BASE_CONFIG, FakeRun
from reports import latex
from reports.runs import runs_frame
from reports.select import table2_runs
from reports.tables import table1, table1_cells


def run(avg: float, **params: Any) -> FakeRun:
    config = {**BASE_CONFIG, "method": "ease", "optimizer": "fo-sgd", "dataset": "glyphs", **params}
    return FakeRun(config, {"avg_acc": avg, "last_acc": avg, "forgetting": 1.0,
                            "peak_memory_gb": 0.1, "epoch_seconds": 1.0})


def frame(*runs: FakeRun) -> pd.DataFrame:
    return runs_frame(r.record(f"run{i}", end_time_ms=1000 * i) for i, r in enumerate(runs))


def test_untrained_runs_form_their_own_row_and_do_not_mix_with_fo_sgd() -> None:
    runs = frame(run(80.0, epochs=5, seed=1), run(82.0, epochs=5, seed=2), run(95.0, epochs=0, seed=1),
                 run(40.0, optimizer="zo-sgd", epochs=5, seed=1))
    data, notes, _ = table1_cells(runs)
    assert data[("ease", "fo-sgd", "glyphs", "avg_acc")].values == (80.0, 82.0)
    assert data[("ease", "untrained", "glyphs", "avg_acc")].values == (95.0,)
    assert notes == []
    lines = latex.render(table1(runs)).splitlines()
    untrained = [k for k, line in enumerate(lines) if "Untrained" in line]
    assert len(untrained) == 1 and "95.00" in lines[untrained[0]] and "textbf" not in lines[untrained[0]]
    assert lines[untrained[0] - 1].startswith(r"\cmidrule") and "& none &" in lines[untrained[0]]
    assert len(table2_runs(runs)) == 3


def test_without_untrained_runs_table1_has_no_untrained_row() -> None:
    assert "Untrained" not in latex.render(table1(frame(run(80.0, epochs=5))))
