"""The beyond-the-paper table: which runs it takes, row order, the ZO-SGD difference, that the paper's
tables never take its runs, and its LaTeX: booktabs, written by write_report, fitting a 6.75 in page."""

from __future__ import annotations

import itertools
import pathlib
from typing import Any

import pytest

from reports import latex
from reports.beyond import beyond, beyond_runs
from reports.build import build_report, write_report
from reports.cells import MixingError
from reports.runs import runs_frame
from reports.select import figure5_runs, ratio_runs, table1_runs, table2_runs
from reports.tables import Skipped

from latexpage import assert_fits_a_page, needs_pdflatex



def _record(index: int, optimizer: str, seed: int, avg: float, **params: Any) -> dict[str, Any]:
    values = {"method": "ease", "dataset": "digits", "q": 1, "historical": 0.0, "sparsity": 0.0, "hybrid": 0.0,
              "seed": seed, "profile": "corrected", **params, "optimizer": optimizer}
    return {"run_id": f"r{index}", "experiment": "beyond", "end_time": 1000 + index,
            **{key: str(value) for key, value in values.items()},
            "avg_acc": avg, "last_acc": avg - 10, "forgetting": 5.0}


def _runs() -> list[dict[str, Any]]:
    records = []
    for seed, shift in ((1, 0.0), (2, 2.0)):
        records += [_record(len(records), "zo-sgd", seed, 70 + shift),
                    _record(len(records) + 1, "zo-lozo", seed, 73 + shift),
                    _record(len(records) + 2, "zo-muon", seed, 60 + shift, fo_head=True),
                    _record(len(records) + 3, "zo-sgd", seed, 75 + shift, fo_head=True),
                    _record(len(records) + 4, "zo-lozo", seed, 90 + shift, historical=0.2),  # enhanced: out
                    _record(len(records) + 5, "fo-sgd", seed, 95 + shift)]  # not a ZO estimator: out
    return records


def _shown(records: list[dict[str, Any]]) -> list[list[str]]:
    """Each row as printed: its labels, then its entries."""
    frame = beyond(runs_frame(records)).display()
    return [[*labels, *values] for labels, values in zip(frame.index, frame.to_numpy().tolist())]


def test_selects_zo_sgd_and_the_new_estimators_without_enhancements() -> None:
    selected = beyond_runs(runs_frame(_runs()))
    assert sorted(set(zip(selected["optimizer"], selected["_head"]))) == [
        ("zo-lozo", "ZO"), ("zo-muon", "FO"), ("zo-sgd", "FO"), ("zo-sgd", "ZO")]


def test_rows_reference_first_with_the_difference_from_zo_sgd_under_the_same_head() -> None:
    rows = _shown(_runs())
    assert [row[2:4] for row in rows] == [["ZO", "ZO-SGD"], ["ZO", "LOZO"], ["FO", "ZO-SGD"], ["FO", "ZO-Muon"]]
    assert rows[0][4:] == ["71.00 ± 1.41", "61.00 ± 1.41", "5.00 ± 0.00", "+0.00"]
    assert rows[1][-1] == "+3.00" and rows[3][-1] == "-15.00"  # 61 vs 76, ZO-SGD with a first-order head


def test_a_stated_estimator_setting_gets_its_own_row_compared_with_plain_zo_sgd() -> None:
    records = _runs() + [_record(100 + seed, "zo-hizoo", seed, 80.0, hessian_smooth=0.01) for seed in (1, 2)]
    records += [_record(200 + seed, "zo-hizoo", seed, 70.0, hessian_smooth=None) for seed in (1, 2)]
    rows = _shown(records)
    assert [row[3] for row in rows][:4] == ["ZO-SGD", "LOZO", "HiZOO", "HiZOO (hessian_smooth=0.01)"]
    assert rows[3][-1] == "+9.00"  # 80 vs ZO-SGD's 71


def test_plain_zo_sgd_counts_only_beside_a_trained_beyond_run_of_its_method_q_and_dataset() -> None:
    elsewhere = [_record(300 + seed, "zo-sgd", seed, 50.0, dataset="cub") for seed in (1, 2)]
    elsewhere += [_record(310 + seed, "zo-sgd", seed, 50.0, q=4) for seed in (1, 2)]
    elsewhere += [_record(320 + seed, "zo-lozo", seed, 10.0, epochs=0) for seed in (1, 2)]  # untrained
    selected = beyond_runs(runs_frame(_runs() + elsewhere))
    assert set(selected["dataset"]) == {"digits"} and set(selected["q"]) == {1}
    assert not selected["run_id"].isin(["r321", "r322"]).any()
    only_paper = [r for r in _runs() if r["optimizer"] in ("zo-sgd", "fo-sgd") and "fo_head" not in r]
    with pytest.raises(Skipped, match="beyond.tex skipped"):
        beyond(runs_frame(only_paper))


def test_the_paper_selections_take_only_plain_runs() -> None:
    """fo_head or an estimator's own setting keeps a run out of Tables 1-4 and Figure 5, on any optimizer."""
    records = _runs() + [_record(400, "fo-sgd", 1, 10.0, rank=4), _record(401, "zo-sgd", 1, 10.0, fo_head="true")]
    records += [_record(402, "zo-sgd", 1, 10.0, sparsity=0.5, fo_head=True)]
    runs = runs_frame(records)
    for taken in (table1_runs(runs), table2_runs(runs), ratio_runs(runs, "sparsity"), figure5_runs(runs)):
        assert set(taken["run_id"]) <= {"r0", "r5", "r6", "r11"}  # plain ZO-SGD and FO-SGD only
    assert {"r0", "r6"} <= set(table1_runs(runs)["run_id"])


def test_beyond_runs_beside_table1_cells_need_no_prefer_rule() -> None:
    report = build_report(runs_frame(_runs()))
    assert {t.name for t in report.tables} >= {"table1", "beyond"}
    table = next(t for t in report.tables if t.name == "beyond")
    assert "Profile: corrected." in table.caption and "--prefer" not in table.caption


def test_a_crowded_beyond_cell_needs_a_rule_and_the_caption_names_it() -> None:
    records = _runs() + [_record(500 + seed, "zo-lozo", seed, 50.0, lr=0.5) for seed in (1, 2, 3)]
    with pytest.raises(MixingError, match="beyond: cell ease/1/ZO/zo-lozo//digits"):
        build_report(runs_frame(records))
    table = beyond(runs_frame(records), "most-seeds")
    assert "--prefer most-seeds" in table.caption and table.notes
    assert table.display().iloc[1, 0] == "50.00 ± 0.00"  # LOZO: the config with three seeds


def test_latex_html_and_skip_through_write_report(tmp_path: pathlib.Path) -> None:
    lines = write_report(runs_frame(_runs()), tmp_path)
    assert f"wrote {tmp_path / 'beyond.tex'}" in lines
    tex = (tmp_path / "beyond.tex").read_text()
    assert tex.count("\\toprule") == tex.count("\\begin{tabular}") >= 1 and "\\label{tab:zfsweep-beyond}" in tex
    assert "$\\Delta$Avg" in tex and "fo\\_head" in tex
    assert "Beyond the paper" in (tmp_path / "report.html").read_text()
    only_first_order = [r for r in _runs() if r["optimizer"] == "fo-sgd"]
    lines = write_report(runs_frame(only_first_order), tmp_path)
    assert sum("beyond.tex skipped" in line for line in lines) == 1
    # The earlier report's beyond.tex is kept, never deleted, and named so it is not taken for this one's.
    assert (tmp_path / "beyond.tex").exists() and any(line.startswith("kept") and "beyond.tex" in line for line in lines)


def _full_grid() -> list[dict[str, Any]]:
    """grids/beyond.yaml's settings, three seeds: both methods, four data sets, q 1/4, both heads."""
    records: list[dict[str, Any]] = []
    optimizers = ("zo-sgd", "zo-sparse-mezo", "zo-lozo", "zo-subzero", "zo-hizoo", "zo-muon")
    settings = itertools.product(("ease", "aper"), ("cifar100", "cub", "imagenet-a", "omnibenchmark"),
                                 optimizers, (1, 4), (False, True))
    for i, (method, dataset, optimizer, q, head) in enumerate(settings):
        extra = [{}] + ([{"hessian_smooth": 0.01}] if optimizer == "zo-hizoo" else []) + \
            ([{"q": 16}] if optimizer == "zo-muon" and q == 1 else [])
        for j, params in enumerate(extra):
            for seed in (1993, 1994, 1995):
                records.append(_record(len(records), optimizer, seed, 60 + (i * 7 + j + seed) % 31 + 0.123,
                                       **{"method": method, "dataset": dataset, "q": q, "fo_head": head,
                                          **params}))
    return records


@needs_pdflatex
@pytest.mark.parametrize("store", ["digits", "full-grid"])
def test_beyond_tex_compiles_and_fits_a_page(store: str, tmp_path: pathlib.Path) -> None:
    records = _runs() if store == "digits" else _full_grid()
    (tmp_path / "beyond.tex").write_text(latex.render(beyond(runs_frame(records))))
    assert_fits_a_page(tmp_path / "beyond.tex", tmp_path)
