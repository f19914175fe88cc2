"""A Table (reports.table) as a booktabs float that fits a full page's text width.

The output is a ``table*`` float in ``\\footnotesize`` that needs only the booktabs package, so
it can be pasted into a two-column paper or ``\\input`` into any document that loads booktabs.
When the columns would be wider than ``TEXT_WIDTH_PT`` (6.75 in, an ICML/NeurIPS page), they are
split at column groups (datasets, metrics) into several tabulars stacked in the same float, each
repeating the row labels, as papers do; a float that would then be taller than a page becomes one
float per first-level row group (per method in Table 1), or per group of the first two labels
when one method alone is too tall (the beyond table's method and q). Widths are estimated from the printed characters; the
compile tests (tests/test_report_latex.py) check the estimate with pdflatex. A spread prints as a
subscript (91.23 with ±0.12 below the line), which keeps seeded tables narrow.

The caption sits above the table and says in one sentence what the table is (split_caption: the
table's caption up to its first full stop or colon); the rules it states (spread, bold, dashes,
profile) go in a note below the last tabular, so a caption never runs over several lines. A skip
of BELOW_CAPTION_SKIP keeps the caption's last line off the top rule (LaTeX's article class sets
none below a caption, as captions usually sit below a table).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from reports.table import Table

TEXT_WIDTH_PT = 6.75 * 72.27
TARGET_PT = TEXT_WIDTH_PT - 20  # slack for the estimate
# Widths of \footnotesize (8 pt Computer Modern) characters, measured with \settowidth.
DIGIT_PT, UPPER_PT, LOWER_PT, OTHER_PT = 3.9, 5.9, 4.1, 2.8
SUB_CHAR_PT, SUB_PM_PT = 3.5, 6.2  # a subscript digit, and the subscript ±
LINE_PT = 10.5  # a table row at \footnotesize
TABULAR_EXTRA_PT = 45.0  # header rows and rules of one tabular
CAPTION_LINE_CHARS = 140
BELOW_CAPTION_SKIP = "6pt"
MAX_FLOAT_PT = 560.0  # a 9 in text height less the room a float and its caption need
TABCOLSEP_PT = 4.0
_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "Δ": r"$\Delta$", "×": r"$\times$", "≥": r"$\geq$",
    "†": r"\textsuperscript{\dag}", "‡": r"\textsuperscript{\ddag}",
}


def escape(text: str) -> str:
    """Plain text made safe for LaTeX (labels, captions)."""
    return "".join(_SPECIAL.get(char, char) for char in text)


def entry(table: Table, row: int, column: int) -> str:
    mean, spread = table.text(row, column, plus_minus="")
    mean = escape(mean).replace("-", "$-$") if mean != "--" else mean
    text = f"\\textbf{{{mean}}}" if (row, column) in table.bold else mean
    return f"{text}$_{{\\pm {spread}}}$" if spread else text


def text_width(text: str) -> float:
    """Estimated width in pt of plain text at \footnotesize."""
    return sum(DIGIT_PT if c.isdigit() else UPPER_PT if c.isupper() else LOWER_PT if c.isalpha()
               else OTHER_PT for c in text)


def _width(table: Table, column: int) -> float:
    """Estimated width in pt of a data column: its widest entry or label, plus the padding."""
    widths = [text_width(table.columns[column].label)]
    for row in range(len(table.rows)):
        mean, spread = table.text(row, column, plus_minus="")
        widths.append(text_width(mean) + (SUB_PM_PT + len(spread) * SUB_CHAR_PT) * bool(spread))
    return max(widths) + 2 * TABCOLSEP_PT


def _lead_width(table: Table) -> float:
    return sum(max(text_width(text) for text in [head, *(row[i] for row in table.rows)]) + 2 * TABCOLSEP_PT
               for i, head in enumerate(table.row_header))


def chunks(table: Table) -> list[list[int]]:
    """Column indices per tabular: whole groups while they fit, single columns when one does not."""
    units: list[list[int]] = []
    for index, column in enumerate(table.columns):
        if units and column.group and table.columns[units[-1][0]].group == column.group:
            units[-1].append(index)
        else:
            units.append([index])
    room = TARGET_PT - _lead_width(table)
    if any(sum(_width(table, c) for c in unit) > room for unit in units):
        # A group wider than the page: split it into equal runs of columns.
        columns = list(range(len(table.columns)))
        count = -(-sum(_width(table, c) for c in columns) // room)
        while True:
            size = -(-len(columns) // int(count))
            out = [columns[i:i + size] for i in range(0, len(columns), size)]
            if all(sum(_width(table, c) for c in part) <= room for part in out) or size == 1:
                return out
            count += 1
    out: list[list[int]] = [[]]
    used = 0.0
    for unit in units:
        width = sum(_width(table, c) for c in unit)
        if out[-1] and used + width > room:
            out.append([])
            used = 0.0
        out[-1].extend(unit)
        used += width
    return out


def row(entries: Sequence[str]) -> str:
    return " & ".join(entries) + r" \\"


def _header(table: Table, columns: list[int]) -> list[str]:
    lead = len(table.row_header)
    lines: list[str] = []
    if any(table.columns[c].group for c in columns):
        spans: list[tuple[str, int]] = []
        for c in columns:
            group = table.columns[c].group
            if spans and spans[-1][0] == group:
                spans[-1] = (group, spans[-1][1] + 1)
            else:
                spans.append((group, 1))
        entries, rules, start = [""] * lead, [], lead + 1
        for group, width in spans:
            entries.append(f"\\multicolumn{{{width}}}{{c}}{{{escape(group)}}}" if group else "")
            if group:
                rules.append(f"\\cmidrule(lr){{{start}-{start + width - 1}}}")
            start += width
        lines += [row(entries), " ".join(rules)]
    labels = [escape(h) for h in table.row_header] + [escape(table.columns[c].label) for c in columns]
    return lines + [row(labels)]


def _body(table: Table, columns: list[int]) -> list[str]:
    """Rows with repeated leading labels left blank; midrules between first-level groups."""
    lines: list[str] = []
    width = len(table.row_header) + len(columns)
    previous: tuple[str, ...] = ()
    for r, labels in enumerate(table.rows):
        if previous and len(labels) > 1 and labels[0] != previous[0]:
            lines.append(r"\midrule")
        elif previous and len(labels) > 2 and labels[1] != previous[1]:
            lines.append(f"\\cmidrule(lr){{2-{width}}}")
        shown = [escape(text) if not previous or labels[: i + 1] != previous[: i + 1] else ""
                 for i, text in enumerate(labels)]
        lines.append(row([*shown, *(entry(table, r, c) for c in columns)]))
        previous = labels
    return lines


def tabular(table: Table, columns: list[int]) -> list[str]:
    colspec = "l" * len(table.row_header) + "c" * len(columns)
    return [f"\\begin{{tabular}}{{{colspec}}}", r"\toprule", *_header(table, columns), r"\midrule",
            *_body(table, columns), r"\bottomrule", r"\end{tabular}"]


def _height(table: Table) -> float:
    caption = sum(len(text) // CAPTION_LINE_CHARS + 1 for text in split_caption(table.caption)) * LINE_PT
    return caption + len(chunks(table)) * (len(table.rows) * LINE_PT + TABULAR_EXTRA_PT)


def parts(table: Table) -> list[Table]:
    """The table, or one table per row group when it is too tall for a page: groups of the first
    row label (per method), or of the first two labels and so on where one of those is still too tall."""
    if _height(table) <= MAX_FLOAT_PT or len(table.row_header) < 2:
        return [table]
    for depth in range(1, len(table.row_header)):
        groups = list(dict.fromkeys(labels[:depth] for labels in table.rows))
        if len(groups) >= 2 and all(_height(_subset(table, [g], "")) <= MAX_FLOAT_PT for g in groups):
            break
    if len(groups) < 2:
        return [table]
    packed: list[list[tuple[str, ...]]] = [[]]
    for group in groups:
        if packed[-1] and _height(_subset(table, [*packed[-1], group], "")) > MAX_FLOAT_PT:
            packed.append([])
        packed[-1].append(group)
    return [_subset(table, part, f"part {i + 1} of {len(packed)}: {'; '.join(_named(table, g) for g in part)}")
            for i, part in enumerate(packed)]


def _named(table: Table, group: tuple[str, ...]) -> str:
    """A row group as the caption names it: "EASE", or "EASE, q = 4" below the first level."""
    return ", ".join([group[0], *(f"{head} = {label}" for head, label in zip(table.row_header[1:], group[1:]))])


def split_caption(text: str) -> tuple[str, str]:
    """(the caption's first sentence, the rest): cut at the first full stop or colon outside
    parentheses; the sentence ends in a full stop, the rest starts with a capital."""
    depth = 0
    text = text.strip()
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if depth == 0 and char in ".:" and (i + 1 == len(text) or text[i + 1] == " "):
            rest = text[i + 1:].strip()
            return text[:i] + ".", rest[:1].upper() + rest[1:]
    return text, ""


def _subset(table: Table, groups: list[tuple[str, ...]], part: str) -> Table:
    """The rows under the given leading labels, as a table of their own; `part` says which, in the
    caption's first sentence."""
    keep = [r for r, labels in enumerate(table.rows) if any(labels[:len(g)] == g for g in groups)]
    position = {old: new for new, old in enumerate(keep)}
    slug = re.sub("[^a-z0-9]+", "-", " ".join(groups[0]).lower()).strip("-")
    return replace(
        table, name=f"{table.name}-{slug}" if part else table.name,
        rows=tuple(table.rows[r] for r in keep), cells=tuple(table.cells[r] for r in keep),
        bold=frozenset((position[r], c) for r, c in table.bold if r in position),
        marks=frozenset((position[r], c, text) for r, c, text in table.marks if r in position),
        caption=_with_part(table.caption, part))


def _with_part(caption: str, part: str) -> str:
    if not part:
        return caption
    sentence, rest = split_caption(caption)
    return f"{sentence[:-1]} ({part}). {rest}"


def render(table: Table) -> str:
    """The table's float(s): see parts and chunks."""
    return "\n".join(_float(part) for part in parts(table))


def _float(table: Table) -> str:
    """One float: a one-sentence caption, label, one tabular per chunk of columns, the note."""
    sentence, note = split_caption(table.caption)
    lines = [r"\begin{table*}[t]", r"\centering", r"\footnotesize",
             f"\\setlength{{\\tabcolsep}}{{{TABCOLSEP_PT:g}pt}}",
             f"\\setlength{{\\belowcaptionskip}}{{{BELOW_CAPTION_SKIP}}}",
             f"\\caption{{{escape(sentence)}}}", f"\\label{{tab:zfsweep-{table.name}}}"]
    for i, columns in enumerate(chunks(table)):
        if i:
            lines += ["", r"\medskip", ""]
        lines += tabular(table, columns)
    if note:
        lines += ["", r"\smallskip", f"\\parbox{{\\linewidth}}{{\\raggedright {escape(note)}}}"]
    return "\n".join([*lines, r"\end{table*}"]) + "\n"
