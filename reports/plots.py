"""The report's other figures: ZeroFlow's Figure 2/4 analogue, per-task curves, query efficiency.

- ``figure_bars``: Avg and Last of every optimizer, grouped bars, one panel per method and dataset
  (what the paper's Figures 2 and 4 show for its benchmark), from Table 1's cells; Avg solid,
  Last hatched, each optimizer in its colour.
- ``figure_tasks``: accuracy after each task, a line per optimizer, one panel per method and
  dataset, from the ``task_acc/<t>`` columns every run logs (orchestrator/store/runlog.py).
- ``figure_queries``: Avg against forward passes (log axis, ticks as 20k, 1M) for the zeroth-order
  family and Forward-Grad, a line per optimizer through its values of q: what accuracy each query buys.

Runs with `epochs: 0` (reports.select.untrained) draw the untrained reference: a dotted line at its
Avg in the bars, its accuracy after each task in the per-task curves. Panels share one y range.

Each raises FigureSkipped with one line when no run qualifies.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, FixedLocator, NullFormatter

from catalog.optimizers import FIRST_ORDER, OPTIMIZERS, PAPER_OPTIMIZERS
from reports.cells import cells, prepare
from reports.figures import (OPTIMIZER_COLOURS, UNTRAINED_STYLE, Drawn, FigureSkipped, add_legend, line_label,
                             panel_grid, paper_style, same_y)
from reports.select import (METHOD_LABELS, OPTIMIZER_LABELS, UNTRAINED, dataset_label, is_in, off, order_datasets,
                            plain, table1_runs)
from reports.tables import TABLE1_KEYS, TABLE1_OPTIMIZERS, table1_cells

TASK_COLUMN = re.compile(r"^task_acc/(\d+)$")
QUERY_OPTIMIZERS = tuple(name for name in PAPER_OPTIMIZERS if OPTIMIZERS[name].family != FIRST_ORDER)
SHORT = {"fo-sgd": "SGD FO", "zo-sgd": "SGD ZO", "zo-sgd-sign": "SGD Sign",
         "zo-sgd-conserve": "SGD Cons.", "fo-adam": "Adam FO", "zo-adam": "Adam ZO",
         "zo-adam-sign": "Adam Sign", "zo-adam-conserve": "Adam Cons.", "forward-grad": "Forward"}


def _panels(keys: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    methods = sorted({m for m, _ in keys}, key=list(METHOD_LABELS).index)
    return methods, order_datasets(d for _, d in keys)


def _finish(figure: Figure, figure_axes: np.ndarray, methods: list[str], datasets: list[str], ylabel: str,
            low: float | None = None) -> None:
    """Panel titles (method, dataset), grids, one y range, the y label of each row, and the legend."""
    for r, method in enumerate(methods):
        for c, dataset in enumerate(datasets):
            figure_axes[r][c].set_title(f"{METHOD_LABELS[method]}, {dataset_label(dataset)}")
            figure_axes[r][c].grid(alpha=0.3)
        figure_axes[r][0].set_ylabel(ylabel)
    same_y(list(figure_axes.flat), low)
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
                colours = [OPTIMIZER_COLOURS[o] for o in present]
                for offset, (metric, label, hatch) in zip((-0.2, 0.2), (("avg_acc", "Avg", ""),
                                                                       ("last_acc", "Last", "////"))):
                    got = [data.get((method, o, dataset, metric)) for o in present]
                    means = [cell.mean if cell else np.nan for cell in got]
                    spread = [0.0 if not cell or np.isnan(cell.std) else cell.std for cell in got]
                    ax.bar(x + offset, means, 0.4, yerr=spread, capsize=1.5, color=colours, hatch=hatch,
                           edgecolor="white" if hatch else None, linewidth=0)
                ax.set_xticks(x, [SHORT[o] for o in present], rotation=90)
                reference = data.get((method, UNTRAINED, dataset, "avg_acc"))
                if reference is not None:
                    ax.axhline(reference.mean, label=f"{OPTIMIZER_LABELS[UNTRAINED]} (Avg)", **UNTRAINED_STYLE)
        lows = [cell.mean for key, cell in data.items() if key[3] in ("avg_acc", "last_acc")]
        _add_bar_keys(axes[0][0])
        _finish(figure, axes, methods, datasets, "accuracy (%)", max(0.0, min(lows, default=10.0) - 10))
    return Drawn(figure, notes, chosen)


def _add_bar_keys(ax: Axes) -> None:
    """Legend entries for what the bars mean: Avg solid, Last hatched (colour is the x label's optimizer)."""
    from matplotlib.patches import Rectangle

    for label, hatch in (("Avg", ""), ("Last", "////")):  # zero-size: only the legend shows them
        ax.add_patch(Rectangle((0, 0), 0, 0, facecolor="#999999", hatch=hatch, edgecolor="white",  
                               label=label))


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
                for optimizer in (*TABLE1_OPTIMIZERS, UNTRAINED):
                    curve = here.loc[here["optimizer"] == optimizer, columns].astype("float64")
                    if curve.empty:
                        continue
                    means = curve.mean()
                    steps = [task + 1 for task, mean in zip(tasks, means) if np.isfinite(mean)]
                    style = (UNTRAINED_STYLE if optimizer == UNTRAINED else
                             {"color": OPTIMIZER_COLOURS[optimizer], "linestyle": "--" if "adam" in optimizer else "-",
                              "marker": "o"})
                    axes[r][c].plot(steps, means.dropna().to_numpy(), label=OPTIMIZER_LABELS[optimizer], **style)
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
                for optimizer in QUERY_OPTIMIZERS:
                    points = sorted((passes[k].mean, avg[k].mean) for k in avg
                                    if k[:3] == (method, optimizer, dataset) and k in passes)
                    if points:
                        axes[r][c].plot(*zip(*points), marker="o", color=OPTIMIZER_COLOURS[optimizer],
                                        label=line_label(method, optimizer, [method]))
                axes[r][c].set_xscale("log")
                axes[r][c].set_xlabel("forward passes")
        _forward_axis(list(axes.flat), [cell.mean for cell in passes.values()])
        _finish(figure, axes, methods, datasets, "Avg accuracy (%)")
    return Drawn(figure, notes, chosen)


def _forward_axis(axes: list[Axes], passes: list[float]) -> None:
    """One forward-pass range for every panel, ticked at 1, 2, 5 x 10^k and printed as 20k or 1M:
    two ticks at least (the data's ends where no 1-2-5 value falls between), none overlapping."""
    low, high = min(passes) / 1.3, max(passes) * 1.3
    ticks = [m * 10.0 ** k for k in range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
             for m in (1.0, 2.0, 5.0) if low <= m * 10.0 ** k <= high]
    if len(ticks) < 2:
        ticks = sorted({float(f"{min(passes):.2g}"), float(f"{max(passes):.2g}")})
    for ax in axes:
        ax.set_xlim(low, high)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.xaxis.set_minor_formatter(NullFormatter())
