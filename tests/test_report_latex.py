"""Every LaTeX output is booktabs, well formed, and fits a 6.75 in page where pdflatex exists.

Three stores: the paper's numbers with one seed and with three (every paper grid), and a large
synthetic store with every dataset including digits, both sparsity masks and the beyond table's
runs. Each .tex is compiled on its own in a minimal article at a full ICML/NeurIPS text width; an
overfull box fails the test.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from bench.report import fake_runs, paper_runs
from reports import latex
from reports.beyond import beyond
from reports.build import TABLES
from reports.compare import compare_tables, comparisons
from reports.cells import Cell
from reports.runs import runs_frame
from reports.table import Column, Table
from reports.tables import Skipped

from latexpage import assert_fits_a_page, caption_gaps_pt, needs_pdflatex

STORES = {
    "paper-1-seed": lambda: paper_runs(1),
    "paper-3-seeds": lambda: paper_runs(3, spread=0.5),
    "synthetic-all-datasets": lambda: fake_runs(1200),
}
TEX = ("table1.tex", "table2.tex", "table3.tex", "table4.tex", "beyond.tex", "compare_paper.tex")


@pytest.fixture(scope="module", params=list(STORES))
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Every table and the comparison from one store, rendered as write_report renders them."""
    out = tmp_path_factory.mktemp(request.param)
    runs = runs_frame(r.record(f"r{i}", end_time_ms=i) for i, r in enumerate(STORES[request.param]()))
    for build in TABLES:
        try:
            table = build(runs, None)
        except Skipped:  # the paper's numbers hold no run of the estimators beyond it
            assert build is beyond and request.param.startswith("paper")
            continue
        (out / f"{table.name}.tex").write_text(latex.render(table))
    compared = compare_tables(comparisons(runs), "all")
    (out / "compare_paper.tex").write_text("\n".join(latex.render(t) for t in compared))
    return out


def _columns(colspec: str) -> int:
    return len(re.findall(r"[lcr]", colspec))


def _check_tabulars(tex: str) -> None:
    assert tex.count("\\begin{table*}") == tex.count("\\end{table*}") >= 1
    assert tex.count("{") - tex.count("\\{") == tex.count("}") - tex.count("\\}")
    for tabular in tex.split("\\end{tabular}")[:-1]:
        tabular = tabular.split("\\begin{tabular}", 1)[1]
        assert tabular.count("\\toprule") == 1 and tabular.count("\\bottomrule") == 1
        assert "\\hline" not in tabular
        width = _columns(re.match(r"\{([^}]*)\}", tabular).group(1))
        for line in tabular.split("\\toprule")[1].splitlines():
            if not line.endswith("\\\\"):
                continue
            spans = [int(n) for n in re.findall(r"\\multicolumn\{(\d+)\}", line)]
            cells = line.count("&") - line.count("\\&") + 1
            assert cells - len(spans) + sum(spans) == width, line


@pytest.mark.parametrize("name", TEX)
def test_outputs_are_well_formed_booktabs(report: pathlib.Path, name: str) -> None:
    _written(report, name)
    _check_tabulars((report / name).read_text())


def _written(report: pathlib.Path, name: str) -> None:
    """Skip beyond.tex for the paper's stores (the fixture checks the synthetic one has it)."""
    if name == "beyond.tex" and not (report / name).exists():
        pytest.skip("the paper's numbers hold no run of the estimators beyond it")


def test_entries_and_escaping() -> None:
    table = Table("t", "T", ("Row",), (("a",), ("b",), ("c",)), (Column("", "x", 1), Column("", "d", 2, True)),
                  ((Cell((1.0, 2.0)), Cell((-0.5,))), (None, Cell((0.25,))), (Cell((3.0,)), None)),
                  "c", frozenset({(2, 0)}))
    assert latex.entry(table, 0, 0) == "1.5$_{\\pm 0.7}$"
    assert latex.entry(table, 0, 1) == "$-$0.50"
    assert latex.entry(table, 1, 1) == "+0.25"
    assert latex.entry(table, 1, 0) == "--"
    assert latex.entry(table, 2, 0) == "\\textbf{3.0}"
    assert latex.escape("my_set 50% & $x# ±") == "my\\_set 50\\% \\& \\$x\\# $\\pm$"


def test_a_wide_table_is_split_into_stacked_tabulars_at_column_groups() -> None:
    columns = tuple(Column(f"Dataset {d}", m) for d in range(6) for m in ("Avg", "Last", "Fgt"))
    table = Table("wide", "W", ("Method", "Optimizer"), (("EASE", "ZO-SGD"),), columns,
                  ((*[Cell((81.234, 80.0, 79.5))] * 18,),), "c")
    chunks = latex.chunks(table)
    assert len(chunks) > 1 and all(len(chunk) % 3 == 0 for chunk in chunks)
    assert sorted(c for chunk in chunks for c in chunk) == list(range(18))
    assert latex.render(table).count("\\begin{tabular}") == len(chunks)


@needs_pdflatex
@pytest.mark.parametrize("name", TEX)
def test_each_output_compiles_and_fits_a_page(report: pathlib.Path, name: str, tmp_path: pathlib.Path) -> None:
    _written(report, name)
    assert_fits_a_page(report / name, tmp_path)


@pytest.mark.parametrize("name", TEX)
def test_captions_are_one_sentence_and_the_rules_sit_in_a_note_below(report: pathlib.Path, name: str) -> None:
    _written(report, name)
    tex = (report / name).read_text()
    for block in tex.split("\\begin{table*}")[1:]:
        caption = re.search(r"\\caption\{(.*)\}\n\\label", block).group(1)
        assert caption.endswith(".") and ". " not in caption and len(caption) <= 2 * latex.CAPTION_LINE_CHARS, caption
        assert block.index("\\belowcaptionskip") < block.index("\\caption{")
        note = block.rsplit("\\end{tabular}", 1)[1]
        assert "Mean over seeds" in note and "\\toprule" not in note  # the rules: after the last tabular
        if name == "table1.tex":
            assert "Welch" in note and "Welch" not in caption


@needs_pdflatex
@pytest.mark.parametrize("name", ("table1.tex", "table2.tex", "compare_paper.tex"))
def test_a_captions_last_line_clears_the_top_rule(report: pathlib.Path, name: str, tmp_path: pathlib.Path) -> None:
    """Baseline of the caption's last line to the top of \\toprule: descenders take ~2 pt at
    \\footnotesize, so 6 pt leaves a visible gap (without the skip the two are 1 pt apart)."""
    gaps = caption_gaps_pt(report / name, tmp_path)
    assert gaps and min(gaps) >= 6.0, gaps


def test_split_caption_keeps_parentheses_whole() -> None:
    assert latex.split_caption("Avg (part 1 of 2: EASE). profile: x.") == ("Avg (part 1 of 2: EASE).", "Profile: x.")
    assert latex.split_caption("Against Table 1, CUB: ours. Mean.") == ("Against Table 1, CUB.", "Ours. Mean.")
