"""The cost estimate's read of FINISHED runs from a database store's tables gives MLflow's search
API's answer (orchestrator/store/runindex.py), and planning finds the experiment in the tables by name."""

from pathlib import Path

from mlflow.tracking import MlflowClient

from catalog.records import DEVICE_TAG
from orchestrator.plan.cost import MEASURED_KEYS
from orchestrator.grid.expand import load_grid
from orchestrator.store.runindex import finished_from_tables, runs_by_name
from orchestrator.store.tracking import Tracker


def test_the_tables_answer_as_the_search_api_does(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("name: g\nfixed: {dataset: digits}\naxes: {optimizer: [fo-sgd, zo-sgd, zo-adam]}\n")
    first, second, third = load_grid(path).trials
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    tracker = Tracker(uri, "g")
    tracker.finish(tracker.start(first, None), {"avg_acc": 1.0, "epoch_seconds": 12.5}, [], 0.5)
    tracker.finish(tracker.start(second, None), {"avg_acc": 1.0}, [], 0.5)  # no epoch time measured
    tracker.fail(tracker.start(third, None), "RuntimeError: boom", 0.25)
    client = MlflowClient(uri)
    expected = [({k: v for k, v in run.data.params.items() if k in MEASURED_KEYS},
                 float(run.data.metrics.get("epoch_seconds", 0.0)), run.data.tags.get(DEVICE_TAG, ""))
                for run in client.search_runs([tracker.experiment_id], "attributes.status = 'FINISHED'")]
    got = finished_from_tables(uri, MEASURED_KEYS, "epoch_seconds", DEVICE_TAG, 100)
    assert got is not None and sorted(got, key=repr) == sorted(expected, key=repr) and len(got) == 2
    assert finished_from_tables("http://127.0.0.1:5999", MEASURED_KEYS, "epoch_seconds", DEVICE_TAG, 100) is None
    assert runs_by_name(uri, "g") == tracker.runs_by_hash_api() and runs_by_name(uri, "other") == {}
