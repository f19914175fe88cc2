"""``zfsweep report``'s one entry point: every output file from one runs DataFrame.

Everything is built in memory first, so a cell that would mix configs (reports.cells.MixingError)
stops the command before any file is written. Then each output is written on its own: a table or
figure with no qualifying run costs only that file, with a line saying why; an earlier report's
copy of it is kept, never deleted, and named in a line (and on the page) so it is not mistaken for
this one's. ``report.html`` holds every table, figure, the comparison and the notes on one page,
opening with what ran (what_ran) and the runs that did not finish (``runs.attrs["unfinished"]``,
filled by reports.runs.load_runs). With --compare paper and no run matching a published setting,
the page still lists the published numbers, with "ours: –". Nothing here reads MLflow.
"""

from __future__ import annotations

import io
import pathlib
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure

from catalog.names import PAPER_DATASETS
from reports import html, latex
from reports.beyond import beyond
from reports.compare import compare_tables, compare_text, comparison_frame, comparisons, of_profile
from reports.figures import Drawn, FigureSkipped, figure5
from reports.plots import figure_bars, figure_queries, figure_tasks
from reports.ratios import table3, table4
from reports.select import METHOD_LABELS, dataset_label, order_datasets
from reports.table import Table, provenance
from reports.tables import Skipped, table1, table2
from reports.tuned import figure_search, grid_runs, tuned

TABLES: tuple[Callable[[pd.DataFrame, str | None], Table], ...] = (table1, table2, table3, table4, beyond)
FIGURES: tuple[tuple[str, str, Callable[[pd.DataFrame, str | None], Drawn]], ...] = (
    ("figure5", "Figure 5: Avg accuracy against the number of queries q", figure5),
    ("figure_bars", "Avg and Last per optimizer (the paper's Figures 2 and 4)", figure_bars),
    ("figure_tasks", "Accuracy after each task", figure_tasks),
    ("figure_queries", "Avg accuracy against forward passes (query efficiency)", figure_queries),
)
# A search's outputs read every run; the tables and figures above only the grids' own (reports.tuned).
SEARCH_TABLES: tuple[Callable[[pd.DataFrame, str | None], Table], ...] = (tuned,)
SEARCH_FIGURES: tuple[tuple[str, str, Callable[[pd.DataFrame, str | None], Drawn]], ...] = (
    ("figure_search", "Validation Avg against the searched value, per optimizer (samples stopped early hollow)",
     figure_search),
)
FIGURE_STEMS = frozenset(stem for stem, _, _ in FIGURES + SEARCH_FIGURES)
FIGURE_FORMATS: tuple[str, ...] = ("pdf", "png")
PNG_DPI = 200


@dataclass
class Report:
    """Everything to write: tables, figures, the comparison, and lines for the user."""

    tables: list[Table] = field(default_factory=list)
    figures: dict[str, tuple[str, Figure]] = field(default_factory=dict)
    comparison: tuple[list[Table], str] | None = None
    published: str | None = None  # the paper's numbers with "ours: –", when no run matches one
    skipped: dict[str, str] = field(default_factory=dict)  # output stem -> reason
    notes: list[str] = field(default_factory=list)


def build_report(runs: pd.DataFrame, compare_paper: bool = False, prefer: str | None = None,
                 compare_profile: str = "released") -> Report:
    """Every output in memory; raises MixingError when a cell would mix configs and no rule is set."""
    report = Report(notes=[f"experiment not found: {n}" for n in runs.attrs.get("missing_experiments", [])]
                  + list(runs.attrs.get("skipped_runs", [])))
    grid = grid_runs(runs)
    for build, source in [*((b, grid) for b in TABLES), *((b, runs) for b in SEARCH_TABLES)]:
        try:
            table = build(source, prefer)
        except Skipped as skip:
            report.skipped[skip.stem] = str(skip)
            continue
        report.tables.append(table)
        report.notes += table.notes
    for (stem, title, draw), source in [*((f, grid) for f in FIGURES), *((f, runs) for f in SEARCH_FIGURES)]:
        try:
            drawn = draw(source, prefer)
        except FigureSkipped as skip:
            report.skipped[stem] = str(skip)
            continue
        report.figures[stem] = (f"{title}. {provenance(drawn.runs, prefer, drawn.notes)}".strip(), drawn.figure)
        report.notes += drawn.notes
    if compare_paper:
        _compare(report, grid, prefer, compare_profile)
    return report


def _compare(report: Report, runs: pd.DataFrame, prefer: str | None, profile: str) -> None:
    items = comparisons(of_profile(runs, profile), prefer)
    if all(item.ours is None for item in items):
        report.skipped["compare_paper"] = (
            f"compare_paper skipped: no run of profile {profile} matches a setting the paper published"
            + ("" if profile == "all" else " (--compare-profile chooses another profile, or all)"))
        published = comparison_frame(items)[["table", "setting", "dataset", "metric", "paper"]].assign(ours="–")
        report.published = (f"No run of profile {profile} matches a setting the paper published; its numbers:\n"
                            + published.to_string(index=False, float_format=lambda x: f"{x:.2f}") + "\n")
        return
    head = f"Runs compared: profile {profile}.\n" if profile != "all" else "Runs compared: every profile.\n"
    report.comparison = (compare_tables(items, profile), head + compare_text(comparison_frame(items)))


def write_report(runs: pd.DataFrame, out_dir: pathlib.Path, compare_paper: bool = False,
                 prefer: str | None = None, compare_profile: str = "released") -> list[str]:
    """Build, then write runs.parquet, the tables, the figures, the comparison and report.html.

    Returns human-readable lines, one per file written or skipped, plus notes on the data.
    """
    report = build_report(runs, compare_paper, prefer, compare_profile)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = list(report.notes)
    runs.to_parquet(out_dir / "runs.parquet", index=False)
    lines.append(f"wrote {out_dir / 'runs.parquet'} ({len(runs)} FINISHED runs)")
    for table in report.tables:
        lines += _write(out_dir / f"{table.name}.tex", latex.render(table))
    figures = [html.Figure(title, _save(figure, out_dir / stem, lines))
               for stem, (title, figure) in report.figures.items()]
    compare_tabs, compare_txt = report.comparison or ([], report.published)
    if report.comparison:
        lines += _write(out_dir / "compare_paper.tex", "\n".join(latex.render(t) for t in compare_tabs))
        lines += _write(out_dir / "compare_paper.txt", compare_txt or "")
    for stem, reason in report.skipped.items():
        lines.append(reason)
        suffixes = FIGURE_FORMATS if stem in FIGURE_STEMS else ("tex", "txt")
        kept = [line for s in suffixes for line in _kept(out_dir / f"{stem}.{s}", stem)]
        lines += kept
        report.notes += kept
    notes = [*report.notes, *report.skipped.values()]
    datasets = sorted(set(runs["dataset"].dropna().astype(str)))
    reproduced = bool(datasets) and set(datasets) <= set(PAPER_DATASETS)
    page = html.page([*report.tables, *compare_tabs], figures, compare_txt, notes, _summary(runs),
                     what_ran=what_ran(runs), unfinished=list(runs.attrs.get("unfinished", [])),
                     missing=runs.attrs.get("missing_trials"),
                     heading=html.title([dataset_label(d) for d in order_datasets(datasets)], reproduced))
    return lines + _write(out_dir / "report.html", page)


# What a cell is, less the seed: the runs of one cell differ only by seed.
CELL_SETTINGS = ("method", "optimizer", "dataset", "q", "historical", "sparsity", "hybrid", "epochs", "tasks",
                 "profile")


def _values(runs: pd.DataFrame, column: str, labels: Callable[[str], str] = str) -> str:
    if column not in runs:
        return "unrecorded"
    values = sorted(set(runs[column].dropna().astype(str)), key=lambda v: (len(v), v))
    if column == "dataset":
        values = list(order_datasets(values))
    return ", ".join(labels(v) for v in values) or "unrecorded"


def what_ran(runs: pd.DataFrame) -> list[str]:
    """Lines on what the runs trained: tasks, epochs, seeds per cell, code version, dates."""
    if runs.empty:
        return ["no FINISHED run"]
    keys = [c for c in CELL_SETTINGS if c in runs]
    seeds = runs.assign(**{c: runs[c].astype("string").fillna("") for c in keys}).groupby(keys)["seed"].nunique()
    per_cell = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()} to {seeds.max()}"
    commits = sorted(set(runs["code_version"].dropna().astype(str).str[:12])) if "code_version" in runs else []
    start, end = runs["start_time"].min(), runs["end_time"].max()
    dates = (f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC" if pd.notna(start) and pd.notna(end)
             else "unrecorded")
    untrained = " (0: the untrained reference)" if (runs["epochs"].astype("float64") == 0).any() else ""
    return [f"data sets: {_values(runs, 'dataset', dataset_label)}; "
            f"methods: {_values(runs, 'method', lambda m: METHOD_LABELS.get(m, m))}",
            f"tasks per run: {_values(runs, 'tasks')}; epochs per task: {_values(runs, 'epochs')}{untrained}",
            f"seeds per cell: {per_cell} (a cell: one setting of method, optimizer, data set, q, enhancements, "
            f"epochs and tasks; {len(seeds)} cells)",
            f"code version: {', '.join(commits) or 'unrecorded'}",
            f"runs ended: {dates}"]


def _summary(runs: pd.DataFrame) -> str:
    """Which runs the page was made from: how many, from which experiments, which profiles."""
    experiments = sorted(set(runs["experiment"].dropna().astype(str)))
    profiles = sorted(set(runs["profile"].fillna("unrecorded").astype(str))) if "profile" in runs else []
    return (f"{len(runs)} FINISHED runs from experiment(s) {', '.join(experiments) or '(none)'}; "
            f"profile(s) {', '.join(profiles) or 'unrecorded'}.")


def _write(path: pathlib.Path, text: str) -> list[str]:
    path.write_text(text, encoding="utf-8")
    return [f"wrote {path}"]


def _save(figure: Figure, stem: pathlib.Path, lines: list[str]) -> bytes:
    """Write the PDF and PNG; returns the PNG bytes for the HTML page."""
    figure.savefig(stem.with_suffix(".pdf"))
    figure.set_layout_engine("none")  # the layout is done: the PNG reuses it (half the drawing time)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI)
    stem.with_suffix(".png").write_bytes(buffer.getvalue())
    lines += [f"wrote {stem.with_suffix('.pdf')}", f"wrote {stem.with_suffix('.png')}"]
    return buffer.getvalue()


def _kept(path: pathlib.Path, stem: str) -> list[str]:
    """An earlier report's file this report does not replace: kept (a report deletes nothing), and said so."""
    return [f"kept {path} from an earlier report: this report has no {stem}"] if path.exists() else []
