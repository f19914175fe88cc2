"""The beyond-the-paper table: which runs it takes, row order, the ZO-SGD difference, output files."""

from __future__ import annotations

import pathlib
import re
from typing import Any

from reports.beyond import beyond_markdown, beyond_runs, beyond_table
from reports.build import write_report
from reports.runs import runs_frame


def _record(index: int, optimizer: str, seed: int, avg: float, **params: Any) -> dict[str, Any]:
    values = {"method": "ease", "dataset": "digits", "q": 1, "historical": 0.0, "sparsity": 0.0, "hybrid": 0.0,
              "seed": seed, **params, "optimizer": optimizer}
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


def test_selects_zo_sgd_and_the_new_estimators_without_enhancements() -> None:
    selected = beyond_runs(runs_frame(_runs()))
    assert sorted(set(zip(selected["optimizer"], selected["fo_head"]))) == [
        ("zo-lozo", "False"), ("zo-muon", "True"), ("zo-sgd", "False"), ("zo-sgd", "True")]


def test_rows_reference_first_with_the_difference_from_zo_sgd_under_the_same_head() -> None:
    markdown = beyond_markdown(runs_frame(_runs()))
    rows = [line for line in markdown.splitlines()[2:]]
    assert [row.split(" | ")[2:4] for row in rows] == [["ZO-SGD", "ZO"], ["LOZO", "ZO"], ["ZO-SGD", "FO"],
                                                      ["ZO-Muon", "FO"]]
    assert "71.00 ± 1.41" in rows[0] and rows[1].rstrip(" |").endswith("+3.00")
    assert rows[3].rstrip(" |").endswith("-15.00")  # 61 vs 76, ZO-SGD with a first-order head


def test_a_stated_estimator_setting_gets_its_own_row_compared_with_plain_zo_sgd() -> None:
    records = _runs() + [_record(100 + seed, "zo-hizoo", seed, 80.0, hessian_smooth=0.01) for seed in (1, 2)]
    records += [_record(200 + seed, "zo-hizoo", seed, 70.0, hessian_smooth=None) for seed in (1, 2)]
    rows = beyond_markdown(runs_frame(records)).splitlines()[2:]
    labels = [row.split(" | ")[2] for row in rows]
    assert labels[:4] == ["ZO-SGD", "LOZO", "HiZOO", "HiZOO (hessian_smooth=0.01)"]
    assert rows[3].rstrip(" |").endswith("+9.00")  # 80 vs ZO-SGD's 71


def test_latex_is_one_booktabs_float_with_consistent_columns(tmp_path: pathlib.Path) -> None:
    lines = write_report(runs_frame(_runs()), tmp_path)
    assert f"wrote {tmp_path / 'beyond.tex'}" in lines
    tex = (tmp_path / "beyond.tex").read_text()
    assert tex.count("\\toprule") == 1 and "\\label{tab:beyond}" in tex
    width = len(re.findall(r"[lcr]", re.search(r"\\begin\{tabular\}\{([^}]*)\}", tex).group(1)))
    body = tex.split("\\midrule")[1].split("\\bottomrule")[0]
    assert all(line.count("&") + 1 == width for line in body.splitlines() if line.endswith("\\\\"))


def test_no_qualifying_run_skips_the_table_and_removes_a_stale_one(tmp_path: pathlib.Path) -> None:
    (tmp_path / "beyond.tex").write_text("old")
    only_first_order = [r for r in _runs() if r["optimizer"] == "fo-sgd"]
    assert beyond_table(runs_frame(only_first_order)).text is None
    lines = write_report(runs_frame(only_first_order), tmp_path)
    assert not (tmp_path / "beyond.tex").exists() and any("beyond.tex skipped" in line for line in lines)
