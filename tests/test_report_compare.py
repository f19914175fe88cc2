"""--compare paper: the published numbers as data, and their pairing with our cells."""

from __future__ import annotations

import pathlib

import pandas as pd

from bench.report import BASE_CONFIG, FakeRun
from reports import paper
from reports.build import write_report
from reports.compare import compare_latex, compare_text, comparison_frame, comparisons
from reports.runs import runs_frame

EASE_ZO = {**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": "imagenet-a"}


def test_published_numbers_are_complete_and_spot_on() -> None:
    table1 = paper.table1()
    assert len(table1) == 18 * 4 * 3
    assert table1[("ease", "fo-sgd", "cifar100", "avg_acc")] == 91.23
    assert table1[("aper", "fo-adam", "omnibenchmark", "avg_acc")] == 76.60
    assert table1[("aper", "forward-grad", "omnibenchmark", "forgetting")] == 7.87
    assert paper.TABLE2[("zo-sgd", 4)] == (2.41, (111.7, 28.7, 18.0, 221.3))
    assert paper.TABLE3[0.0] == paper.TABLE4[0.0] == (57.87, 48.32, 11.08)
    assert paper.TABLE4[0.9] == (59.47, 49.24, 12.33)
    # The enhancement tables' plain run is Table 1's EASE ZO-SGD on ImageNet-A.
    assert paper.TABLE1_ROWS[("ease", "zo-sgd")][6:9] == paper.TABLE3[0.0]
    assert paper.COMBINED["ZO-SGD +historical"] == paper.TABLE3[0.2][:2]


def _paper_as_runs() -> list[FakeRun]:
    """Runs whose metrics are exactly the published numbers of every table."""
    runs = []
    for (method, optimizer), values in paper.TABLE1_ROWS.items():
        for d, dataset in enumerate(paper.DATASETS):
            metrics = dict(zip(paper.ACCURACY_METRICS, values[3 * d:3 * d + 3]))
            if method == "ease" and (optimizer, 1) in paper.TABLE2:
                memory, times = paper.TABLE2[(optimizer, 1)]
                metrics |= {"peak_memory_gb": memory, "epoch_seconds": times[d]}
            params = {**BASE_CONFIG, "method": method, "optimizer": optimizer, "dataset": dataset}
            runs.append(FakeRun(params, metrics))
    memory, times = paper.TABLE2[("zo-sgd", 4)]
    for d, dataset in enumerate(paper.DATASETS):
        params = {**EASE_ZO, "dataset": dataset, "q": 4}
        runs.append(FakeRun(params, {"peak_memory_gb": memory, "epoch_seconds": times[d]}))
    for ratio, table in (("historical", paper.TABLE3), ("sparsity", paper.TABLE4)):
        for value, numbers in table.items():
            if value > 0:
                params = {**EASE_ZO, ratio: value, "sparsity_mode": "released"}
                runs.append(FakeRun(params, dict(zip(paper.ACCURACY_METRICS, numbers))))
    combined = {"avg_acc": 0.0, "last_acc": 0.0}
    for name, params in (("ZO-SGD +hybrid", {"hybrid": 0.875}),
                         ("ZO-SGD +hybrid +historical +sparsity",
                          {"hybrid": 0.875, "historical": 0.2, "sparsity": 0.5})):
        numbers = dict(zip(combined, paper.COMBINED[name]))
        runs.append(FakeRun({**EASE_ZO, **params}, numbers))
    return runs


def frame(runs: list[FakeRun]) -> pd.DataFrame:
    return runs_frame(r.record(f"r{i}") for i, r in enumerate(runs))


def test_runs_with_the_published_numbers_match_every_one_of_them() -> None:
    items = comparisons(frame(_paper_as_runs()))
    assert len(items) == 216 + 48 + 15 + 30 + 10
    missing = [i for i in items if i.ours is None]
    assert missing == []
    assert max(abs(i.ours.mean - i.paper) for i in items if i.ours) < 1e-9
    text = compare_text(comparison_frame(items))
    for table, count in (("Table 1", 216), ("Table 2", 48), ("Table 3", 15), ("Table 4", 30),
                         ("Combined", 10)):
        assert f"{table}: {count} of {count} published numbers have runs; mean |diff| 0.00" in text


def test_differences_are_ours_minus_paper_and_only_compared_rows_are_typeset(
    tmp_path: pathlib.Path,
) -> None:
    run = FakeRun({**EASE_ZO, "dataset": "cifar100"}, {"avg_acc": 80.0, "last_acc": 68.40})
    lines = write_report(frame([run]), tmp_path, compare_paper=True)
    assert f"wrote {tmp_path / 'compare_paper.tex'}" in lines
    tex = (tmp_path / "compare_paper.tex").read_text()
    assert tex.count("\\begin{table}") == 1  # only Table 1, CIFAR-100 has a run
    row = [line for line in tex.splitlines() if line.startswith("EASE ZO-SGD &")]
    assert row == [
        "EASE ZO-SGD & 78.62 & 80.00 & +1.38 & 68.40 & 68.40 & +0.00 & 15.64 & -- & -- \\\\"
    ]
    text = (tmp_path / "compare_paper.txt").read_text()
    assert "Table 1: 2 of 216 published numbers have runs; mean |diff| 0.69, max |diff| 1.38" \
        in text
    assert "Table 3: 0 of 15 published numbers have runs" in text


def test_no_overlap_with_the_paper_is_a_skip_line(tmp_path: pathlib.Path) -> None:
    run = FakeRun({**EASE_ZO, "dataset": "digits"}, {"avg_acc": 80.0})
    lines = write_report(frame([run]), tmp_path, compare_paper=True)
    assert "compare_paper skipped: no run matches a setting the paper published" in lines
    assert not (tmp_path / "compare_paper.tex").exists()


def test_negative_differences_are_typeset_as_math_minus() -> None:
    run = FakeRun({**EASE_ZO, "dataset": "cub"}, {"avg_acc": 88.0})
    tex = compare_latex(comparisons(frame([run])))
    assert "EASE ZO-SGD & 88.94 & 88.00 & $-$0.94 &" in tex
