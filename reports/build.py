"""``zfsweep report``'s one entry point: every output file from one runs DataFrame.

Each output is produced on its own, so a table that has no runs, or one that fails, costs only
that file: the user gets a line saying what was written, what was skipped and why, and the
command goes on. Nothing here reads MLflow; the CLI passes what reports.runs.load_runs returned.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import pandas as pd

from reports.beyond import beyond_table
from reports.compare import compare_latex, compare_text, comparison_frame, comparisons
from reports.figures import figure5
from reports.ratios import table3, table4
from reports.tables import Rendered, table1, table2

TABLES: tuple[tuple[str, Callable[[pd.DataFrame], Rendered]], ...] = (
    ("table1.tex", table1),
    ("table2.tex", table2),
    ("table3.tex", table3),
    ("table4.tex", table4),
)
FIGURE_FORMATS: tuple[str, ...] = ("pdf", "png")
PNG_DPI = 150


def write_report(
    runs: pd.DataFrame, out_dir: pathlib.Path, compare_paper: bool = False
) -> list[str]:
    """Write runs.parquet, Tables 1-4, Figure 5, the beyond-the-paper table and, if asked, the paper comparison.

    Returns human-readable lines, one per file written or skipped, plus notes on the data.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"experiment not found: {name}" for name in runs.attrs.get("missing_experiments", [])]
    lines += _guarded("runs.parquet", lambda: _write_parquet(runs, out_dir))
    for name, build in TABLES:
        path = out_dir / name
        lines += _guarded(name, lambda path=path, build=build: _write_rendered(build(runs), path))
    lines += _guarded("figure5", lambda: _write_figure(runs, out_dir))
    lines += _guarded("beyond.tex", lambda: _write_rendered(beyond_table(runs), out_dir / "beyond.tex"))  # type: ignore[arg-type]
    if compare_paper:
        lines += _guarded("compare_paper", lambda: _write_comparison(runs, out_dir))
    return lines


def _guarded(what: str, produce: Callable[[], list[str]]) -> list[str]:
    """Run one output; an unexpected error becomes a line, and the other outputs still run."""
    try:
        return produce()
    except Exception as error:  # noqa: BLE001 - one broken output must not cost the others
        return [f"{what} failed: {type(error).__name__}: {error}"]


def _write_parquet(runs: pd.DataFrame, out_dir: pathlib.Path) -> list[str]:
    path = out_dir / "runs.parquet"
    runs.to_parquet(path, index=False)
    return [f"wrote {path} ({len(runs)} FINISHED runs)"]


def _write_rendered(rendered: Rendered, path: pathlib.Path) -> list[str]:
    if rendered.text is None:
        return [*rendered.notes, *_remove_stale(path)]
    path.write_text(rendered.text, encoding="utf-8")
    return [f"wrote {path}", *rendered.notes]


def _write_figure(runs: pd.DataFrame, out_dir: pathlib.Path) -> list[str]:
    figure, notes = figure5(runs)
    if figure is None:
        stale = [line for f in FIGURE_FORMATS for line in _remove_stale(out_dir / f"figure5.{f}")]
        return [*notes, *stale]
    written = []
    for fmt in FIGURE_FORMATS:
        path = out_dir / f"figure5.{fmt}"
        figure.savefig(path, dpi=PNG_DPI)
        written.append(f"wrote {path}")
    return [*written, *notes]


def _write_comparison(runs: pd.DataFrame, out_dir: pathlib.Path) -> list[str]:
    items = comparisons(runs)
    tex, txt = out_dir / "compare_paper.tex", out_dir / "compare_paper.txt"
    if all(item.ours is None for item in items):
        stale = [*_remove_stale(tex), *_remove_stale(txt)]
        return ["compare_paper skipped: no run matches a setting the paper published", *stale]
    tex.write_text(compare_latex(items), encoding="utf-8")
    txt.write_text(compare_text(comparison_frame(items)), encoding="utf-8")
    return [f"wrote {tex}", f"wrote {txt}"]


def _remove_stale(path: pathlib.Path) -> list[str]:
    """A skipped output must not leave an earlier report's file behind to be mistaken for it."""
    if not path.exists():
        return []
    path.unlink()
    return [f"removed {path} left by an earlier report"]
