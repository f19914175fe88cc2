"""``report.html``: the whole study on one self-contained page, for reading without LaTeX.

Every table is the same reports.table.Table the LaTeX file is rendered from, shown through a
pandas Styler (bold where the LaTeX is bold); every figure is its PNG embedded as a data URI, so
the page can be mailed or archived as one file. The notes the command printed close the page.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from reports.table import Table

CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.6rem 0; }
th, td { padding: 0.2rem 0.5rem; text-align: center; white-space: nowrap; }
thead tr:last-child th { border-bottom: 1px solid #444; }
table { border-top: 2px solid #444; border-bottom: 2px solid #444; }
tbody th { text-align: left; font-weight: normal; }
.caption { font-size: 0.85rem; color: #444; max-width: 60rem; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 0.6rem; font-size: 0.75rem; overflow-x: auto; }
"""


@dataclass(frozen=True)
class Figure:
    """A written figure: its title and PNG bytes."""

    title: str
    png: bytes


def styled(table: Table) -> str:
    """The table as HTML through pandas' Styler, bold cells in bold."""
    frame = table.display()
    bold = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for row, column in table.bold:
        bold.iat[row, column] = "font-weight: bold"
    styler = frame.style.apply(lambda _: bold, axis=None)
    return styler.to_html(table_uuid=table.name.replace("-", "_"))


def page(tables: Sequence[Table], figures: Sequence[Figure], comparison: str | None,
         notes: Sequence[str], summary: str = "") -> str:
    """The complete page; ``summary`` says which runs it was made from."""
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             "<title>zfsweep report</title>", f"<style>{CSS}</style></head><body>",
             "<h1>zfsweep report: ZeroFlow (arXiv 2501.01045) reproduced</h1>",
             f"<p class='caption'>{html.escape(summary)}</p>"]
    for table in tables:
        parts += [f"<h2>{html.escape(table.title)}</h2>",
                  f"<p class='caption'>{html.escape(table.caption)}</p>", styled(table)]
    for figure in figures:
        data = base64.b64encode(figure.png).decode("ascii")
        parts += [f"<h2>{html.escape(figure.title)}</h2>",
                  f"<img alt='{html.escape(figure.title)}' src='data:image/png;base64,{data}'>"]
    if comparison:
        parts += ["<h2>Comparison with the paper</h2>", f"<pre>{html.escape(comparison)}</pre>"]
    if notes:
        parts += ["<h2>Notes</h2>", "<ul>", *(f"<li>{html.escape(n)}</li>" for n in notes), "</ul>"]
    return "\n".join([*parts, "</body></html>"]) + "\n"
