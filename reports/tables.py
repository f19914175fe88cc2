"""Tables 1 and 2 of ZeroFlow (arXiv 2501.01045) as booktabs LaTeX, from the runs DataFrame.

Table 1: Avg / Last / Fgt per method x optimizer x dataset at q = 1 with no enhancement, laid out
as in the paper (EASE then APER; SGD: FO, ZO, Sign, Conserve; Adam: the same; Forward). Bold is
decided within each method's block, column by column (see reports.significance), since the paper
compares optimizers under one method. Table 2: EASE's peak memory and time per epoch for the
paper's six (optimizer, q) rows, one column pair per dataset; it has no bold, like the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from reports import latex
from reports.cells import Cell, cells, prepare
from reports.select import (
    ACCURACY,
    METHOD_LABELS,
    TABLE2_ROWS,
    UNTRAINED,
    column_datasets,
    dataset_label,
    table1_runs,
    table2_runs,
)
from reports.significance import bold_marks

# (group label, ((optimizer, strategy label), ...)) in the paper's row order.
TABLE1_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("SGD", (("fo-sgd", "FO"), ("zo-sgd", "ZO"), ("zo-sgd-sign", "Sign"),
             ("zo-sgd-conserve", "Conserve"))),
    ("Adam", (("fo-adam", "FO"), ("zo-adam", "ZO"), ("zo-adam-sign", "Sign"),
              ("zo-adam-conserve", "Conserve"))),
    ("", (("forward-grad", "Forward"),)),
)
TABLE1_OPTIMIZERS: tuple[str, ...] = tuple(o for _, rows in TABLE1_GROUPS for o, _ in rows)
# Shown below the optimizers when runs with `epochs: 0` exist; never bold (it is no optimizer).
UNTRAINED_GROUP = ("", ((UNTRAINED, "Untrained ($0$ epochs)"),))
TABLE1_KEYS = ("method", "optimizer", "dataset")
TABLE2_KEYS = ("optimizer", "q", "dataset")
TABLE2_METRICS: tuple[tuple[str, str, int], ...] = (
    ("peak_memory_gb", "Mem.\\ (GB)", 2),
    ("epoch_seconds", "Time (s)", 1),
)
DECIMALS = 2

CellMap = dict[tuple[Any, ...], Cell]


@dataclass(frozen=True)
class Rendered:
    """A rendered output (None when there was nothing to render) and lines for the user."""

    text: str | None
    notes: tuple[str, ...] = ()


def keyed_cells(
    runs: pd.DataFrame, keys: tuple[str, ...], metrics: tuple[str, ...], scope: str
) -> tuple[CellMap, list[str]]:
    """Cells keyed by (*key values, metric) after the seed and config rules of reports.cells."""
    chosen, notes = prepare(runs, keys, scope)
    out: CellMap = {}
    for metric in metrics:
        for key, cell in cells(chosen, keys, metric).items():
            out[(*key, metric)] = cell
    return out, notes


def table1_cells(runs: pd.DataFrame) -> tuple[CellMap, list[str]]:
    """Table 1's cells keyed (method, optimizer, dataset, metric)."""
    metrics = tuple(metric for metric, _, _ in ACCURACY)
    return keyed_cells(table1_runs(runs), TABLE1_KEYS, metrics, "table1")


def table2_cells(runs: pd.DataFrame) -> tuple[CellMap, list[str]]:
    """Table 2's cells keyed (optimizer, q, dataset, metric)."""
    metrics = tuple(metric for metric, _, _ in TABLE2_METRICS)
    return keyed_cells(table2_runs(runs), TABLE2_KEYS, metrics, "table2")


def table1(runs: pd.DataFrame) -> Rendered:
    selected = table1_runs(runs)
    if selected.empty:
        return Rendered(None, ("table1.tex skipped: no FINISHED run has q = 1 and no enhancement",))
    data, notes = table1_cells(selected)
    if not data:
        return Rendered(None, (f"table1.tex skipped: its {len(selected)} runs logged no accuracy",))
    datasets = column_datasets(selected)
    bold = _table1_bold(data, datasets)
    width = 3 + 3 * len(datasets)
    groups = TABLE1_GROUPS + ((UNTRAINED_GROUP,) if any(key[1] == UNTRAINED for key in data) else ())
    blocks = [_table1_block(m, data, bold, datasets, width, groups) for m in METHOD_LABELS]
    header = latex.group_header(3, [(latex.escape(dataset_label(d)), 3) for d in datasets])
    metric_labels = [label for _, label, _ in ACCURACY] * len(datasets)
    header.append(latex.row(["Method", "Optimizer", "Strategy", *metric_labels]))
    caption = (
        "Avg / Last / Fgt (\\%) of each optimizer with $q=1$ and no enhancement. "
        + latex.SPREAD_NOTE + latex.BOLD_NOTE + latex.EMPTY_NOTE
        + " Bold is decided within each method."
    )
    colspec = "lll" + "ccc" * len(datasets)
    text = latex.table(colspec, header, blocks, caption, "tab:zfsweep-table1")
    return Rendered(text, tuple(notes))


def _table1_bold(data: CellMap, datasets: list[str]) -> set[tuple[Any, ...]]:
    """Keys (method, optimizer, dataset, metric) printed in bold."""
    bold: set[tuple[Any, ...]] = set()
    for method in METHOD_LABELS:
        for dataset in datasets:
            for metric, _, higher in ACCURACY:
                keys = [(method, opt, dataset, metric) for opt in TABLE1_OPTIMIZERS]
                marks = bold_marks([data.get(k) for k in keys], higher, DECIMALS)
                bold.update(k for k, mark in zip(keys, marks) if mark)
    return bold


def _table1_block(
    method: str, data: CellMap, bold: set[tuple[Any, ...]], datasets: list[str], width: int,
    groups: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = TABLE1_GROUPS,
) -> list[str]:
    """One method's rows; a cmidrule separates the SGD, Adam and Forward groups."""
    lines: list[str] = []
    for g, (group, rows) in enumerate(groups):
        if g:
            lines.append(f"\\cmidrule(lr){{2-{width}}}")
        for r, (optimizer, strategy) in enumerate(rows):
            lead = [METHOD_LABELS[method] if g == r == 0 else "", group if r == 0 else "", strategy]
            entries = [
                latex.number(data.get(key), DECIMALS, key in bold)
                for dataset in datasets
                for key in ((method, optimizer, dataset, metric) for metric, _, _ in ACCURACY)
            ]
            lines.append(latex.row([*lead, *entries]))
    return lines


def table2(runs: pd.DataFrame) -> Rendered:
    selected = table2_runs(runs)
    if selected.empty:
        return Rendered(None, (
            "table2.tex skipped: no FINISHED EASE run of FO-SGD, ZO-SGD (q = 1 or 4), "
            "ZO-SGD-Sign, ZO-SGD-Conserve or Forward-Grad with no enhancement",
        ))
    data, notes = table2_cells(selected)
    if not data:
        return Rendered(None, (
            f"table2.tex skipped: its {len(selected)} runs logged no peak_memory_gb or "
            "epoch_seconds",
        ))
    datasets = column_datasets(selected)
    header = latex.group_header(1, [(latex.escape(dataset_label(d)), 2) for d in datasets])
    metric_labels = [label for _, label, _ in TABLE2_METRICS] * len(datasets)
    header.append(latex.row(["Optimizer", *metric_labels]))
    body = [
        latex.row([label, *[
            latex.number(data.get((optimizer, q, dataset, metric)), decimals)
            for dataset in datasets
            for metric, _, decimals in TABLE2_METRICS
        ]])
        for optimizer, q, label in TABLE2_ROWS
    ]
    caption = (
        "Peak GPU memory and training time per epoch of EASE with no enhancement. "
        + latex.SPREAD_NOTE + latex.EMPTY_NOTE
    )
    text = latex.table("l" + "cc" * len(datasets), header, [body], caption, "tab:zfsweep-table2")
    return Rendered(text, tuple(notes))
