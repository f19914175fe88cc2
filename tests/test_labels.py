"""Trial labels (orchestrator/grid/labels.py): built from what varies across the grid, the
distinguishing part first, unique in every shipped grid, and the MLflow run name of the trial."""

from __future__ import annotations

import pathlib

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.grid.expand import load_grid
from orchestrator.store.tracking import Tracker

GRIDS = sorted(pathlib.Path("grids").glob("*.yaml"))
NAMING = """
name: naming
fixed: {dataset: digits, method: ease, optimizer: zo-sgd, sparsity: 0.5}
axes:
  lr: [0.001, 0.0001]
  sparsity_mode: [exact, released]
"""
SHOWN = 22  # characters of a run name the MLflow runs table shows


@pytest.mark.parametrize("path", GRIDS, ids=lambda path: path.stem)
def test_no_two_trials_of_a_shipped_grid_share_a_label(path: pathlib.Path) -> None:
    labels = [spec.label for spec in load_grid(path).trials]
    assert all(labels) and len(set(labels)) == len(labels)


def test_the_untrained_reference_is_told_from_the_trained_run_within_what_the_ui_shows() -> None:
    labels = {(s.config.method, s.config.optimizer, s.config.epochs): s.label
              for s in load_grid("grids/smoke.yaml").trials}
    assert labels[("aper", "fo-sgd", 0)] == "aper/fo-sgd epochs=0"
    assert labels[("aper", "fo-sgd", 3)] == "aper/fo-sgd"  # the grid's fixed epochs: 3 goes without saying
    assert "glyphs" not in " ".join(labels.values())  # every trial's data set: nothing to tell apart
    assert len({label[:SHOWN] for label in labels.values()}) == len(labels)


def test_axes_are_always_named_and_include_only_settings_where_they_differ(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "naming.yaml"
    path.write_text(NAMING)
    assert [s.label for s in load_grid(path).trials] == [
        "lr=0.001 sparsity_mode=exact", "lr=0.001 sparsity_mode=released",
        "lr=0.0001 sparsity_mode=exact", "lr=0.0001 sparsity_mode=released"]
    mini = [s.label for s in load_grid("grids/mini.yaml").trials]
    assert {"fo-sgd seed=1993", "fo-sgd epochs=0 seed=1993", "zo-sgd seed=1993", "zo-sgd q=4 seed=1993",
            "zo-sgd historical=0.5 seed=1994"} <= set(mini)
    # The optimizer's preset lr differs between optimizers but names nothing the optimizer does not.
    assert not any("lr=" in label for label in mini)


def test_a_trial_without_a_varying_setting_is_named_by_method_optimizer_dataset(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text("fixed: {dataset: digits, method: ease, optimizer: zo-sgd}\n")
    assert [s.label for s in load_grid(path).trials] == ["ease/zo-sgd/digits"]


def test_the_label_is_the_runs_name_in_mlflow(tmp_path: pathlib.Path) -> None:
    spec = next(s for s in load_grid("grids/smoke.yaml").trials if s.config.epochs == 0)
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "smoke")
    run_id = tracker.start(spec, None)
    assert MlflowClient(tracker.tracking_uri).get_run(run_id).info.run_name == spec.label == "ease/fo-sgd epochs=0"
