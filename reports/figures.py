"""Figure 5 of ZeroFlow (arXiv 2501.01045): Avg accuracy against the number of queries q.

One panel per dataset present, one line per method and optimizer (ZO-SGD, ZO-Adam), q on a
log-2 axis, error bars of one sample standard deviation where a point has several seeds. The
figure is built on a bare ``matplotlib.figure.Figure`` (rendered by Agg for PNG), so no pyplot
state or interactive backend is involved and the function stays pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from reports.cells import Cell, cells, prepare
from reports.select import (
    FIGURE5_OPTIMIZERS,
    METHOD_LABELS,
    OPTIMIZER_LABELS,
    dataset_label,
    figure5_runs,
    order_datasets,
)

KEYS = ("method", "optimizer", "dataset", "q")
PANEL_SIZE = (3.2, 2.8)


def figure5_cells(runs: pd.DataFrame) -> tuple[dict[tuple[object, ...], Cell], list[str]]:
    """Avg cells keyed (method, optimizer, dataset, q)."""
    chosen, notes = prepare(figure5_runs(runs), KEYS, "figure5")
    return cells(chosen, KEYS, "avg_acc"), notes


def figure5(runs: pd.DataFrame) -> tuple[Figure | None, list[str]]:
    """The figure (None when no run qualifies) and notes for the user."""
    data, notes = figure5_cells(runs)
    datasets = order_datasets(key[2] for key in data)
    if not datasets:
        return None, ["figure5 skipped: no FINISHED ZO-SGD or ZO-Adam run with no enhancement"]
    figure = Figure(figsize=(PANEL_SIZE[0] * len(datasets), PANEL_SIZE[1]), layout="constrained")
    axes = figure.subplots(1, len(datasets), squeeze=False)[0]
    methods = sorted({key[0] for key in data}, key=list(METHOD_LABELS).index)
    for ax, dataset in zip(axes, datasets):
        _panel(ax, data, dataset, methods)
    axes[0].set_ylabel("Avg accuracy (%)")
    # One legend for the figure: a panel may lack a line that another has.
    labelled = {
        label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels())
    }
    figure.legend(list(labelled.values()), list(labelled.keys()), loc="outside lower center",
                  ncols=min(len(labelled), 4), fontsize="small")
    return figure, notes


def _panel(
    ax: Axes, data: dict[tuple[object, ...], Cell], dataset: str, methods: list[str]
) -> None:
    """One dataset: a line per (method, optimizer) that has points there."""
    all_q: set[int] = set()
    lines = [(method, optimizer) for method in methods for optimizer in FIGURE5_OPTIMIZERS]
    for colour, (method, optimizer) in enumerate(lines):
        points = sorted(
            ((int(key[3]), cell) for key, cell in data.items()
             if key[:3] == (method, optimizer, dataset)),
            key=lambda point: point[0],
        )
        if not points:
            continue
        qs = [q for q, _ in points]
        all_q.update(qs)
        means = [cell.mean for _, cell in points]
        spread = [0.0 if np.isnan(cell.std) else cell.std for _, cell in points]
        # The method is named only when both are plotted, to keep the legend short.
        label = OPTIMIZER_LABELS[optimizer]
        if len(methods) > 1:
            label = f"{METHOD_LABELS[method]} {label}"
        # Colour by line, not by plotting order, so a line looks the same in every panel.
        ax.errorbar(qs, means, yerr=spread, marker="o", capsize=3, label=label,
                    color=f"C{colour}")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(sorted(all_q)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("queries $q$")
    ax.set_title(dataset_label(dataset))
    ax.grid(alpha=0.3)
