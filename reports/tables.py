"""Tables 1 and 2 of ZeroFlow (arXiv 2501.01045) as booktabs LaTeX, from the runs DataFrame.

Table 1: Avg / Last / Fgt per method x optimizer x dataset at q = 1 with no enhancement, laid out
as in the paper (EASE then APER; SGD: FO, ZO, Sign, Conserve; Adam: the same; Forward). Bold is
decided within each method's block, column by column (see reports.significance), since the paper
compares optimizers under one method. Table 2: EASE's peak memory and time per epoch for the
paper's six (optimizer, q) rows, one column pair per dataset, one row block per device (a GPU's
peak memory and a CPU process's resident memory are different measurements); no bold, like the
paper's. Columns appear only for datasets that have runs, the paper's first in its order.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports.cells import Cell, cells, prepare
from reports.select import (
    ACCURACY,
    METHOD_LABELS,
    TABLE2_ROWS,
    UNTRAINED,
    dataset_label,
    present_datasets,
    table1_runs,
    table2_runs,
)
from reports.significance import bold_marks
from reports.table import BOLD_NOTE, EMPTY_NOTE, SPREAD_NOTE, Builder, Column, Table, provenance
from reports.untrained import FGT_NOTE, OWN_NOTE, never_learned
from reports.untrained import marks as untrained_marks

# (group label, ((optimizer, strategy label), ...)) in the paper's row order.
TABLE1_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("SGD", (("fo-sgd", "FO"), ("zo-sgd", "ZO"), ("zo-sgd-sign", "Sign"),
             ("zo-sgd-conserve", "Conserve"))),
    ("Adam", (("fo-adam", "FO"), ("zo-adam", "ZO"), ("zo-adam-sign", "Sign"),
              ("zo-adam-conserve", "Conserve"))),
    ("-", (("forward-grad", "Forward"),)),  # the paper's optimizer cell for Forward-Grad
)
TABLE1_OPTIMIZERS: tuple[str, ...] = tuple(o for _, rows in TABLE1_GROUPS for o, _ in rows)
# Shown below the optimizers, ruled off, when runs with `epochs: 0` exist; never bold (it is no optimizer).
UNTRAINED_GROUP = ("none", ((UNTRAINED, "Untrained (0 epochs)"),))
TABLE1_KEYS = ("method", "optimizer", "dataset")
TABLE2_KEYS = ("_device", "optimizer", "q", "dataset")
TABLE2_METRICS: tuple[tuple[str, str, int], ...] = (
    ("peak_memory_gb", "Mem. (GB)", 2),
    ("epoch_seconds", "Time (s)", 1),
)
DECIMALS = 2

CellMap = dict[tuple[Any, ...], Cell]


class Skipped(Exception):
    """An output with nothing to show: which one (`stem`, as in table1.tex) and why."""

    def __init__(self, stem: str, reason: str) -> None:
        super().__init__(f"{stem}.tex skipped: {reason}")
        self.stem = stem


def keyed_cells(
    runs: pd.DataFrame, keys: tuple[str, ...], metrics: tuple[str, ...], scope: str,
    prefer: str | None = None,
) -> tuple[CellMap, list[str], pd.DataFrame]:
    """Cells keyed (*key values, metric) after the seed and config rules of reports.cells."""
    chosen, notes = prepare(runs, keys, scope, prefer)
    out: CellMap = {}
    for metric in metrics:
        for key, cell in cells(chosen, keys, metric).items():
            out[(*key, metric)] = cell
    return out, notes, chosen


def table1_cells(runs: pd.DataFrame, prefer: str | None = None) -> tuple[CellMap, list[str], pd.DataFrame]:
    """Table 1's cells keyed (method, optimizer, dataset, metric)."""
    metrics = tuple(metric for metric, _, _ in ACCURACY)
    return keyed_cells(table1_runs(runs), TABLE1_KEYS, metrics, "table1", prefer)


def device_label(kind: str | None, name: str | None) -> str:
    """Table 2's row block: what its memory column measured."""
    if kind == "cuda":
        return f"GPU {name}" if name else "GPU"
    if kind in ("cpu", "mps"):
        return f"{kind.upper()} (process memory)"
    return "device not recorded"


def with_device(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with a ``_device`` column holding device_label of their device tags."""
    def text(column: str) -> list[str | None]:
        values = runs[column] if column in runs else pd.Series(None, index=runs.index, dtype="string")
        return [value if isinstance(value, str) else None for value in values]

    labels = [device_label(k, n) for k, n in zip(text("run_device"), text("run_device_name"))]
    return runs.assign(_device=pd.Series(labels, index=runs.index, dtype="string"))


def table2_cells(runs: pd.DataFrame, prefer: str | None = None) -> tuple[CellMap, list[str], pd.DataFrame]:
    """Table 2's cells keyed (device label, optimizer, q, dataset, metric)."""
    metrics = tuple(metric for metric, _, _ in TABLE2_METRICS)
    return keyed_cells(with_device(table2_runs(runs)), TABLE2_KEYS, metrics, "table2", prefer)


def _accuracy_columns(datasets: list[str]) -> tuple[Column, ...]:
    return tuple(Column(dataset_label(d), label) for d in datasets for _, label, _ in ACCURACY)


def table1(runs: pd.DataFrame, prefer: str | None = None) -> Table:
    selected = table1_runs(runs)
    if selected.empty:
        raise Skipped("table1", "no FINISHED run has q = 1 and no enhancement")
    data, notes, chosen = table1_cells(selected, prefer)
    if not data:
        raise Skipped("table1", f"its {len(selected)} runs logged no accuracy")
    datasets = present_datasets(chosen)
    build = Builder(_accuracy_columns(datasets))
    has_untrained = any(key[1] == UNTRAINED for key in data)
    groups = TABLE1_GROUPS + ((UNTRAINED_GROUP,) if has_untrained else ())
    for method in [m for m in METHOD_LABELS if (chosen["method"] == m).any()]:
        marks = _table1_bold(data, method, datasets)
        for group, rows in groups:
            for optimizer, strategy in rows:
                keys = [(method, optimizer, d, metric) for d in datasets for metric, _, _ in ACCURACY]
                cells_of = [data.get(k) for k in keys]
                below = [untrained_marks(cell.mean if cell else None, k[2], k[3], data.get((method, UNTRAINED, *k[2:])),
                                         with_published=False) for k, cell in zip(keys, cells_of)]
                build.add((METHOD_LABELS[method], group, strategy), cells_of, [k in marks for k in keys], below)
    caption = ("Avg / Last / Fgt (%) of each optimizer with q = 1 and no enhancement. "
               + provenance(chosen, prefer, notes) + SPREAD_NOTE + BOLD_NOTE
               + "Bold is decided within each method. " + (FGT_NOTE + OWN_NOTE if has_untrained else "") + EMPTY_NOTE)
    return build.table("table1", "Table 1: accuracy and forgetting", ("Method", "Optimizer", "Strategy"),
                       caption, notes)


def _table1_bold(data: CellMap, method: str, datasets: list[str]) -> set[tuple[Any, ...]]:
    """Keys (method, optimizer, dataset, metric) printed in bold within one method."""
    bold: set[tuple[Any, ...]] = set()
    for dataset in datasets:
        own = {metric: data.get((method, UNTRAINED, dataset, metric)) for metric, _, _ in ACCURACY}
        rows = {opt: {metric: data.get((method, opt, dataset, metric)) for metric, _, _ in ACCURACY}
                for opt in TABLE1_OPTIMIZERS}
        learned = {opt: not never_learned(row, own) for opt, row in rows.items()}
        for metric, _, higher in ACCURACY:
            keys = [(method, opt, dataset, metric) for opt in TABLE1_OPTIMIZERS]
            # Forgetting of a row that never learned is no result (reports.untrained): not a candidate.
            entries = [data.get(k) if metric != "forgetting" or learned[k[1]] else None for k in keys]
            marks = bold_marks(entries, higher, DECIMALS)
            bold.update(k for k, mark in zip(keys, marks) if mark)
    return bold


def table2(runs: pd.DataFrame, prefer: str | None = None) -> Table:
    selected = table2_runs(runs)
    if selected.empty:
        raise Skipped(
            "table2", "no FINISHED EASE run of FO-SGD, ZO-SGD (q = 1 or 4), "
            "ZO-SGD-Sign, ZO-SGD-Conserve or Forward-Grad with no enhancement")
    data, notes, chosen = table2_cells(selected, prefer)
    if not data:
        raise Skipped("table2", f"its {len(selected)} runs logged no peak_memory_gb or epoch_seconds")
    datasets = present_datasets(chosen)
    columns = tuple(Column(dataset_label(d), label, decimals)
                    for d in datasets for _, label, decimals in TABLE2_METRICS)
    build = Builder(columns)
    for device in sorted(set(chosen["_device"].astype(str))):
        for optimizer, q, label in TABLE2_ROWS:
            build.add((device, label), [data.get((device, optimizer, q, d, metric))
                                        for d in datasets for metric, _, _ in TABLE2_METRICS])
    caption = (
        "Peak memory and training time per epoch of EASE with no enhancement, one block per device: "
        "on a GPU, the peak memory PyTorch allocated on it (what the paper reports); on a CPU, the "
        "peak resident memory of the trial's process, which holds far more than the model and is "
        "not comparable. " + provenance(chosen, prefer, notes) + SPREAD_NOTE + EMPTY_NOTE)
    return build.table("table2", "Table 2: memory and time", ("Device", "Optimizer"), caption, notes)
