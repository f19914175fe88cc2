"""Figure 5: one panel per dataset, a line per method and optimizer, q on a log-2 axis."""

from __future__ import annotations

import pathlib

import matplotlib.image
import numpy as np
import pandas as pd

from bench.report import BASE_CONFIG, FakeRun
from reports.build import write_report
from reports.figures import figure5
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
    figure, notes = figure5(frame(runs))
    assert figure is not None and notes == []
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
    figure, _ = figure5(runs)
    assert figure is not None and len(figure.axes) == 2
    write_report(runs, tmp_path)
    image = matplotlib.image.imread(tmp_path / "figure5.png")
    width, height = figure.get_size_inches() * 150
    assert image.shape[:2] == (round(height), round(width))


def test_no_qualifying_run_means_no_figure() -> None:
    figure, notes = figure5(frame(sweep("ease", "fo-sgd", "cifar100", (1,))))
    assert figure is None and notes[0].startswith("figure5 skipped")
