"""report.html and its figures as a reader meets them: what ran, the trials that did not finish,
one colour per optimizer, the untrained reference, panels on one scale, a readable forward-pass
axis, group rules in the tables, the window's width, the paper's numbers when nothing matches, and
"reproduced" only for the paper's data sets."""

from __future__ import annotations

import pathlib
import re

import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer

from bench.report import BASE_CONFIG, FakeRun, log_runs, paper_runs
from catalog.optimizers import OPTIMIZERS
from catalog.records import COMMIT_TAG, ERROR_TAG
from reports import html, latex
from reports.build import write_report
from reports.figures import OPTIMIZER_COLOURS, figure5
from reports.plots import figure_bars, figure_queries, figure_tasks
from reports.runs import load_runs, runs_frame
from reports.tables import table1

CURVE = {f"task_acc/{t}": 30.0 - t for t in range(10)}


def frame(runs: list[FakeRun]) -> pd.DataFrame:
    return runs_frame(r.record(f"r{i}", end_time_ms=1_700_000_000_000 + i) for i, r in enumerate(runs))


def untrained(dataset: str) -> FakeRun:
    return FakeRun({**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": dataset, "epochs": 0,
                    "profile": "released"}, {"avg_acc": 30.0, "last_acc": 21.0, "forgetting": 0.0, **CURVE})


@pytest.fixture(scope="module")
def paper_frame() -> pd.DataFrame:
    return frame([*paper_runs(1), untrained("cifar100"), untrained("cub")])


def test_the_colour_map_is_declared_once_for_every_optimizer_and_every_figure_uses_it(
        paper_frame: pd.DataFrame) -> None:
    assert set(OPTIMIZER_COLOURS) == set(OPTIMIZERS) and len(set(OPTIMIZER_COLOURS.values())) == len(OPTIMIZERS)
    zo_adam = OPTIMIZER_COLOURS["zo-adam"]
    for draw in (figure5, figure_tasks, figure_queries):
        figure = draw(paper_frame).figure
        colours = {text.get_text(): to_hex(handle.get_color() if hasattr(handle, "get_color") else
                                           handle.lines[0].get_color())
                   for legend in figure.legends for handle, text in zip(legend.legend_handles, legend.get_texts())}
        assert colours["ZO-Adam" if draw is not figure5 else "EASE ZO-Adam"] == zo_adam, draw
    bars = [c for c in figure_bars(paper_frame).figure.axes[0].containers if isinstance(c, BarContainer)]
    labels = [t.get_text() for t in figure_bars(paper_frame).figure.axes[0].get_xticklabels()]
    assert to_hex(bars[0].patches[labels.index("Adam ZO")].get_facecolor()) == zo_adam


def test_the_untrained_reference_is_a_line_in_the_bars_and_the_task_curves(paper_frame: pd.DataFrame) -> None:
    bars = figure_bars(paper_frame).figure.axes[0]  # EASE, CIFAR-100
    reference = [line for line in bars.lines if line.get_label().startswith("Untrained")]
    assert len(reference) == 1 and list(reference[0].get_ydata()) == [30.0, 30.0]
    tasks = figure_tasks(paper_frame).figure.axes[0]
    curve = [line for line in tasks.lines if line.get_label() == "Untrained"]
    assert len(curve) == 1 and list(curve[0].get_ydata()) == [30.0 - t for t in range(10)]


@pytest.mark.parametrize("draw", [figure5, figure_bars, figure_tasks, figure_queries])
def test_panels_share_one_y_range(paper_frame: pd.DataFrame, draw: object) -> None:
    axes = draw(paper_frame).figure.axes  # type: ignore[operator]
    assert len(axes) > 1 and len({ax.get_ylim() for ax in axes}) == 1


def test_the_forward_pass_axis_is_labelled_within_one_decade() -> None:
    runs = [FakeRun({**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": "cifar100", "q": q},
                    {"avg_acc": 60.0 + q, "forward_passes": 20_000.0 * q}) for q in (1, 2, 4)]
    figure = figure_queries(frame(runs)).figure
    FigureCanvasAgg(figure).draw()
    shown = [t.get_text() for t in figure.axes[0].get_xticklabels()
             if t.get_text() and 20_000 <= t.get_position()[0] <= 80_000]
    assert shown == ["20k", "50k"]


def test_html_tables_rule_off_groups_as_the_latex_does(paper_frame: pd.DataFrame) -> None:
    table = table1(paper_frame, None)
    marks = html.group_rules(table)
    body = latex._body(table, list(range(len(table.columns))))
    assert marks.count("group") == body.count("\\midrule") == 1  # EASE | APER
    assert marks.count("subgroup") == sum(line.startswith("\\cmidrule") for line in body) >= 4  # SGD | Adam | ...
    page = html.styled(table)
    assert page.count("<tr class='group'>") == 1 and page.count("<tr class='subgroup'>") == marks.count("subgroup")


def test_the_page_says_what_ran_and_lists_unfinished_trials_from_the_store(tmp_path: pathlib.Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/store.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("page")
    config = {**BASE_CONFIG, "method": "ease", "dataset": "cifar100", "profile": "released", "tasks": 5, "epochs": 3}
    done = [FakeRun({**config, "optimizer": o, "seed": s}, {"avg_acc": 70.0 + s, "last_acc": 60.0},
                    tags={COMMIT_TAG: "0123456789abcdef"}) for o in ("zo-sgd", "fo-sgd") for s in (1, 2)]
    failed = FakeRun({**config, "optimizer": "zo-adam", "seed": 1}, {}, status="FAILED",
                     tags={ERROR_TAG: "CUDA out of memory"})
    log_runs(client, experiment, [*done, failed])
    runs = load_runs(uri, ["page"])
    assert len(runs) == 4 and len(runs.attrs["unfinished"]) == 1
    write_report(runs, tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    ran = page[page.index("<h2>What ran</h2>"):page.index("<h2>Failed")]
    assert "tasks per run: 5; epochs per task: 3" in ran and "seeds per cell: 2 " in ran
    assert "code version: 0123456789ab" in ran and re.search(r"runs ended: \d{4}-\d\d-\d\d", ran)
    assert "FAILED (CUDA out of memory)" in page[page.index("<h2>Failed and unfinished trials (1)</h2>"):]


def test_the_page_uses_the_windows_width() -> None:
    body = re.search(r"body \{[^}]*\}", html.CSS).group(0)
    assert "max-width" not in body and "margin: 2rem auto" not in body


def test_compare_paper_without_a_match_shows_the_published_numbers(tmp_path: pathlib.Path) -> None:
    runs = frame([FakeRun({**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": "digits",
                           "profile": "released"}, {"avg_acc": 90.0, "last_acc": 80.0})])
    lines = write_report(runs, tmp_path, compare_paper=True)
    assert any(line.startswith("compare_paper skipped") for line in lines)
    page = (tmp_path / "report.html").read_text()
    published = page[page.index("<h2>Comparison with the paper</h2>"):]
    assert "No run of profile released matches" in published and "–" in published
    assert re.search(r"Table 1\s+EASE ZO-SGD\s+CIFAR-100\s+Avg\s+\d+\.\d\d\s+–", published)


def test_the_title_says_reproduced_only_for_the_papers_data_sets(tmp_path: pathlib.Path,
                                                                 paper_frame: pd.DataFrame) -> None:
    digits = frame([FakeRun({**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": "digits"},
                            {"avg_acc": 90.0, "last_acc": 80.0})])
    write_report(digits, tmp_path / "digits")
    heading = re.search("<h1>(.*)</h1>", (tmp_path / "digits" / "report.html").read_text()).group(1)
    assert "reproduced" not in heading and "digits" in heading.lower()
    assert "reproduced" in html.title(["cifar100"], True)
    write_report(frame([]), tmp_path / "empty")
    assert "reproduced" not in (tmp_path / "empty" / "report.html").read_text()


def test_report_with_its_grid_lists_the_trials_with_no_finished_run(tmp_path: pathlib.Path) -> None:
    from click.testing import CliRunner

    from orchestrator.cli import main
    from orchestrator.grid.expand import load_grid
    from orchestrator.store.tracking import Tracker

    (tmp_path / "grid.yaml").write_text("name: page\nfixed: {dataset: digits, method: aper}\n"
                                        "axes: {optimizer: [fo-sgd, zo-sgd, zo-adam]}\n")
    trials = load_grid(tmp_path / "grid.yaml").trials
    uri = f"sqlite:///{tmp_path}/store.db"
    tracker = Tracker(uri, "page")
    tracker.finish(tracker.start(trials[0], None), {"avg_acc": 50.0, "last_acc": 40.0}, [], 0.0)
    tracker.fail(tracker.start(trials[1], None), "diverged", 0.0)
    result = CliRunner().invoke(main, ["report", "--tracking-uri", uri, "--out", str(tmp_path / "out"),
                                       "--grid", str(tmp_path / "grid.yaml")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "report.html").read_text()
    listed = page[page.index("<h2>Trials of the grid with no finished run (2)</h2>"):]
    assert f"page: {trials[1].label} (started, not finished)" in listed
    assert f"page: {trials[2].label} (no run)" in listed and trials[0].label not in listed
    assert "FAILED (diverged)" in page

    bad = CliRunner().invoke(main, ["report", "--tracking-uri", f"sqlite:///{tmp_path}/other.db", "--out",
                                    str(tmp_path / "other"), "--grid", str(tmp_path / "no-such.yaml")])
    assert bad.exit_code == 2 and "no-such.yaml" in bad.output
    assert not (tmp_path / "other.db").exists() and not (tmp_path / "other").exists()
