"""What a search found (orchestrator/search/): per cell the best value, beside the preset and untrained.

ZeroFlow (arXiv 2501.01045) gives every zeroth-order strategy one learning rate; a grid with a
`search:` block tunes each cell on a held-out validation split instead, then reruns the best on
every seed on the test set. The table shows per cell (method, optimizer, data set) the best values
and their validation Avg, the tuned test Avg / Last / Fgt over seeds, the preset's test Avg, and
ΔAvg: tuned minus the untrained (0-epoch) run of the same method, data set and seed, paired per
seed. The figure is each cell's validation score against the searched value (the sensitivity
curve), samples stopped early by ASHA hollow. Only runs tagged by a search count; the paper's
tables never take them (reports.build).
"""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from catalog.optimizers import LABELS
from catalog.records import VALIDATION_METRIC
from reports.cells import Cell
from reports.figures import OPTIMIZER_COLOURS, Drawn, FigureSkipped, paper_style
from reports.select import METHOD_LABELS, dataset_label, untrained
from reports.table import EMPTY_NOTE, SPREAD_NOTE, Builder, Column, Table
from reports.tables import Skipped

SEARCH_PHASES = ("search", "tuned")  # runs the paper's tables leave to this module


def searched_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["phase"].eq("search").fillna(False).astype(bool)] if "phase" in runs else runs.iloc[0:0]


def grid_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs every other table takes: none drawn by a search or rerun from one."""
    if "phase" not in runs:
        return runs
    return runs[~runs["phase"].isin(SEARCH_PHASES).fillna(False).astype(bool)]


def _keys(samples: pd.DataFrame) -> list[str]:
    found = samples["searched"].dropna().astype(str)
    return sorted({key for text in found for key in text.split(",") if key})


def _complete(samples: pd.DataFrame) -> pd.DataFrame:
    stopped = samples["stopped_early"].eq("true").fillna(False).astype(bool)
    return samples[~stopped & samples[VALIDATION_METRIC].notna()]


def _same(values: pd.Series, value: object) -> pd.Series:
    if isinstance(value, float):
        return values.astype("float64").sub(value).abs().le(1e-12 * max(1.0, abs(value))).fillna(False)
    return values.astype("string").eq(str(value)).fillna(False)


def _value_text(keys: list[str], row: pd.Series) -> str:
    return ", ".join(f"{key} {row[key]:.3g}" if isinstance(row[key], float) else f"{key} {row[key]}" for key in keys)


def _by_seed(runs: pd.DataFrame, metric: str) -> dict[int, float]:
    return {int(seed): float(value) for seed, value in runs.groupby("seed")[metric].mean().items()}


def _cell(values: dict[int, float]) -> Cell | None:
    return Cell(tuple(values.values())) if values else None


def tuned(runs: pd.DataFrame, prefer: str | None = None) -> Table:
    """The tuned table; Skipped when the runs hold no search."""
    samples = searched_runs(runs)
    if samples.empty:
        raise Skipped("tuned", "no run of a search (a grid with a `search:` block, grids/tune-glyphs.yaml)")
    build = Builder((Column("Val", "Best"), Column("Val", "Preset"), Column("Tuned", "Avg"), Column("Tuned", "Last"), Column("Tuned", "Fgt"),
                     Column("Preset", "Avg"), Column("", "ΔAvg", signed=True)))
    methods, optimizers = list(METHOD_LABELS), list(LABELS)
    order = samples[["cell", "method", "optimizer", "dataset"]].drop_duplicates()
    order = order.assign(_m=order["method"].map(methods.index), _o=order["optimizer"].map(optimizers.index))
    for cell, method, optimizer, dataset in order.sort_values(["dataset", "_m", "_o"]).iloc[:, :4].itertuples(
            index=False):
        mine = samples[samples["cell"] == cell]
        keys, complete = _keys(mine), _complete(mine)
        if complete.empty:
            continue
        # The first of equal scores, as the driver picks it (orchestrator/search/run.py: best).
        top = complete.loc[complete.sort_values("start_time", kind="stable")[VALIDATION_METRIC].idxmax()]
        in_cell = runs[runs["cell"].eq(cell).fillna(False).astype(bool)]
        best_mask = pd.concat([_same(in_cell[key], top[key]) for key in keys], axis=1).all(axis=1)
        final = in_cell[in_cell["phase"].isin(["tuned", "preset"]).fillna(False).astype(bool) & best_mask]
        preset = in_cell[in_cell["phase"].eq("preset").fillna(False).astype(bool)]
        reference = runs[untrained(runs) & runs["method"].eq(method) & runs["dataset"].eq(dataset)]
        tuned_avg, reference_avg = _by_seed(final, "avg_acc"), _by_seed(reference, "avg_acc")
        paired = {seed: tuned_avg[seed] - reference_avg[seed] for seed in tuned_avg if seed in reference_avg}
        preset_val = None
        if not preset.empty:
            same = pd.concat([_same(complete[key], preset.iloc[0][key]) for key in keys], axis=1).all(axis=1)
            preset_val = _cell({0: float(v) for v in complete.loc[same, VALIDATION_METRIC].head(1)})
        build.add((METHOD_LABELS.get(method, method), LABELS.get(optimizer, optimizer), dataset_label(dataset),
                   _value_text(keys, top)),
                  [Cell((float(top[VALIDATION_METRIC]),)), preset_val, _cell(tuned_avg), _cell(_by_seed(final, "last_acc")),
                   _cell(_by_seed(final, "forgetting")), _cell(_by_seed(preset, "avg_acc")), _cell(paired)])
    if not build.rows:
        raise Skipped("tuned", "no sample of a search ran every task")
    caption = ("Tuned by search: per cell the best values on a held-out validation split, rerun on every seed "
               "and scored on the test set. Val: validation Avg (%) of the best sample and of the preset's "
               "values (the search's first sample); Tuned and Preset: test "
               "Avg / Last / Fgt (%) of the best values and of the preset; ΔAvg: tuned Avg minus the untrained "
               "(0-epoch) run's, paired per seed (-- without one). " + SPREAD_NOTE + EMPTY_NOTE)
    return build.table("tuned", "Tuned by search: the best values per cell", ("Method", "Optimizer", "Data", "Best"),
                       caption)


def figure_search(runs: pd.DataFrame, prefer: str | None = None) -> Drawn:
    """Validation score against the searched value, one panel per method and data set, one line per optimizer."""
    samples = searched_runs(runs)
    keys = _keys(samples) if not samples.empty else []
    if samples.empty or not keys:
        raise FigureSkipped("figure_search skipped: no run of a search (a grid with a `search:` block)")
    key = keys[0]
    panels = [(str(m), str(d)) for m, d in samples[["method", "dataset"]].drop_duplicates().itertuples(index=False)]
    with paper_style():
        return Drawn(_draw(samples, key, panels), [], samples)


def _draw(samples: pd.DataFrame, key: str, panels: list[tuple[str, str]]) -> Figure:
    figure = Figure(figsize=(3.4 * len(panels), 3.0), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, (method, dataset) in zip(axes, panels):
        mine = samples[samples["method"].eq(method) & samples["dataset"].eq(dataset)]
        for optimizer in [o for o in LABELS if o in set(mine["optimizer"])]:
            rows = mine[mine["optimizer"] == optimizer].sort_values(key)
            stopped = rows["stopped_early"].eq("true").fillna(False).astype(bool)
            done = rows[~stopped]
            colour = OPTIMIZER_COLOURS[optimizer]
            ax.plot(done[key], done[VALIDATION_METRIC], marker="o", ms=3, lw=1, color=colour, label=LABELS[optimizer])
            ax.scatter(rows[stopped][key], rows[stopped][VALIDATION_METRIC], s=14, facecolors="none",
                       edgecolors=colour)
        values = mine[key].astype("float64")
        if (values > 0).all() and values.max() / values.min() > 20 and not math.isnan(values.min()):
            ax.set_xscale("log")
        ax.set_title(f"{METHOD_LABELS.get(method, method)} on {dataset_label(dataset)}", fontsize=9)
        ax.set_xlabel(key)
    axes[0].set_ylabel("validation Avg (%)")
    axes[-1].legend(fontsize=6, loc="best", title="hollow: stopped early", title_fontsize=6)
    return figure
