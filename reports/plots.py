"""The report's other figures: ZeroFlow's Figure 2/4 analogue, per-task curves, query efficiency.

- ``figure_bars``: Avg and Last of every optimizer, grouped bars, one panel per method and dataset
  (what the paper's Figures 2 and 4 show for its benchmark), from Table 1's cells.
- ``figure_tasks``: accuracy after each task, a line per optimizer, one panel per method and
  dataset, from the ``task_acc/<t>`` columns every run logs (orchestrator/store/runlog.py).
- ``figure_queries``: Avg against forward passes (log axis) for the zeroth-order family and
  Forward-Grad, a line per optimizer through its values of q: what accuracy each query buys.

Each raises FigureSkipped with one line when no run qualifies.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from catalog.optimizers import FIRST_ORDER, OPTIMIZERS, PAPER_OPTIMIZERS
from reports.cells import cells, prepare
from reports.figures import Drawn, FigureSkipped, add_legend, line_label, panel_grid, paper_style
from reports.select import (METHOD_LABELS, OPTIMIZER_LABELS, dataset_label, is_in, off, order_datasets, plain,
                            table1_runs)
from reports.tables import TABLE1_KEYS, TABLE1_OPTIMIZERS, table1_cells

TASK_COLUMN = re.compile(r"^task_acc/(\d+)$")
QUERY_OPTIMIZERS = tuple(name for name in PAPER_OPTIMIZERS if OPTIMIZERS[name].family != FIRST_ORDER)
SHORT = {"fo-sgd": "SGD FO", "zo-sgd": "SGD ZO", "zo-sgd-sign": "SGD Sign",
         "zo-sgd-conserve": "SGD Cons.", "fo-adam": "Adam FO", "zo-adam": "Adam ZO",
         "zo-adam-sign": "Adam Sign", "zo-adam-conserve": "Adam Cons.", "forward-grad": "Forward"}


def _panels(keys: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    methods = sorted({m for m, _ in keys}, key=list(METHOD_LABELS).index)
    return methods, order_datasets(d for _, d in keys)


def _finish(figure: Figure, figure_axes: np.ndarray, methods: list[str], datasets: list[str], ylabel: str) -> None:
    """Panel titles (method, dataset), grids, the y label of each row, and the legend inside the canvas."""
    for r, method in enumerate(methods):
        for c, dataset in enumerate(datasets):
            figure_axes[r][c].set_title(f"{METHOD_LABELS[method]}, {dataset_label(dataset)}")
            figure_axes[r][c].grid(alpha=0.3)
        figure_axes[r][0].set_ylabel(ylabel)
    add_legend(figure, list(figure_axes.flat))


def figure_bars(runs: pd.DataFrame, prefer: str | None = None) -> Drawn:
    """Avg and Last per optimizer (SGD family, then Adam, then Forward-Grad), per method and dataset."""
    data, notes, chosen = table1_cells(runs, prefer)
    keys = sorted({(str(k[0]), str(k[2])) for k in data})
    if not keys:
        raise FigureSkipped("figure_bars skipped: no FINISHED run has q = 1 and no enhancement")
    methods, datasets = _panels(keys)
    with paper_style():
        figure, axes = panel_grid(len(methods), len(datasets), extra_height_in=0.5)
        for r, method in enumerate(methods):
            for c, dataset in enumerate(datasets):
                ax = axes[r][c]
                present = [o for o in TABLE1_OPTIMIZERS if (method, o, dataset, "avg_acc") in data]
                x = np.arange(len(present))
                for offset, (metric, label, colour) in zip((-0.2, 0.2), (("avg_acc", "Avg", "C0"),
                                                                        ("last_acc", "Last", "C1"))):
                    got = [data.get((method, o, dataset, metric)) for o in present]
                    means = [cell.mean if cell else np.nan for cell in got]
                    spread = [0.0 if not cell or np.isnan(cell.std) else cell.std for cell in got]
                    ax.bar(x + offset, means, 0.4, yerr=spread, capsize=1.5, label=label, color=colour)
                ax.set_xticks(x, [SHORT[o] for o in present], rotation=90)
                low = min((data[(method, o, dataset, "last_acc")].mean for o in present
                           if (method, o, dataset, "last_acc") in data), default=0.0)
                ax.set_ylim(max(0.0, low - 10), None)
        _finish(figure, axes, methods, datasets, "accuracy (%)")
    return Drawn(figure, notes, chosen)


def task_columns(runs: pd.DataFrame) -> dict[int, str]:
    """Task index -> its ``task_acc/<t>`` column, in task order."""
    found = [(int(m.group(1)), name) for name in runs.columns if (m := TASK_COLUMN.match(name))]
    return dict(sorted(found))


def figure_tasks(runs: pd.DataFrame, prefer: str | None = None) -> Drawn:
    """Accuracy after each task, a line per optimizer (mean over seeds), per method and dataset."""
    by_task = task_columns(runs)
    tasks, columns = list(by_task), list(by_task.values())
    selected = table1_runs(runs)
    if columns:
        selected = selected[selected[columns[0]].notna()]
    if not columns or selected.empty:
        raise FigureSkipped("figure_tasks skipped: no FINISHED run at q = 1 with no enhancement logged "
                            "its accuracy after each task (task_acc/<t>)")
    chosen, notes = prepare(selected, TABLE1_KEYS, "figure_tasks", prefer)
    methods, datasets = _panels(sorted({(str(m), str(d)) for m, d in zip(chosen["method"], chosen["dataset"])}))
    with paper_style():
        figure, axes = panel_grid(len(methods), len(datasets))
        for r, method in enumerate(methods):
            for c, dataset in enumerate(datasets):
                here = chosen[(chosen["method"] == method) & (chosen["dataset"] == dataset)]
                for colour, optimizer in enumerate(TABLE1_OPTIMIZERS):
                    curve = here.loc[here["optimizer"] == optimizer, columns].astype("float64")
                    if curve.empty:
                        continue
                    means = curve.mean()
                    steps = [task + 1 for task, mean in zip(tasks, means) if np.isfinite(mean)]
                    axes[r][c].plot(steps, means.dropna().to_numpy(), marker="o", color=f"C{colour}",
                                    label=OPTIMIZER_LABELS[optimizer],
                                    linestyle="--" if "adam" in optimizer else "-")
                axes[r][c].set_xlabel("tasks learned")
        _finish(figure, axes, methods, datasets, "accuracy (%)")
    return Drawn(figure, notes, chosen)


def figure_queries(runs: pd.DataFrame, prefer: str | None = None) -> Drawn:
    """Avg against forward passes for the ZO family and Forward-Grad, a line through each q."""
    mask = is_in(runs, "optimizer", QUERY_OPTIMIZERS) & is_in(runs, "method", METHOD_LABELS)
    mask &= off(runs) & plain(runs)
    selected = runs[mask & runs["dataset"].notna() & (runs["forward_passes"].fillna(0) > 0)]
    if selected.empty:
        raise FigureSkipped("figure_queries skipped: no FINISHED zeroth-order or Forward-Grad run with "
                            "no enhancement logged its forward passes")
    keys = ("method", "optimizer", "dataset", "q")
    chosen, notes = prepare(selected, keys, "figure_queries", prefer)
    avg, passes = cells(chosen, keys, "avg_acc"), cells(chosen, keys, "forward_passes")
    methods, datasets = _panels(sorted({(str(k[0]), str(k[2])) for k in avg}))
    with paper_style():
        figure, axes = panel_grid(len(methods), len(datasets))
        for r, method in enumerate(methods):
            for c, dataset in enumerate(datasets):
                for colour, optimizer in enumerate(QUERY_OPTIMIZERS):
                    points = sorted((passes[k].mean, avg[k].mean) for k in avg
                                    if k[:3] == (method, optimizer, dataset) and k in passes)
                    if points:
                        axes[r][c].plot(*zip(*points), marker="o", color=f"C{colour}",
                                        label=line_label(method, optimizer, [method]))
                axes[r][c].set_xscale("log")
                axes[r][c].xaxis.set_minor_formatter(NullFormatter())  # 2x10^4, 3x10^4... overlap
                axes[r][c].set_xlabel("forward passes")
        _finish(figure, axes, methods, datasets, "Avg accuracy (%)")
    return Drawn(figure, notes, chosen)
