"""Tables 1-4 as pure functions of a runs DataFrame: selection, seeds, configs, dashes, bold."""

from __future__ import annotations

import pathlib
from typing import Any

import pandas as pd
import pytest

from bench.report import BASE_CONFIG, FakeRun
from reports.build import write_report
from reports.cells import Cell, prepare
from reports.ratios import ratio_blocks, table3, table4
from reports.runs import runs_frame
from reports.tables import table1, table1_cells, table2, table2_cells


def run(avg: float = 70.0, last: float = 60.0, fgt: float = 10.0, **params: Any) -> FakeRun:
    config = {**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": "cifar100",
              **params}
    metrics = {"avg_acc": avg, "last_acc": last, "forgetting": fgt,
               "peak_memory_gb": 2.41, "epoch_seconds": 32.4}
    return FakeRun(config, metrics)


def frame(*runs: FakeRun) -> pd.DataFrame:
    return runs_frame(r.record(f"run{i}", end_time_ms=1000 * i) for i, r in enumerate(runs))


def body(tex: str) -> list[list[str]]:
    rows = tex.split("\\midrule", 1)[1].split("\\bottomrule")[0].splitlines()
    return [[e.strip() for e in line[:-2].split("&")] for line in rows if line.endswith("\\\\")]


def test_seeds_are_mean_and_sample_std() -> None:
    runs = frame(run(70.0, seed=1), run(72.0, seed=2), run(80.0, optimizer="fo-sgd"))
    data, _ = table1_cells(runs)
    assert data[("ease", "zo-sgd", "cifar100", "avg_acc")] == Cell((70.0, 72.0))
    row = body(table1(runs).text or "")[1]
    assert row[:4] == ["", "", "ZO", "71.00$\\pm$1.41"]
    assert row[6] == "--"  # CUB Avg: no run


def test_a_seed_logged_twice_counts_once_the_latest_kept() -> None:
    runs = frame(run(10.0, seed=1, data_root="/a"), run(70.0, seed=1, data_root="/b"),
                 run(72.0, seed=2))
    data, notes = table1_cells(runs)
    assert data[("ease", "zo-sgd", "cifar100", "avg_acc")] == Cell((70.0, 72.0))
    assert notes == []


def test_a_cell_with_two_configs_keeps_the_one_with_more_seeds_and_says_so() -> None:
    runs = frame(run(50.0, epochs=5, seed=1), run(70.0, seed=1), run(72.0, seed=2))
    data, notes = table1_cells(runs)
    assert data[("ease", "zo-sgd", "cifar100", "avg_acc")] == Cell((70.0, 72.0))
    assert notes == ["table1: ease/zo-sgd/cifar100 has 2 configs differing in epochs; "
                     "kept the one with 2 seed(s)"]


def test_sparsity_mode_does_not_split_plain_runs() -> None:
    runs = frame(run(70.0, seed=1, sparsity_mode="exact"),
                 run(72.0, seed=2, sparsity_mode="released"))
    chosen, notes = prepare(runs, ("dataset",), "t")
    assert len(chosen) == 2 and notes == []


def test_table1_takes_only_q1_runs_without_enhancement() -> None:
    runs = frame(run(70.0), run(1.0, q=4), run(2.0, historical=0.2), run(3.0, sparsity=0.1),
                 run(4.0, hybrid=0.5), run(5.0, method="other"))
    data, _ = table1_cells(runs)
    assert list(data.values())[0] == Cell((70.0,)) and len(data) == 3


def test_missing_enhancement_params_read_as_off() -> None:
    records = [run(70.0).record("a")]
    for name in ("q", "historical", "sparsity", "hybrid"):
        del records[0][name]
    data, _ = table1_cells(runs_frame(records))
    assert data[("ease", "zo-sgd", "cifar100", "avg_acc")] == Cell((70.0,))


def test_table1_columns_are_the_paper_datasets_plus_digits_when_present() -> None:
    without = table1(frame(run())).text or ""
    with_digits = table1(frame(run(), run(dataset="digits"))).text or ""
    assert "Digits" not in without and "\\multicolumn{3}{c}{OmniBenchmark}" in without
    assert "\\multicolumn{3}{c}{Digits}" in with_digits
    assert all(len(r) == 3 + 3 * 5 for r in body(with_digits))


def test_table1_bold_uses_welch_between_seeded_entries() -> None:
    runs = frame(
        run(80.0, 70, 10, seed=1), run(81.0, 71, 11, seed=2), run(79.0, 69, 9, seed=3),
        run(79.5, 40, 20, optimizer="zo-sgd-sign", seed=1),
        run(80.2, 41, 21, optimizer="zo-sgd-sign", seed=2),
        run(79.9, 42, 22, optimizer="zo-sgd-sign", seed=3),
    )
    rows = body(table1(runs).text or "")
    zo, sign = rows[1], rows[2]
    assert zo[3].startswith("\\textbf") and sign[3].startswith("\\textbf")  # Avg: no real gap
    assert zo[4].startswith("\\textbf") and not sign[4].startswith("\\textbf")  # Last: clear gap
    assert zo[5].startswith("\\textbf") and not sign[5].startswith("\\textbf")  # Fgt: lower wins


def test_table2_rows_are_the_papers_six_for_ease() -> None:
    runs = frame(run(optimizer="fo-sgd"), run(q=4), run(optimizer="zo-adam"), run(method="aper"),
                 run(optimizer="forward-grad", dataset="cub"))
    data, _ = table2_cells(runs)
    filled = [("fo-sgd", 1, "cifar100"), ("zo-sgd", 4, "cifar100"), ("forward-grad", 1, "cub")]
    metrics = ("peak_memory_gb", "epoch_seconds")
    assert set(data) == {(o, q, d, m) for o, q, d in filled for m in metrics}
    rows = body(table2(runs).text or "")
    assert [r[0] for r in rows] == ["FO-SGD", "ZO-SGD ($q=1$)", "ZO-SGD ($q=4$)", "ZO-SGD-Sign",
                                    "ZO-SGD-Conserve", "Forward-Grad"]
    assert rows[2][1:3] == ["2.41", "32.4"] and rows[1][1:] == ["--"] * 8


@pytest.mark.parametrize("ratio, builder", [("historical", table3), ("sparsity", table4)])
def test_ratio_tables_take_the_plain_run_as_zero_and_skip_without_varied_runs(
    ratio: str, builder: Any
) -> None:
    plain = run(57.87, 48.32, 11.08, dataset="imagenet-a")
    assert builder(frame(plain)).text is None
    runs = frame(plain, run(58.9, 49.04, 11.79, dataset="imagenet-a", **{ratio: 0.5}),
                 run(1.0, dataset="imagenet-a", hybrid=0.5, **{ratio: 0.5}),
                 run(2.0, dataset="imagenet-a", optimizer="zo-adam", **{ratio: 0.5}))
    text = builder(runs).text or ""
    rows = body(text)
    labels = text.split("Metric & ")[1].split(" \\\\")[0].split(" & ")
    assert labels[0] == "0" and "50" in labels  # the paper's ratios plus the one we ran
    at_zero, at_half = 2, 2 + labels.index("50")
    assert rows[0][at_zero] == "57.87" and rows[0][at_half] == "\\textbf{58.90}"
    assert rows[2][at_zero] == "\\textbf{11.08}"  # lower forgetting is better
    assert all(entry == "--" for entry in rows[0][3:at_half])
    assert rows[0][0].startswith("ImageNet-A")


def test_table4_has_one_block_per_mask_mode_sharing_the_plain_run() -> None:
    runs = frame(run(50.0, dataset="cub"),
                 run(60.0, dataset="cub", sparsity=0.3, sparsity_mode="exact"),
                 run(61.0, dataset="cub", sparsity=0.3, sparsity_mode="released"))
    blocks, _ = ratio_blocks(runs, "sparsity")
    assert [(b.dataset, b.mode) for b in blocks] == [("cub", "exact"), ("cub", "released")]
    assert all(b.cells[(0.0, "avg_acc")] == Cell((50.0,)) for b in blocks)
    assert [b.cells[(0.3, "avg_acc")].mean for b in blocks] == [60.0, 61.0]
    assert "CUB (released mask)" in (table4(runs).text or "")


def test_partial_data_skips_with_reasons_and_removes_stale_files(tmp_path: pathlib.Path) -> None:
    (tmp_path / "table3.tex").write_text("old")
    lines = write_report(frame(run(method="aper")), tmp_path)
    assert (tmp_path / "table1.tex").exists() and not (tmp_path / "table3.tex").exists()
    assert "table2.tex skipped" in "\n".join(lines)
    assert f"removed {tmp_path / 'table3.tex'} left by an earlier report" in lines
    assert not any("failed" in line for line in lines)
