"""Compile one LaTeX fragment in a minimal article at a 6.75 in text width (a full ICML/NeurIPS
page) and fail on anything that does not fit: shared by the report tests."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

# The preamble docs/internals.md lists: booktabs is the only package the tables need.
DOCUMENT = r"""\documentclass{article}
\usepackage[paperwidth=8.5in,paperheight=11in,textwidth=6.75in,textheight=9in]{geometry}
\usepackage{booktabs}
\begin{document}
\input{%s}
\end{document}
"""

needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")


def assert_fits_a_page(fragment: pathlib.Path, folder: pathlib.Path) -> None:
    """pdflatex succeeds on `fragment`, with no overfull box and no float too large for the page."""
    (folder / "doc.tex").write_text(DOCUMENT % fragment)
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                            cwd=folder, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    log = (folder / "doc.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log, log[log.find("Overfull"):][:500]
    assert "Float too large" not in log


# Marks the baseline of each caption's last line and the top of each float's first rule.
MARKED = r"""\documentclass{article}
\usepackage[paperwidth=8.5in,paperheight=11in,textwidth=6.75in,textheight=9in]{geometry}
\usepackage{booktabs}
\newwrite\zfpos\immediate\openout\zfpos=positions.txt
\begin{document}
\input{%s}
\end{document}
"""


def caption_gaps_pt(fragment: pathlib.Path, folder: pathlib.Path) -> list[float]:
    """Per float, the distance from its caption's last baseline down to its first \\toprule, in pt
    (pdfTeX's \\pdfsavepos at both places, written out at shipout)."""
    marked = []
    for block in fragment.read_text().split("\\begin{table*}")[1:]:
        block = block.replace("\\caption{", "\\caption[]{", 1)
        cut = block.index("\\label{")  # the caption's argument ends just before the label
        end = block.rindex("}", 0, cut)
        block = block[:end] + r"\pdfsavepos\write\zfpos{caption \the\pdflastypos}" + block[end:]
        block = block.replace("\\toprule", r"\noalign{\pdfsavepos\write\zfpos{rule \the\pdflastypos}}\toprule", 1)
        marked.append("\\begin{table*}" + block)
    (folder / "marked.tex").write_text("".join(marked))
    (folder / "doc.tex").write_text(MARKED % (folder / "marked.tex"))
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                            cwd=folder, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    marks = [line.split() for line in (folder / "positions.txt").read_text().splitlines()]
    captions = [int(y) for kind, y in marks if kind == "caption"]
    rules = [int(y) for kind, y in marks if kind == "rule"]
    assert len(captions) == len(rules) == len(marked), marks
    return [(caption - rule) / 65536 for caption, rule in zip(captions, rules)]
