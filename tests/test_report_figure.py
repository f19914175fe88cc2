"""The report's figures: Figure 5 in detail, and every figure built from the paper's numbers."""

from __future__ import annotations

import pathlib

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from bench.report import BASE_CONFIG, FakeRun, paper_runs
from reports.build import FIGURES, PNG_DPI, write_report
from reports.figures import PAGE_WIDTH_IN, FigureSkipped, figure5
from reports.plots import figure_bars, figure_queries, figure_tasks
from reports.runs import runs_frame


def sweep(
    method: str, optimizer: str, dataset: str, qs: tuple[int, ...], seed: int = 1
) -> list[FakeRun]:
    config = {**BASE_CONFIG, "method": method, "optimizer": optimizer, "dataset": dataset,
              "seed": seed}
    return [FakeRun({**config, "q": q}, {"avg_acc": 50.0 + q + seed}) for q in qs]


def frame(runs: list[FakeRun]) -> pd.DataFrame:
    return runs_frame(r.record(f"r{i}") for i, r in enumerate(runs))


def test_one_panel_per_dataset_with_each_line_and_seed_spread() -> None:
    runs = [
        *sweep("ease", "zo-sgd", "cifar100", (1, 2, 4, 8)),
        *sweep("ease", "zo-sgd", "cifar100", (1, 2, 4, 8), seed=3),
        *sweep("ease", "zo-adam", "cifar100", (1, 4, 32)),
        *sweep("aper", "zo-sgd", "digits", (1, 16)),
        *sweep("ease", "fo-sgd", "cub", (1,)),  # not a Figure 5 optimizer: no CUB panel
        FakeRun({**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd", "dataset": "cub",
                 "q": 2, "historical": 0.2}, {"avg_acc": 1.0}),  # enhanced: excluded
    ]
    figure, notes, _ = figure5(frame(runs))
    assert notes == []
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == ["CIFAR-100", "Digits"]
    assert all(ax.get_xscale() == "log" for ax in axes)
    assert list(axes[0].get_xticks()) == [1, 2, 4, 8, 32]
    assert [c.get_label() for c in axes[0].containers] == ["EASE ZO-SGD", "EASE ZO-Adam"]
    x, y = axes[0].containers[0].lines[0].get_data()
    assert list(x) == [1, 2, 4, 8]
    assert np.allclose(y, [53.0, 54.0, 56.0, 60.0])  # mean of seeds 1 and 3
    assert [t.get_text() for t in figure.legends[0].get_texts()] == [
        "EASE ZO-SGD", "EASE ZO-Adam", "APER ZO-SGD"]


def test_written_png_decodes_at_the_figures_size(tmp_path: pathlib.Path) -> None:
    runs = frame([*sweep("ease", "zo-sgd", "cifar100", (1, 2)),
                  *sweep("ease", "zo-adam", "cub", (1, 2))])
    figure = figure5(runs).figure
    assert len(figure.axes) == 2
    write_report(runs, tmp_path)
    image = matplotlib.image.imread(tmp_path / "figure5.png")
    width, height = figure.get_size_inches() * PNG_DPI
    assert image.shape[:2] == (round(height), round(width))


def test_no_qualifying_run_means_no_figure() -> None:
    with pytest.raises(FigureSkipped, match="^figure5 skipped"):
        figure5(frame(sweep("ease", "fo-sgd", "cifar100", (1,))))
    with pytest.raises(FigureSkipped):  # one q per line is four dots, not a curve
        figure5(frame(sweep("ease", "zo-sgd", "cifar100", (1,))))


def _inside_canvas(figure: Figure) -> None:
    """The legend and every tick label lie within the saved canvas."""
    figure.canvas.draw()
    canvas = figure.bbox
    for legend in figure.legends:
        box = legend.get_window_extent()
        assert canvas.x0 - 1 <= box.x0 and box.x1 <= canvas.x1 + 1 and box.y0 >= canvas.y0 - 1
    for ax in figure.axes:
        for label in ax.get_xticklabels():
            if label.get_text():
                box = label.get_window_extent()
                assert box.y0 >= canvas.y0 - 1


@pytest.fixture(scope="module")
def paper_frame() -> pd.DataFrame:
    return runs_frame(r.record(f"r{i}", end_time_ms=i) for i, r in enumerate(paper_runs(3, spread=0.5)))


@pytest.mark.parametrize("draw, panels", [(figure5, 4), (figure_bars, 8), (figure_tasks, 8),
                                          (figure_queries, 8)])
def test_every_figure_from_the_papers_numbers_fits_a_page(
    paper_frame: pd.DataFrame, draw: object, panels: int
) -> None:
    figure, notes, shown = draw(paper_frame)  # type: ignore[operator]
    assert set(shown["profile"]) == {"released"}
    assert notes == [] and len(figure.axes) == panels
    assert figure.get_figwidth() <= PAGE_WIDTH_IN and len(figure.legends) == 1
    _inside_canvas(figure)


def test_bars_show_avg_and_last_of_every_optimizer(paper_frame: pd.DataFrame) -> None:
    figure = figure_bars(paper_frame).figure
    ease_cifar = figure.axes[0]
    assert ease_cifar.get_title() == "EASE, CIFAR-100"
    bars = [c for c in ease_cifar.containers if isinstance(c, BarContainer)]
    heights = [patch.get_height() for patch in bars[0].patches]
    assert len(heights) == 9 and abs(heights[0] - 91.23) < 1.0  # FO-SGD's Avg, three noisy seeds


def test_task_curves_end_at_last_accuracy(paper_frame: pd.DataFrame) -> None:
    figure = figure_tasks(paper_frame).figure
    x, y = figure.axes[0].lines[0].get_data()
    assert list(x) == list(range(1, 11)) and abs(y[-1] - 85.96) < 1.0  # EASE FO-SGD CIFAR-100 Last


def test_figures_without_their_columns_are_skipped_with_a_line(tmp_path: pathlib.Path) -> None:
    runs = frame([FakeRun({**BASE_CONFIG, "method": "ease", "optimizer": "fo-sgd", "dataset": "cub"},
                          {"avg_acc": 80.0, "last_acc": 70.0})])
    lines = write_report(runs, tmp_path)
    skipped = [line.split(" ", 1)[0] for line in lines if " skipped: " in line and "figure" in line]
    assert skipped == ["figure5", "figure_tasks", "figure_queries", "figure_search"]
    assert (tmp_path / "figure_bars.pdf").exists() and (tmp_path / "figure_bars.png").exists()
    assert len(FIGURES) == 4
