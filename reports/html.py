"""``report.html``: the whole study on one self-contained page, for reading without LaTeX.

Every table is the same reports.table.Table the LaTeX file is rendered from, shown through a
pandas Styler (bold where the LaTeX is bold); every figure is its PNG embedded as a data URI, so
the page can be mailed or archived as one file. The page opens with what ran (tasks, epochs, seeds
per cell, code version, dates) and the trials that did not finish; each table has its one-sentence
caption above and its rules in a note below (reports.latex.split_caption), and rules between row
groups where the LaTeX has them. The page takes the window's width. The notes the command printed
close the page. The title says "reproduced" only when every run is on one of the paper's data sets.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from reports.latex import split_caption
from reports.table import Table

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem 2rem; color: #222; line-height: 1.4; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.6rem 0; }
th, td { padding: 0.2rem 0.5rem; text-align: center; white-space: nowrap; }
thead tr:last-child th { border-bottom: 1px solid #444; }
table { border-top: 2px solid #444; border-bottom: 2px solid #444; }
tbody th { text-align: left; font-weight: normal; }
.caption { font-size: 0.8rem; color: #444; max-width: 80rem; }  /* no larger than the table it heads */
.note { font-size: 0.75rem; color: #555; max-width: 80rem; margin-top: 0; }
.table-wrap { overflow-x: auto; }
tr.group th, tr.group td { border-top: 1px solid #444; }
tr.subgroup td, tr.subgroup th.level1, tr.subgroup th.level2 { border-top: 1px solid #bbb; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 0.6rem; font-size: 0.75rem; overflow-x: auto; }
"""


@dataclass(frozen=True)
class Figure:
    """A written figure: its title and PNG bytes."""

    title: str
    png: bytes


def group_rules(table: Table) -> list[str]:
    """Per row, "group" where its first label changes (the LaTeX's \\midrule), "subgroup" where its
    second does (\\cmidrule), else ""."""
    marks, previous = [], ()
    for labels in table.rows:
        if previous and len(labels) > 1 and labels[0] != previous[0]:
            marks.append("group")
        elif previous and len(labels) > 2 and labels[1] != previous[1]:
            marks.append("subgroup")
        else:
            marks.append("")
        previous = labels
    return marks


def styled(table: Table) -> str:
    """The table as HTML through pandas' Styler, bold cells in bold, rules between row groups."""
    frame = table.display()
    bold = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for row, column in table.bold:
        bold.iat[row, column] = "font-weight: bold"
    styler = frame.style.apply(lambda _: bold, axis=None)
    body = styler.to_html(table_uuid=table.name.replace("-", "_"))
    rows = iter(group_rules(table))
    head, _, rest = body.partition("<tbody>")
    pieces = rest.split("<tr>")
    rest = pieces[0] + "".join((f"<tr class='{mark}'>" if (mark := next(rows, "")) else "<tr>") + piece
                               for piece in pieces[1:])
    return f"<div class='table-wrap'>{head}<tbody>{rest}</div>"


def title(datasets: Sequence[str], reproduced: bool) -> str:
    """"reproduced" for the paper's data sets only; otherwise which data sets the benchmark ran on."""
    if reproduced:
        return "zfsweep report: ZeroFlow (arXiv 2501.01045) reproduced"
    return (f"zfsweep report: the ZeroFlow (arXiv 2501.01045) benchmark on {', '.join(datasets)}" if datasets
            else "zfsweep report: no finished run")


def page(tables: Sequence[Table], figures: Sequence[Figure], comparison: str | None,
         notes: Sequence[str], summary: str = "", *, what_ran: Sequence[str] = (), unfinished: Sequence[str] = (),
         heading: str = "zfsweep report", missing: Sequence[str] | None = None) -> str:
    """The complete page; ``summary`` says which runs it was made from, ``what_ran`` what they
    trained, ``unfinished`` the runs that failed or never finished, ``missing`` the grid's trials
    with no FINISHED run (None: no grid given, so not known)."""
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             "<title>zfsweep report</title>", f"<style>{CSS}</style></head><body>",
             f"<h1>{html.escape(heading)}</h1>", f"<p class='caption'>{html.escape(summary)}</p>"]
    if what_ran:
        parts += ["<h2>What ran</h2>", "<ul>", *(f"<li>{html.escape(line)}</li>" for line in what_ran), "</ul>"]
    if unfinished:
        parts += [f"<h2>Failed and unfinished trials ({len(unfinished)})</h2>", "<ul>",
                  *(f"<li>{html.escape(line)}</li>" for line in unfinished), "</ul>"]
    if missing:
        parts += [f"<h2>Trials of the grid with no finished run ({len(missing)})</h2>", "<ul>",
                  *(f"<li>{html.escape(line)}</li>" for line in missing), "</ul>"]
    elif missing is None and what_ran:
        parts.append("<p class='note'>Trials that never started are not in the store: "
                     "<code>zfsweep report --grid GRID</code> lists the grid's trials with no run.</p>")
    for table in tables:
        sentence, note = split_caption(table.caption)
        parts += [f"<h2>{html.escape(table.title)}</h2>", f"<p class='caption'>{html.escape(sentence)}</p>",
                  styled(table), *([f"<p class='note'>{html.escape(note)}</p>"] if note else [])]
    for figure in figures:
        data = base64.b64encode(figure.png).decode("ascii")
        parts += [f"<h2>{html.escape(figure.title)}</h2>",
                  f"<img alt='{html.escape(figure.title)}' src='data:image/png;base64,{data}'>"]
    if comparison:
        parts += ["<h2>Comparison with the paper</h2>", f"<pre>{html.escape(comparison)}</pre>"]
    if notes:
        parts += ["<h2>Notes</h2>", "<ul>", *(f"<li>{html.escape(n)}</li>" for n in notes), "</ul>"]
    return "\n".join([*parts, "</body></html>"]) + "\n"
