"""What a run logs for the report beyond the paper's metrics, against a real SQLite MLflow store.

A trial returns its task x task matrix, its loss per epoch and its device; the driver logs them
(orchestrator/store/runlog.py) with the code version and describes the experiment (run names are the
trials' labels, tests/test_labels.py). The report then reads the task curve back as columns.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.grid.expand import expand
from orchestrator.grid.schema import parse_grid
from catalog.records import KIND, KIND_TAG, NOTE_TAG
from orchestrator.store.runlog import code_version, describe_experiment, grid_axes, log_details
from orchestrator.store.runsview import VIEW_TAG
from orchestrator.store.tracking import Tracker
from reports.runs import load_runs
from catalog.config import make_config
from trainers.trial import run_trial

GRID = """
name: naming
description: lr against the sparsity mask, to see every setting in the run names
fixed: {dataset: digits, method: ease, optimizer: zo-sgd, sparsity: 0.5}
axes:
  lr: [0.001, 0.0001, 0.00001]
  sparsity_mode: [exact, released]
"""


def _specs(tmp_path: pathlib.Path) -> tuple:
    path = tmp_path / "naming.yaml"
    path.write_text(GRID)
    return expand(parse_grid(path))


def test_the_experiment_note_names_the_settings_that_vary(tmp_path: pathlib.Path) -> None:
    assert grid_axes(_specs(tmp_path)) == ["lr", "sparsity_mode"]
    # Settings the optimizer's preset fixes (lr, momentum...) would only repeat the optimizer.
    assert grid_axes(expand(parse_grid(pathlib.Path("grids/smoke.yaml")))) == ["method", "optimizer", "epochs"]


def test_experiment_gets_the_grid_description_and_opens_on_runs(tmp_path: pathlib.Path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "naming")  # creating it saves the runs view
    tags = tracker.client.get_experiment(tracker.experiment_id).tags
    assert tags[KIND_TAG] == KIND and "metrics.`avg_acc`" in json.loads(tags[VIEW_TAG])["selectedColumns"]
    describe_experiment(tracker.client, tracker.experiment_id, "grids/naming.yaml", "lr against the mask",
                        ["lr", "sparsity_mode"])
    tags = tracker.client.get_experiment(tracker.experiment_id).tags
    assert tags[NOTE_TAG].startswith("lr against the mask\n") and "lr, sparsity_mode" in tags[NOTE_TAG]
    assert json.loads(tags[VIEW_TAG])["selectedColumns"][:2] == ["params.`lr`", "params.`sparsity_mode`"]


def test_code_version_is_this_checkouts_commit() -> None:
    version = code_version()
    assert version is not None and re.fullmatch(r"[0-9a-f]{40}(-dirty)?", version)
    assert code_version(pathlib.Path("/")) is None


def test_a_trial_result_is_logged_and_read_back_as_columns(tmp_path: pathlib.Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config({"dataset": "digits", "method": "ease", "optimizer": "zo-sgd", "epochs": 2,
                          "device": "cpu"})
    result = run_trial(config).to_dict()
    tasks = len(result["acc"])
    assert result["device"] == "cpu" and result["device_name"]
    assert len(result["epoch_losses"]) == 2 * tasks  # EASE trains every task
    assert [len(row) for row in result["task_matrix"]] == list(range(1, tasks + 1))  # tasks seen so far
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("logged", artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment).info.run_id
    log_details(client, run, result, "abc123")
    client.set_terminated(run)
    losses = client.get_metric_history(run, "train_loss")
    assert [m.step for m in losses] == list(range(2 * tasks))
    tags = client.get_run(run).data.tags
    assert tags["zfsweep.device"] == "cpu" and tags["mlflow.source.git.commit"] == "abc123"
    # The matrix is one table (MLflow's own reader takes it), not a metric per cell.
    assert not any(key.startswith("task_matrix") for key in client.get_run(run).data.metrics)
    assert json.loads(tags["mlflow.loggedArtifacts"]) == [{"path": "task_matrix.json", "type": "table"}]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # load_table searches the default store
    table = client.load_table(experiment, "task_matrix.json", run_ids=[run])
    assert list(table.columns[:3]) == ["after task", "acc", "task 0"] and len(table) == tasks
    assert table["acc"].tolist() == [round(a, 4) for a in result["acc"]]
    assert table.loc[tasks - 1, "task 0"] == round(result["task_matrix"][-1][0], 4)
    assert table[f"task {tasks - 1}"].isna().tolist() == [True] * (tasks - 1) + [False]  # not seen before its task
    frame = load_runs(uri)
    assert frame.loc[0, f"task_acc/{tasks - 1}"] == round(result["acc"][-1], 4)
    assert frame.loc[0, "run_device"] == "cpu" and frame.loc[0, "code_version"] == "abc123"


def test_where_the_artifact_store_refuses_the_matrix_stays_in_a_tag(tmp_path: pathlib.Path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("refused", artifact_location=str(tmp_path / "not-a-folder"))
    run = client.create_run(experiment).info.run_id
    result = {"acc": [90.0, 80.0], "task_matrix": [[90.0], [85.0, 75.0]], "epoch_losses": [1.0]}
    log_details(client, run, result, None)
    tags = client.get_run(run).data.tags
    assert json.loads(tags["zfsweep.task_matrix"]) == {
        "columns": ["after task", "acc", "task 0", "task 1"], "data": [[0, 90.0, 90.0, None], [1, 80.0, 85.0, 75.0]]}
    assert "mlflow.loggedArtifacts" not in tags and [m.value for m in client.get_metric_history(run, "train_loss")] == [1.0]
