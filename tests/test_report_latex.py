"""Every LaTeX output is booktabs, well formed, and compiles as a fragment where pdflatex exists."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest

from bench.report import fake_runs
from reports import latex
from reports.build import write_report
from reports.cells import Cell
from reports.runs import runs_frame

DOCUMENT = r"""\documentclass{article}
\usepackage{booktabs}
\begin{document}
%s
\end{document}
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Every table and the comparison, from synthetic runs that cover all of them."""
    out = tmp_path_factory.mktemp("report")
    runs = runs_frame(r.record(f"r{i}") for i, r in enumerate(fake_runs(700)))
    lines = write_report(runs, out, compare_paper=True)
    assert not any("failed" in line or "skipped" in line for line in lines), lines
    return out


def _columns(colspec: str) -> int:
    return len(re.findall(r"[lcr]", colspec))


def _check_floats(tex: str) -> None:
    floats = tex.split("\\end{table}")[:-1]
    assert floats and tex.rstrip().endswith("\\end{table}")
    for float_ in floats:
        assert float_.count("\\begin{tabular}") == 1 and float_.count("\\toprule") == 1
        assert float_.count("\\bottomrule") == 1 and "\\hline" not in float_
        assert float_.count("{") - float_.count("\\{") == float_.count("}") - float_.count("\\}")
        width = _columns(re.search(r"\\begin\{tabular\}\{([^}]*)\}", float_).group(1))
        body = float_.split("\\toprule")[1].split("\\bottomrule")[0]
        for line in body.splitlines():
            if not line.endswith("\\\\"):
                continue
            spans = [int(n) for n in re.findall(r"\\multicolumn\{(\d+)\}", line)]
            cells = line.count("&") - line.count("\\&") + 1
            assert cells - len(spans) + sum(spans) == width, line


@pytest.mark.parametrize("name", ["table1.tex", "table2.tex", "table3.tex", "table4.tex",
                                  "compare_paper.tex"])
def test_outputs_are_well_formed_booktabs(report: pathlib.Path, name: str) -> None:
    _check_floats((report / name).read_text())


def test_cell_text_and_escaping() -> None:
    assert latex.number(None, 2) == "--"
    assert latex.number(Cell((1.0,)), 2, bold=True) == "\\textbf{1.00}"
    assert latex.number(Cell((1.0, 2.0)), 1) == "1.5$\\pm$0.7"
    assert latex.escape("my_set 50% & $x#") == "my\\_set 50\\% \\& \\$x\\#"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_outputs_compile_as_fragments(report: pathlib.Path, tmp_path: pathlib.Path) -> None:
    fragments = [f"\\input{{{report / n}}}" for n in
                 ("table1.tex", "table2.tex", "table3.tex", "table4.tex", "compare_paper.tex")]
    (tmp_path / "doc.tex").write_text(DOCUMENT % "\n\\clearpage\n".join(fragments))
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
