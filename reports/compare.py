"""``--compare paper``: our numbers beside ZeroFlow's published ones, with the difference.

Every published number (catalog/paper.py) is paired with our cell for the same setting, taken by the
same selection and seed rules as our own tables, so a comparison never uses runs a table would
not. The paper's numbers come from the released code, so by default only runs of the ``released``
profile are compared (``profile="corrected"`` or ``"all"`` choose otherwise; the caption says
which). The output has one table per paper table and dataset, with only the settings we have runs
for; the text summary counts how much of each table is covered and how far off it is.

Beside Table 1 sits the untrained reference (reports.untrained): per method a row with the
published prototype-only SimpleCIL numbers (Paper) and zfsweep's own `epochs: 0` run (Ours, where
the store has one), and every Avg / Last entry of the paper or ours below a reference is marked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from catalog import paper
from reports.cells import Cell, cells, prepare
from reports.ratios import ratio_blocks
from reports.select import (
    METHOD_LABELS,
    OPTIMIZER_LABELS,
    TABLE2_ROWS,
    UNTRAINED,
    dataset_label,
    is_in,
    plain,
    setting,
)
from reports.table import EMPTY_NOTE, SPREAD_NOTE, Builder, Column, Table
from reports.tables import table1_cells, table2_cells
from reports.untrained import NOTE as UNTRAINED_NOTE
from reports.untrained import marks as untrained_marks

PROFILES: tuple[str, ...] = ("released", "corrected", "all")

METRIC_LABELS: dict[str, str] = {
    "avg_acc": "Avg", "last_acc": "Last", "forgetting": "Fgt",
    "peak_memory_gb": "Mem. (GB)", "epoch_seconds": "Time (s)",
}
# Printed decimals where they are not 2 (the paper gives runtimes to 0.1 s).
DECIMALS: dict[str, int] = {"epoch_seconds": 1}
# Combined enhancements: the optimizer, and each ratio either "on" (any value > 0) or a value.
# "+historical" is the paper's Table 3 result at 20 %, so it is matched at 0.2.
COMBINED_SETTINGS: dict[str, tuple[str, dict[str, str | float]]] = {
    "FO-SGD": ("fo-sgd", {"hybrid": 0.0, "historical": 0.0, "sparsity": 0.0}),
    "ZO-SGD": ("zo-sgd", {"hybrid": 0.0, "historical": 0.0, "sparsity": 0.0}),
    "ZO-SGD +hybrid": ("zo-sgd", {"hybrid": "on", "historical": 0.0, "sparsity": 0.0}),
    "ZO-SGD +historical": ("zo-sgd", {"hybrid": 0.0, "historical": 0.2, "sparsity": 0.0}),
    "ZO-SGD +hybrid +historical +sparsity": (
        "zo-sgd", {"hybrid": "on", "historical": "on", "sparsity": "on"}
    ),
}


@dataclass(frozen=True)
class Comparison:
    """One published number and our cell for the same setting (None: no run)."""

    table: str
    setting: str
    dataset: str
    metric: str
    paper: float
    ours: Cell | None
    untrained: Cell | None = None  # Table 1: zfsweep's own untrained run of the setting's method and dataset


def of_profile(runs: pd.DataFrame, profile: str) -> pd.DataFrame:
    """The runs of one profile (``all``: every run); a run without the param matches none."""
    if profile == "all":
        return runs
    if "profile" not in runs:
        return runs.iloc[:0]
    return runs[runs["profile"].eq(profile).fillna(False).astype(bool)]


def comparisons(runs: pd.DataFrame, prefer: str | None = None) -> list[Comparison]:
    """Every published number of catalog/paper.py, paired with ours (runs already of one profile)."""
    return [
        *_table1(runs, prefer), *_table2(runs, prefer),
        *_ratio(runs, "historical", "Table 3", paper.TABLE3, prefer),
        *_ratio(runs, "sparsity", "Table 4", paper.TABLE4, prefer),
        *_combined(runs, prefer),
    ]


UNTRAINED_SETTING = "untrained (prototype-only)"


def _table1(runs: pd.DataFrame, prefer: str | None) -> list[Comparison]:
    """Table 1's numbers, then per method the untrained reference's (published Avg and Last)."""
    ours, _, _ = table1_cells(runs, prefer)
    published = {(m, UNTRAINED, d, metric): value for m in METHOD_LABELS
                 for d, values in paper.UNTRAINED.items() for metric, value in zip(("avg_acc", "last_acc"), values)}
    return [
        Comparison("Table 1", f"{METHOD_LABELS[m]} {OPTIMIZER_LABELS[o] if o != UNTRAINED else UNTRAINED_SETTING}",
                   d, metric, value, ours.get((m, o, d, metric)), ours.get((m, UNTRAINED, d, metric)))
        for (m, o, d, metric), value in {**paper.table1(), **published}.items()
    ]


def _table2(runs: pd.DataFrame, prefer: str | None) -> list[Comparison]:
    """The paper measured GPU memory: only runs on a GPU are compared with it."""
    on_gpu = runs[runs["run_device"].eq("cuda").fillna(False).astype(bool)] if "run_device" in runs else runs.iloc[:0]
    ours, _, _ = table2_cells(on_gpu, prefer)
    gpu_cells: dict[tuple[object, ...], Cell] = {key[1:]: cell for key, cell in ours.items()}
    labels = {(optimizer, q): label for optimizer, q, label in TABLE2_ROWS}
    items = []
    for (optimizer, q), (memory, times) in paper.TABLE2.items():
        for dataset, seconds in zip(paper.DATASETS, times):
            for metric, value in (("peak_memory_gb", memory), ("epoch_seconds", seconds)):
                cell = gpu_cells.get((optimizer, q, dataset, metric))
                label = labels[(optimizer, q)]
                items.append(Comparison("Table 2", label, dataset, metric, value, cell))
    return items


def _ratio(
    runs: pd.DataFrame, ratio: str, table: str, published: dict[float, tuple[float, float, float]],
    prefer: str | None,
) -> list[Comparison]:
    """A ratio table's published row against each of our blocks on the paper's dataset."""
    blocks, _, _ = ratio_blocks(runs, ratio, prefer)
    ours = [b for b in blocks if b.dataset == paper.ENHANCEMENT_DATASET]
    items = []
    for block in ours or [None]:
        mode = f", {block.mode} mask" if block is not None and block.mode else ""
        for r, values in published.items():
            for metric, value in zip(paper.ACCURACY_METRICS, values):
                cell = block.cells.get((r, metric)) if block is not None else None
                items.append(Comparison(table, f"{ratio} {r * 100:g}%{mode}",
                                        paper.ENHANCEMENT_DATASET, metric, value, cell))
    return items


def _combined(runs: pd.DataFrame, prefer: str | None) -> list[Comparison]:
    """Combined enhancements on EASE / ImageNet-A at q = 1."""
    mask = is_in(runs, "method", ["ease"]) & is_in(runs, "dataset", [paper.ENHANCEMENT_DATASET]) & plain(runs)
    base = runs[mask]
    base = base[setting(base, "q") == 1]
    items = []
    for name, (avg, last) in paper.COMBINED.items():
        chosen = _combined_runs(base, name)
        ours: dict[tuple[object, ...], Cell] = {}
        if not chosen.empty:
            picked, _ = prepare(chosen, ("dataset",), f"combined {name}", prefer)
            ours = {m: cells(picked, ("dataset",), m).get((paper.ENHANCEMENT_DATASET,))
                    for m in ("avg_acc", "last_acc")}
        for metric, value in (("avg_acc", avg), ("last_acc", last)):
            items.append(Comparison("Combined", name, paper.ENHANCEMENT_DATASET, metric, value,
                                    ours.get(metric)))
    return items


def _combined_runs(base: pd.DataFrame, name: str) -> pd.DataFrame:
    optimizer, wanted = COMBINED_SETTINGS[name]
    mask = is_in(base, "optimizer", [optimizer])
    for column, value in wanted.items():
        values = setting(base, column)
        mask &= (values > 0) if value == "on" else np.isclose(values, float(value))
    return base[mask]


def comparison_frame(items: list[Comparison]) -> pd.DataFrame:
    """One row per published number: ours (mean, std, n) and ours minus paper."""
    return pd.DataFrame({
        "table": [i.table for i in items],
        "setting": [i.setting for i in items],
        "dataset": [dataset_label(i.dataset) for i in items],
        "metric": [METRIC_LABELS[i.metric] for i in items],
        "paper": [i.paper for i in items],
        "ours": [i.ours.mean if i.ours else np.nan for i in items],
        "std": [i.ours.std if i.ours else np.nan for i in items],
        "seeds": [i.ours.n if i.ours else 0 for i in items],
        "diff": [i.ours.mean - i.paper if i.ours else np.nan for i in items],
    })


def compare_tables(items: list[Comparison], profile: str) -> list[Table]:
    """One table per (paper table, dataset) that has at least one of our numbers."""
    tables = []
    for (table, dataset), group in _groups(items).items():
        settings = list(dict.fromkeys(i.setting for i in group if i.ours is not None))
        if not settings:
            continue
        if table == "Table 1":  # the untrained reference always stands beside Table 1's rows
            settings += [i.setting for i in group if i.setting.endswith(UNTRAINED_SETTING) and i.metric == "avg_acc"
                         and i.setting not in settings]
        metrics = list(dict.fromkeys(i.metric for i in group))
        by_key = {(i.setting, i.metric): i for i in group}
        build = Builder(tuple(Column(METRIC_LABELS[m], label, DECIMALS.get(m, 2), label == "Δ")
                              for m in metrics for label in ("Paper", "Ours", "Δ")))
        for name in settings:
            entries = [(c, mark) for m in metrics for c, mark in _entries(by_key.get((name, m)))]
            build.add((name,), [c for c, _ in entries], marks=[mark for _, mark in entries])
        runs_of = "every profile" if profile == "all" else f"profile {profile}"
        source = "combined-enhancement results" if table == "Combined" else table
        reference = UNTRAINED_NOTE if table == "Table 1" else ""
        caption = (f"Against the paper's {source}, {dataset_label(dataset)}: published numbers, ours ({runs_of}) and "
                   "ours minus published (Δ). " + SPREAD_NOTE + reference + EMPTY_NOTE)
        slug = f"compare-{table.lower().replace(' ', '')}-{dataset}"
        tables.append(build.table(slug, f"{table}, {dataset_label(dataset)}: paper and ours",
                                  ("Setting",), caption))
    return tables


def _groups(items: list[Comparison]) -> dict[tuple[str, str], list[Comparison]]:
    groups: dict[tuple[str, str], list[Comparison]] = {}
    for item in items:
        groups.setdefault((item.table, item.dataset), []).append(item)
    return groups


def _entries(item: Comparison | None) -> list[tuple[Cell | None, str]]:
    """Paper, ours and the difference of the means, as cells, each with its untrained-reference marks."""
    if item is None:
        return [(None, "")] * 3
    diff = Cell((item.ours.mean - item.paper,)) if item.ours is not None else None
    marked = item.table == "Table 1"
    paper_marks = untrained_marks(item.paper, item.dataset, item.metric, item.untrained) if marked else ""
    ours_marks = untrained_marks(item.ours.mean if item.ours else None, item.dataset, item.metric,
                                 item.untrained) if marked else ""
    return [(Cell((item.paper,)), paper_marks), (item.ours, ours_marks), (diff, "")]


def compare_text(frame: pd.DataFrame) -> str:
    """Coverage and size of the differences per paper table, then every compared number."""
    lines = ["Comparison with ZeroFlow (arXiv 2501.01045), ours minus published:"]
    for table, group in frame.groupby("table", sort=False):
        have = group[group["seeds"] > 0]
        line = f"{table}: {len(have)} of {len(group)} published numbers have runs"
        if not have.empty:
            worst = have.loc[have["diff"].abs().idxmax()]
            line += (
                f"; mean |diff| {have['diff'].abs().mean():.2f}, max |diff| "
                f"{abs(worst['diff']):.2f} ({worst['setting']}, {worst['dataset']}, "
                f"{worst['metric']}: ours {worst['ours']:.2f}, paper {worst['paper']:.2f})"
            )
        lines.append(line)
    compared = frame[frame["seeds"] > 0]
    if not compared.empty:
        lines += ["", compared.to_string(index=False, float_format=lambda x: f"{x:.2f}")]
    return "\n".join(lines) + "\n"
