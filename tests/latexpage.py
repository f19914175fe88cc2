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
