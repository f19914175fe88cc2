"""Booktabs LaTeX pieces shared by every table.

Output is a ``table`` float around a ``tabular`` that needs only the booktabs package, so it can
be pasted into a paper or ``\\input`` into any document that loads booktabs. A cell is the mean,
followed by ``$\\pm$`` and the sample standard deviation when the config has several seeds; an
empty cell is ``--``.
"""

from __future__ import annotations

from collections.abc import Sequence

from reports.cells import Cell

DASH = "--"
_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def escape(text: str) -> str:
    """Plain text made safe for LaTeX (names of unknown datasets, notes)."""
    return "".join(_SPECIAL.get(char, char) for char in text)


def number(cell: Cell | None, decimals: int, bold: bool = False) -> str:
    """One table entry: mean, ± std when there are seeds to spread, bold when asked."""
    if cell is None:
        return DASH
    text = f"{cell.mean:.{decimals}f}"
    if cell.n >= 2:
        text += f"$\\pm${cell.std:.{decimals}f}"
    return f"\\textbf{{{text}}}" if bold else text


def row(entries: Sequence[str]) -> str:
    return " & ".join(entries) + r" \\"


def group_header(lead: int, groups: Sequence[tuple[str, int]]) -> list[str]:
    """A spanning header line over column groups, and the cmidrules under it.

    ``lead`` columns come first without a group; each group is (label, width).
    """
    entries = [""] * lead
    rules = []
    start = lead + 1
    for label, width in groups:
        entries.append(f"\\multicolumn{{{width}}}{{c}}{{{label}}}")
        rules.append(f"\\cmidrule(lr){{{start}-{start + width - 1}}}")
        start += width
    return [row(entries), " ".join(rules)]


def table(
    colspec: str, header: Sequence[str], blocks: Sequence[Sequence[str]], caption: str, label: str
) -> str:
    """A complete booktabs float; ``blocks`` of body lines are separated by midrules."""
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        f"\\caption{{{caption}}}",
        f"\\label{{{label}}}",
        f"\\begin{{tabular}}{{{colspec}}}",
        r"\toprule",
        *header,
        r"\midrule",
    ]
    for i, block in enumerate(blocks):
        if i:
            lines.append(r"\midrule")
        lines.extend(block)
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


SPREAD_NOTE = (
    r"Mean over seeds, $\pm$ sample standard deviation where a config has several seeds; "
)
BOLD_NOTE = (
    r"\textbf{bold}: best, or not significantly worse than the best "
    r"(Welch's $t$-test, 5\%; equal after rounding when a seed is alone); "
)
EMPTY_NOTE = "--: no run."
