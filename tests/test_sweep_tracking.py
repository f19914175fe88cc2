"""MLflow bookkeeping keyed by config hash, and hash-keyed checkpoints, on a real SQLite store."""

import pickle
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from orchestrator.sweep.checkpoints import CheckpointStore, folder_name
from orchestrator.plan.plan import plan
from orchestrator.grid.expand import load_grid
from orchestrator.store.runindex import runs_from_tables
from catalog.records import ERROR_TAG, HASH_TAG
from orchestrator.store.tracking import Tracker


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
    assert sorted(p.name for p in (store.root / "abc").iterdir()) == ["previous", "trial_state.pt"]  # no temporary left
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


def test_the_table_index_gives_the_search_apis_answer(tmp_path: Path, grid) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    tracker = Tracker(uri, "g")
    first, second, third = grid.trials
    tracker.finish(tracker.start(first, None), {"avg_acc": 1.0, "wall_seconds": 12.0}, [(0, 1.0)], 0.5)
    tracker.fail(tracker.start(second, None), "RuntimeError: boom", 0.25)
    tracker.log_task(tracker.start(third, None), 0, 1.0, 0.1)
    client = MlflowClient(uri)
    # a stray second run of an existing hash (not made by zfsweep), and a deleted run: the
    # FINISHED run wins, the deleted one is ignored
    stray = client.create_run(tracker.experiment_id, tags={HASH_TAG: first.config_hash}).info.run_id
    deleted = client.create_run(tracker.experiment_id, tags={HASH_TAG: "0123456789abcdef"}).info.run_id
    client.delete_run(deleted)
    assert stray
    fast = runs_from_tables(uri, tracker.experiment_id)
    assert fast == tracker.runs_by_hash_api() == tracker.runs_by_hash()
    assert fast is not None and set(fast) == {t.config_hash for t in grid.trials}
    assert fast[first.config_hash].status == "FINISHED" and fast[first.config_hash].wall_seconds == 12.0
    assert fast[second.config_hash].has_error and fast[third.config_hash].gpu_hours == 0.1
    assert runs_from_tables("http://127.0.0.1:5000", "1") is None


def _state(task: int) -> dict:
    """What run_trial saves after `task` (orchestrator/sweep/checkpoints.py checks its structure)."""
    return {"method": {"w": torch.full((2,), float(task))}, "progress": {"accuracy": [50.0] * (task + 1)}}


def test_an_unreadable_checkpoint_is_set_aside_for_the_one_before(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    for task in range(3):
        store.save("abc", task, _state(task))
    (tmp_path / "abc" / "trial_state.pt").write_bytes(b"truncated")
    restored = store.restore("abc")
    assert restored.saved is not None and restored.saved.task == 1  # the checkpoint before the bad one
    ((path, reason),) = restored.set_aside
    assert path.parent == tmp_path / "set-aside" and path.read_bytes() == b"truncated" and reason
    assert not (tmp_path / "abc" / "trial_state.pt").exists()

    store.save("abc", 2, _state(2))
    for bad in (tmp_path / "abc" / "trial_state.pt", tmp_path / "abc" / "previous" / "trial_state.pt"):
        bad.write_bytes(b"")
    restored = store.restore("abc")
    assert restored.saved is None and len(restored.set_aside) == 2  # nothing good left: from scratch
    assert store.restore("abc") == type(restored)(None, [])  # and nothing is set aside twice
