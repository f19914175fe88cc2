"""One table as data: row labels, columns, cells and bold marks, rendered later as LaTeX or HTML.

Every table of the report (ZeroFlow's Tables 1-4 and the paper comparison) is built as a Table,
so the LaTeX file and the HTML page show the same numbers from the same object: reports.latex
turns it into booktabs floats that fit a page, reports.html into a pandas Styler. Texts here are
plain (``±``, ``Δ``, ``%`` as themselves); each renderer escapes them for its format.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from reports.cells import Cell

DASH = "--"
BOLD_NOTE = (
    "Bold: best, or not significantly worse than the best (Welch's t-test, 5%; equal after "
    "rounding when a seed is alone); no bold where every entry ties. "
)
SPREAD_NOTE = "Mean over seeds, ± sample standard deviation where a config has several seeds. "
EMPTY_NOTE = "--: no run. "


@dataclass(frozen=True)
class Column:
    """A data column: the spanning group it sits under ("" for none), its label, its format."""

    group: str
    label: str
    decimals: int = 2
    signed: bool = False


@dataclass(frozen=True)
class Table:
    """Rows x columns of cells; ``rows`` hold the full labels, one per ``row_header`` entry."""

    name: str
    title: str
    row_header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    columns: tuple[Column, ...]
    cells: tuple[tuple[Cell | None, ...], ...]
    caption: str
    bold: frozenset[tuple[int, int]] = frozenset()
    notes: tuple[str, ...] = ()
    marks: frozenset[tuple[int, int, str]] = frozenset()  # (row, column, text after the mean): reports.untrained

    def text(self, row: int, column: int, plus_minus: str = " ± ") -> tuple[str, str]:
        """(mean, spread) as printed; spread is "" for one seed, mean is DASH for no run."""
        cell, spec = self.cells[row][column], self.columns[column]
        if cell is None:
            return DASH, ""
        mean = f"{cell.mean:+.{spec.decimals}f}" if spec.signed else f"{cell.mean:.{spec.decimals}f}"
        mean += "".join(text for r, c, text in self.marks if (r, c) == (row, column))
        spread = f"{plus_minus}{cell.std:.{spec.decimals}f}" if cell.n >= 2 else ""
        return mean, spread

    def display(self) -> pd.DataFrame:
        """Printed strings with MultiIndex rows and columns (what the HTML page shows)."""
        index = pd.MultiIndex.from_tuples(self.rows, names=list(self.row_header))
        groups = [(c.group, c.label) for c in self.columns]
        columns = pd.MultiIndex.from_tuples(groups) if any(g for g, _ in groups) else \
            pd.Index([label for _, label in groups])
        values = [["".join(self.text(r, c)) for c in range(len(self.columns))] for r in range(len(self.rows))]
        return pd.DataFrame(values, index=index, columns=columns)


def provenance(runs: pd.DataFrame, rule: str | None, crowded: Iterable[str] = ()) -> str:
    """Caption sentences on what the table's runs are: their profile and any selection rule."""
    profiles = sorted(set(runs["profile"].fillna("unrecorded").astype(str))) if "profile" in runs else []
    text = f"Profile: {', '.join(profiles) or 'unrecorded'}. " if len(runs) else ""
    crowded = list(crowded)
    if rule and crowded:
        text += (f"{len(crowded)} cell(s) held several configs; kept by the rule "
                 f"--prefer {rule} ({'most seeds' if rule == 'most-seeds' else 'newest run'}). ")
    return text


@dataclass
class Builder:
    """Collects rows of cells and bold positions for one Table."""

    columns: tuple[Column, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    cells: list[tuple[Cell | None, ...]] = field(default_factory=list)
    bold: set[tuple[int, int]] = field(default_factory=set)
    marks: set[tuple[int, int, str]] = field(default_factory=set)

    def add(self, labels: tuple[str, ...], cells: list[Cell | None], bold: Iterable[bool] = (),
            marks: Iterable[str] = ()) -> None:
        row = len(self.rows)
        self.rows.append(labels)
        self.cells.append(tuple(cells))
        self.bold.update((row, c) for c, mark in enumerate(bold) if mark)
        self.marks.update((row, c, text) for c, text in enumerate(marks) if text)

    def table(self, name: str, title: str, row_header: tuple[str, ...], caption: str,
              notes: Iterable[str] = ()) -> Table:
        return Table(name, title, row_header, tuple(self.rows), self.columns, tuple(self.cells),
                     caption, frozenset(self.bold), tuple(notes), frozenset(self.marks))
