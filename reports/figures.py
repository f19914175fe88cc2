"""Figure 5 of ZeroFlow (arXiv 2501.01045), and the layout every report figure shares.

Figure 5 plots Avg accuracy against the number of queries q: one panel per dataset, one line per
method and optimizer (ZO-SGD, ZO-Adam), q on a log-2 axis, error bars of one sample standard
deviation where a point has several seeds. Figures are built on bare ``matplotlib.figure.Figure``
objects (rendered by Agg), so no pyplot state is involved; they are at most a full page wide
(6.75 in) with paper-sized fonts, and the legend sits below the panels inside the canvas.
Every figure draws an optimizer in its colour of OPTIMIZER_COLOURS (one per optimizer of
catalog/optimizers.py), so ZO-Adam is the same colour in Figure 5, the bars, the per-task curves
and the query-efficiency plot; same_y gives a figure's panels one y range, so heights compare.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from catalog.optimizers import OPTIMIZERS
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
# One colour per optimizer, the same in every figure: tab20's pairs for the paper's rows (SGD and
# Adam variants side by side), then the estimators beyond it.
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94")
OPTIMIZER_COLOURS: dict[str, str] = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(OPTIMIZERS)}
UNTRAINED_STYLE = {"color": "#444444", "linestyle": ":", "linewidth": 1.0}  # the untrained reference line
PAGE_WIDTH_IN = 6.75
PANEL_IN = (2.4, 1.9)
LEGEND_ENTRY_IN = 1.35  # room one legend entry takes at the small font
STYLE = {"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "legend.fontsize": 6.5,
         "xtick.labelsize": 6, "ytick.labelsize": 6, "lines.markersize": 3.5}


class Drawn(NamedTuple):
    """A figure, notes for the user, and the runs it shows (their profiles go in its caption)."""

    figure: Figure
    notes: list[str]
    runs: pd.DataFrame


class FigureSkipped(Exception):
    """No run qualifies for a figure; the message is the line the user reads."""


@contextmanager
def paper_style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):
        yield


def panel_grid(rows: int, columns: int, extra_height_in: float = 0.0) -> tuple[Figure, np.ndarray]:
    """A figure of rows x columns panels no wider than a page, room below for the legend.

    ``extra_height_in`` per row makes room for long (rotated) tick labels.
    """
    width = min(PAGE_WIDTH_IN, PANEL_IN[0] * columns + 0.6)
    height = (PANEL_IN[1] + extra_height_in) * rows + 0.45
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots(rows, columns, squeeze=False)


def add_legend(figure: Figure, axes: Sequence[Axes]) -> None:
    """One legend for the figure (a panel may lack a line another has), as wide as the canvas."""
    labelled = {label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels())}
    if not labelled:
        return
    per_row = max(1, int(figure.get_figwidth() / LEGEND_ENTRY_IN))
    figure.legend(list(labelled.values()), list(labelled.keys()), loc="outside lower center",
                  ncols=min(len(labelled), per_row), frameon=False)


def same_y(axes: Sequence[Axes], low: float | None = None) -> None:
    """One y range for every panel (the widest any needs), from `low` when given."""
    limits = [ax.get_ylim() for ax in axes]
    if limits:
        bottom = min(b for b, _ in limits) if low is None else low
        for ax in axes:
            ax.set_ylim(bottom, max(t for _, t in limits))


def line_label(method: str, optimizer: str, methods: Sequence[str]) -> str:
    """The optimizer, with the method only when several methods share a panel."""
    label = OPTIMIZER_LABELS.get(optimizer, optimizer)
    return f"{METHOD_LABELS[method]} {label}" if len(methods) > 1 else label


def figure5_cells(
    runs: pd.DataFrame, prefer: str | None = None
) -> tuple[dict[tuple[object, ...], Cell], list[str], pd.DataFrame]:
    """Avg cells keyed (method, optimizer, dataset, q), notes, and the runs they hold."""
    chosen, notes = prepare(figure5_runs(runs), KEYS, "figure5", prefer)
    return cells(chosen, KEYS, "avg_acc"), notes, chosen


def figure5(runs: pd.DataFrame, prefer: str | None = None) -> Drawn:
    """The figure; FigureSkipped when no line has two values of q."""
    data, notes, chosen = figure5_cells(runs, prefer)
    lines: dict[tuple[object, ...], int] = {}
    for key in data:
        lines[key[:3]] = lines.get(key[:3], 0) + 1
    datasets = order_datasets(key[2] for key, points in lines.items() if points >= 2)
    if not datasets:
        raise FigureSkipped("figure5 skipped: no ZO-SGD or ZO-Adam run set (method, dataset) has "
                            "FINISHED runs at two or more values of q with no enhancement")
    with paper_style():
        figure, grid = panel_grid(1, len(datasets))
        axes = list(grid[0])
        methods = sorted({str(key[0]) for key in data}, key=list(METHOD_LABELS).index)
        for ax, dataset in zip(axes, datasets):
            _panel(ax, data, dataset, methods)
        axes[0].set_ylabel("Avg accuracy (%)")
        same_y(axes)
        add_legend(figure, axes)
    return Drawn(figure, notes, chosen)


def _panel(ax: Axes, data: dict[tuple[object, ...], Cell], dataset: str, methods: list[str]) -> None:
    """One dataset: a line per (method, optimizer) that has points there."""
    all_q: set[int] = set()
    pairs = [(method, optimizer) for method in methods for optimizer in FIGURE5_OPTIMIZERS]
    styles = ("-", "--", "-.", ":")
    for method, optimizer in pairs:
        points = sorted(((int(key[3]), cell) for key, cell in data.items()
                         if key[:3] == (method, optimizer, dataset)), key=lambda point: point[0])
        if not points:
            continue
        qs = [q for q, _ in points]
        all_q.update(qs)
        spread = [0.0 if np.isnan(cell.std) else cell.std for _, cell in points]
        # Colour by optimizer, line style by method, so a line looks the same in every panel and figure.
        ax.errorbar(qs, [cell.mean for _, cell in points], yerr=spread, marker="o", capsize=2,
                    label=line_label(method, optimizer, methods), color=OPTIMIZER_COLOURS[optimizer],
                    linestyle=styles[methods.index(method) % len(styles)])
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(sorted(all_q)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("queries $q$")
    ax.set_title(dataset_label(dataset))
    ax.grid(alpha=0.3)
