"""Beyond the paper: the later zeroth-order estimators beside ZO-SGD, as LaTeX and Markdown.

Rows are (method, q, optimizer, head) with ZO-SGD first in each block, the head being
zeroth-order (the paper's setting) or first-order (`fo_head`); columns are Avg / Last / Fgt per
data set, mean ± sample std over seeds, and each row's Avg difference from ZO-SGD with the same
head in the same block. Runs come from any grid (grids/beyond.yaml, grids/beyond-digits.yaml,
Table 1's ZO-SGD runs): a run counts when its optimizer is one of these and no enhancement
(historical, sparsity, hybrid) is on. A run logged before `fo_head` existed counts as a
zeroth-order head. Cells pick one config as the other tables do (reports.cells).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from reports.cells import Cell, cells, prepare
from reports.select import ACCURACY, METHOD_LABELS, dataset_label, is_in, off, order_datasets

REFERENCE = "zo-sgd"
BEYOND_LABELS: dict[str, str] = {
    "zo-sgd": "ZO-SGD", "zo-sparse-mezo": "Sparse-MeZO", "zo-lozo": "LOZO", "zo-subzero": "SubZero",
    "zo-hizoo": "HiZOO", "zo-muon": "ZO-Muon",
}
KEYS = ("method", "q", "optimizer", "variant", "fo_head", "dataset")
# Each estimator's own settings: a row per value a grid states (empty: the registered default).
VARIANT_SETTINGS = ("magnitude_ratio", "rank", "period", "hessian_smooth", "ns_steps")
HEAD_LABELS = {"False": "ZO", "True": "FO"}


@dataclass(frozen=True)
class BeyondTable:
    """The rendered table (None when no run qualifies) and lines for the user."""

    text: str | None
    notes: tuple[str, ...] = ()


def beyond_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of ZO-SGD and the five estimators, enhancements off, with a string `fo_head` column."""
    selected = runs[is_in(runs, "optimizer", BEYOND_LABELS) & off(runs)].copy()
    head = selected["fo_head"] if "fo_head" in selected else pd.Series(pd.NA, index=selected.index)
    selected["fo_head"] = head.astype("string").fillna("False").replace({"true": "True", "false": "False"})
    selected["q"] = selected["q"].fillna(1)  # a run without q ran one query
    selected["variant"] = _variants(selected)
    return selected


def _variants(runs: pd.DataFrame) -> pd.Series:
    """'key=value, ...' of the estimator settings a run states, '' for registered defaults."""
    parts = []
    for key in VARIANT_SETTINGS:
        if key not in runs:
            continue
        text = runs[key].astype("string").fillna("None")
        parts.append(text.where(text == "None", key + "=" + text).replace("None", ""))
    if not parts:
        return pd.Series("", index=runs.index, dtype="string")
    joined = pd.concat(parts, axis=1).apply(lambda row: ", ".join(v for v in row if v), axis=1)
    return joined.astype("string") if len(joined) else pd.Series("", index=runs.index, dtype="string")


def _cell_maps(runs: pd.DataFrame) -> tuple[dict[str, dict[tuple[Any, ...], Cell]], list[str]]:
    chosen, notes = prepare(runs, KEYS, "beyond")
    return {metric: cells(chosen, KEYS, metric) for metric, _, _ in ACCURACY}, notes


Row = tuple[str, int, str, str, str]  # method, q, optimizer, variant, head


def _rows(runs: pd.DataFrame) -> list[Row]:
    """Rows present, in table order: ZO-SGD first, then the registry's order, defaults first."""
    order = list(BEYOND_LABELS)
    columns = ["method", "q", "optimizer", "variant", "fo_head"]
    present = {(m, int(q), o, v, h) for m, q, o, v, h in runs[columns].itertuples(index=False)}
    return sorted(present, key=lambda r: (list(METHOD_LABELS).index(r[0]) if r[0] in METHOD_LABELS else 9,
                                          r[1], r[4], order.index(r[2]), r[3]))


def _value(cell: Cell | None, latex: bool) -> str:
    if cell is None:
        return "--"
    if cell.n < 2 or math.isnan(cell.std):
        return f"{cell.mean:.2f}"
    return f"{cell.mean:.2f} $\\pm$ {cell.std:.2f}" if latex else f"{cell.mean:.2f} ± {cell.std:.2f}"


def _delta(maps: dict[str, dict[tuple[Any, ...], Cell]], row: Row, dataset: str) -> str:
    own = maps["avg_acc"].get((*row, dataset))
    reference = maps["avg_acc"].get((row[0], row[1], REFERENCE, "", row[4], dataset))
    if own is None or reference is None or row[2] == REFERENCE:
        return ""
    return f"{own.mean - reference.mean:+.2f}"


def _table_lines(runs: pd.DataFrame, latex: bool) -> tuple[list[str], list[str]]:
    maps, notes = _cell_maps(runs)
    datasets = order_datasets(runs["dataset"].dropna().unique())
    lines = []
    for row in _rows(runs):
        label = BEYOND_LABELS[row[2]] + (f" ({row[3]})" if row[3] else "")
        if latex:
            label = label.replace("_", "\\_")
        entries = [METHOD_LABELS.get(row[0], row[0]), str(row[1]), label, HEAD_LABELS.get(row[4], row[4])]
        for dataset in datasets:
            entries += [_value(maps[metric].get((*row, dataset)), latex) for metric, _, _ in ACCURACY]
            entries.append(_delta(maps, row, dataset))
        lines.append(" & ".join(entries) + r" \\" if latex else "| " + " | ".join(entries) + " |")
    return lines, notes


def _header(datasets: list[str], latex: bool) -> list[str]:
    metrics = [label for _, label, _ in ACCURACY] + ["ΔAvg" if not latex else r"$\Delta$Avg"]
    if latex:
        groups = " & ".join(f"\\multicolumn{{4}}{{c}}{{{dataset_label(d)}}}" for d in datasets)
        return [f"& & & & {groups} \\\\", "Method & $q$ & Optimizer & Head & " + " & ".join(metrics * len(datasets)) + r" \\"]
    names = [f"{dataset_label(d)} {m}" for d in datasets for m in metrics]
    row = ["Method", "q", "Optimizer", "Head", *names]
    return ["| " + " | ".join(row) + " |", "|" + "---|" * len(row)]


def beyond_table(runs: pd.DataFrame) -> BeyondTable:
    """booktabs LaTeX of the estimators beyond the paper beside ZO-SGD."""
    selected = beyond_runs(runs)
    if selected.empty:
        return BeyondTable(None, ("beyond.tex skipped: no run of ZO-SGD or the estimators beyond the paper",))
    datasets = order_datasets(selected["dataset"].dropna().unique())
    body, notes = _table_lines(selected, latex=True)
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\caption{Zeroth-order estimators beyond ZeroFlow beside ZO-SGD. Mean $\pm$ sample std over seeds; "
             r"$\Delta$Avg: difference from ZO-SGD with the same head (ZO: trained zeroth-order, "
             r"FO: \texttt{fo\_head}). --: no run.}", r"\label{tab:beyond}",
             f"\\begin{{tabular}}{{llll{'rrrr' * len(datasets)}}}", r"\toprule", *_header(datasets, True),
             r"\midrule", *body, r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return BeyondTable("\n".join(lines) + "\n", tuple(notes))


def beyond_markdown(runs: pd.DataFrame) -> str:
    """The same table as Markdown (for the README)."""
    selected = beyond_runs(runs)
    datasets = order_datasets(selected["dataset"].dropna().unique())
    body, _ = _table_lines(selected, latex=False)
    return "\n".join([*_header(datasets, False), *body]) + "\n"
