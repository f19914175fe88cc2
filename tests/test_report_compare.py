"""--compare paper: the published numbers as data, and their pairing with our cells."""

from __future__ import annotations

import pathlib

import pandas as pd

from bench.report import BASE_CONFIG, FakeRun, paper_runs
from catalog import paper
from reports import latex
from reports.build import write_report
from reports.compare import compare_tables, compare_text, comparison_frame, comparisons, of_profile
from reports.runs import runs_frame

EASE_ZO = {**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": "imagenet-a",
           "profile": "released"}


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


def frame(runs: list[FakeRun]) -> pd.DataFrame:
    return runs_frame(r.record(f"r{i}") for i, r in enumerate(runs))


def test_runs_with_the_published_numbers_match_every_one_of_them() -> None:
    items = comparisons(frame(paper_runs()))
    assert len(items) == 216 + 16 + 48 + 15 + 30 + 10  # + the untrained reference: 2 methods x 4 data sets x 2
    missing = [i for i in items if i.ours is None]
    assert {i.setting for i in missing} == {"EASE untrained (prototype-only)", "APER untrained (prototype-only)"}
    assert max(abs(i.ours.mean - i.paper) for i in items if i.ours) < 1e-9
    text = compare_text(comparison_frame(items))
    for table, count, total in (("Table 1", 216, 232), ("Table 2", 48, 48), ("Table 3", 15, 15),
                                ("Table 4", 30, 30), ("Combined", 10, 10)):
        assert f"{table}: {count} of {total} published numbers have runs; mean |diff| 0.00" in text


def test_differences_are_ours_minus_paper_and_only_compared_rows_are_typeset(
    tmp_path: pathlib.Path,
) -> None:
    run = FakeRun({**EASE_ZO, "dataset": "cifar100"}, {"avg_acc": 80.0, "last_acc": 68.40})
    lines = write_report(frame([run]), tmp_path, compare_paper=True)
    assert f"wrote {tmp_path / 'compare_paper.tex'}" in lines
    tex = (tmp_path / "compare_paper.tex").read_text()
    assert tex.count("\\begin{table*}") == 1  # only Table 1, CIFAR-100 has a run
    row = [line for line in tex.splitlines() if line.startswith("EASE ZO-SGD &")]
    below = "\\textsuperscript{\\dag}"  # under prototype-only SimpleCIL's 87.57 / 81.28 on CIFAR-100
    assert row == [
        f"EASE ZO-SGD & 78.62{below} & 80.00{below} & +1.38 & 68.40{below} & 68.40{below} & +0.00 & 15.64 & -- & -- \\\\"
    ]
    reference = [line for line in tex.splitlines() if line.startswith("EASE untrained (prototype-only) &")]
    assert reference == ["EASE untrained (prototype-only) & 87.57 & -- & -- & 81.28 & -- & -- & -- & -- & -- \\\\"]
    assert "ours (profile released)" in tex
    text = (tmp_path / "compare_paper.txt").read_text()
    assert text.startswith("Runs compared: profile released.")
    assert "Table 1: 2 of 232 published numbers have runs; mean |diff| 0.69, max |diff| 1.38" \
        in text
    assert "Table 3: 0 of 15 published numbers have runs" in text


def test_no_overlap_with_the_paper_is_a_skip_line(tmp_path: pathlib.Path) -> None:
    run = FakeRun({**EASE_ZO, "dataset": "digits"}, {"avg_acc": 80.0})
    lines = write_report(frame([run]), tmp_path, compare_paper=True)
    assert ("compare_paper skipped: no run of profile released matches a setting the paper published "
            "(--compare-profile chooses another profile, or all)") in lines
    assert not (tmp_path / "compare_paper.tex").exists()


def test_negative_differences_are_typeset_as_math_minus() -> None:
    run = FakeRun({**EASE_ZO, "dataset": "cub"}, {"avg_acc": 88.0})
    tex = "".join(latex.render(t) for t in compare_tables(comparisons(frame([run])), "released"))
    below = "\\textsuperscript{\\dag}"  # under prototype-only SimpleCIL's 92.24 on CUB
    assert f"EASE ZO-SGD & 88.94{below} & 88.00{below} & $-$0.94 &" in tex


def test_released_runs_are_compared_by_default_and_the_choice_is_an_option(tmp_path: pathlib.Path) -> None:
    corrected = FakeRun({**EASE_ZO, "dataset": "cub", "profile": "corrected"}, {"avg_acc": 88.0})
    lines = write_report(frame([corrected]), tmp_path, compare_paper=True)
    assert any(line.startswith("compare_paper skipped: no run of profile released") for line in lines)
    write_report(frame([corrected]), tmp_path, compare_paper=True, compare_profile="corrected")
    assert "ours (profile corrected)" in (tmp_path / "compare_paper.tex").read_text()
    assert len(of_profile(frame([corrected]), "all")) == 1


def test_cpu_memory_is_never_set_beside_the_papers_gpu_memory() -> None:
    cpu = FakeRun({**EASE_ZO, "dataset": "cub"}, {"peak_memory_gb": 1.2, "epoch_seconds": 3.0},
                  tags={"zfsweep.device": "cpu"})
    gpu = FakeRun({**EASE_ZO, "dataset": "cifar100"}, {"peak_memory_gb": 2.5, "epoch_seconds": 30.0},
                  tags={"zfsweep.device": "cuda", "zfsweep.device_name": "NVIDIA H100"})
    compared = {(i.dataset, i.metric) for i in comparisons(frame([cpu, gpu])) if i.ours and i.table == "Table 2"}
    assert compared == {("cifar100", "peak_memory_gb"), ("cifar100", "epoch_seconds")}


def test_the_untrained_reference_stands_beside_table1_with_its_marks() -> None:
    """Issue 23: the published prototype-only row, zfsweep's own 0-epoch run beside it, and marks
    on every paper and zfsweep Avg / Last below either reference († published, ‡ zfsweep's own)."""
    runs = [FakeRun({**EASE_ZO, "dataset": "cifar100"}, {"avg_acc": 86.0, "last_acc": 78.0}),
            FakeRun({**EASE_ZO, "dataset": "cifar100", "epochs": 0}, {"avg_acc": 85.0, "last_acc": 79.0})]
    (table,) = compare_tables(comparisons(frame(runs)), "released")
    rows = {labels[0]: r for r, labels in enumerate(table.rows)}
    printed = [table.text(rows["EASE ZO-SGD"], c)[0] for c in range(6)]
    assert printed == ["78.62†‡", "86.00†", "+7.38", "68.40†‡", "78.00†‡", "+9.60"]
    reference = [table.text(rows["EASE untrained (prototype-only)"], c)[0] for c in range(6)]
    assert reference == ["87.57", "85.00†", "-2.57", "81.28", "79.00†", "-2.28"]
    assert "RevisitingCIL logs" in table.caption and "‡: below zfsweep's own untrained" in table.caption
