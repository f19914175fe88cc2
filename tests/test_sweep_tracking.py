"""MLflow bookkeeping keyed by config hash, and hash-keyed checkpoints, on a real SQLite store."""

from pathlib import Path

import pickle
import pytest
import torch
from mlflow.tracking import MlflowClient

from orchestrator.checkpoints import CheckpointStore, folder_name
from orchestrator.commands import plan
from orchestrator.grid import load_grid
from orchestrator.tracking import ERROR_TAG, HASH_TAG, Tracker


@pytest.fixture()
def grid(tmp_path: Path):
    path = tmp_path / "g.yaml"
    path.write_text("name: g\nfixed: {dataset: digits}\naxes: {optimizer: [fo-sgd, zo-sgd, zo-adam]}\n")
    return load_grid(path)


def test_a_trial_keeps_one_run_through_failure_and_resumption(tmp_path: Path, grid) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    assert plan(grid, uri, "g").finished == 0
    assert MlflowClient(uri).get_experiment_by_name("g") is None  # planning creates nothing
    tracker = Tracker(uri, "g")
    spec = grid.trials[0]
    run_id = tracker.start(spec, None)
    tracker.log_task(run_id, 0, 50.0, 0.1)
    tracker.fail(run_id, "RuntimeError: boom", 0.2)
    state = tracker.runs_by_hash()[spec.config_hash]
    assert (state.status, state.gpu_hours, state.has_error) == ("FAILED", 0.2, True)

    again = tracker.start(spec, state)  # a later sweep continues the same run
    assert again == run_id and tracker.logged_tasks(run_id) == {0}
    tracker.finish(run_id, {"avg_acc": 70.0, "last_acc": 60.0, "forgetting": 5.0}, [(1, 60.0)], 0.3)
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and ERROR_TAG not in run.data.tags
    assert run.data.tags[HASH_TAG] == spec.config_hash and run.data.params["optimizer"] == spec.config.optimizer
    assert sorted((m.step, m.value) for m in client.get_metric_history(run_id, "acc")) == [(0, 50.0), (1, 60.0)]
    assert run.data.metrics["gpu_hours"] == 0.3
    assert len(client.search_runs([tracker.experiment_id])) == 1

    work = plan(grid, uri, "g")
    assert work.finished == 1 and [s.config_hash for s in work.pending] == [s.config_hash for s in grid.trials[1:]]


def test_checkpoints_are_keyed_by_hash_and_replaced_whole(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / folder_name("table 1/a"))
    assert store.root.name == "table_1_a" and store.load("abc") is None
    store.save("abc", 0, {"w": torch.ones(2), "progress": {"accuracy": [1.0]}})
    store.save("abc", 1, {"w": torch.zeros(2), "progress": {"accuracy": [1.0, 2.0]}})
    saved = store.load("abc")
    assert saved is not None and saved.task == 1 and torch.equal(saved.state["w"], torch.zeros(2))
    assert sorted(p.name for p in (store.root / "abc").iterdir()) == ["trial_state.pt"]  # no temporary left
    assert store.digests() == {"abc"}
    store.remove("abc")
    assert store.load("abc") is None and store.digests() == set()


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_checkpoints_load_data_only(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    (tmp_path / "evil").mkdir()
    torch.save({"task": 0, "state": Payload()}, tmp_path / "evil" / "trial_state.pt")
    with pytest.raises(pickle.UnpicklingError):
        store.load("evil")
