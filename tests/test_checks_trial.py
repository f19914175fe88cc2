"""Bad input that shows only inside a trial is not retried: the run is FAILED at once with its line.

A real sweep (local Ray, SQLite MLflow): the trial function raises the trainer's DataError on
every attempt, as a data set that breaks after the up-front check would; Ray's retries must not
run it again, while a fault of another kind still is retried (tests/test_sweep_faults.py).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.commands import run_grid
from orchestrator.sweep.options import SweepOptions
from catalog.records import ERROR_TAG
from catalog.config import TrialConfig
from trainers.data import DataError
from trainers.trial import EpochReport, TaskReport, TrialResult
from localray import local_ray

ATTEMPTS = "ZFSWEEP_TEST_INPUT_ATTEMPTS"


def bad_data_trial(config: TrialConfig, *, resume: dict[str, Any] | None = None,
                   on_task_end: Callable[[TaskReport], None] | None = None,
                   on_epoch_end: Callable[[EpochReport], None] | None = None) -> TrialResult:
    path = Path(os.environ[ATTEMPTS]) / str(config.seed)
    path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))
    raise DataError(f"digits: image '/data/x.jpg' cannot be decoded (seed {config.seed})")


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ[ATTEMPTS] = str(tmp_path_factory.mktemp("attempts"))  # before Ray starts: workers inherit it
    with local_ray(__name__):
        yield


def test_an_input_error_inside_a_trial_fails_its_run_without_retries(ray_instance: None, tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text("name: bad-input\nfixed: {dataset: digits, method: aper, epochs: 1}\n"
                                        "seeds: [11]\n")
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    out = io.StringIO()
    ok = run_grid(str(tmp_path / "grid.yaml"), SweepOptions(storage=str(tmp_path / "ray")), tracking_uri=uri,
                  experiment=None, out=out, trial=bad_data_trial)
    assert not ok and out.getvalue().splitlines()[-1] == "1 trials: 0 finished, 1 failed, 0 not run"
    assert (Path(os.environ[ATTEMPTS]) / "11").read_text() == "1"  # no retry
    assert "retrying" not in out.getvalue()
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("bad-input").experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags[ERROR_TAG] == "DataError: digits: image '/data/x.jpg' cannot be decoded (seed 11)"


def test_resources_are_checked_against_the_running_ray_instance(ray_instance: None, tmp_path: Path) -> None:
    from orchestrator.grid.checks import CheckError

    (tmp_path / "grid.yaml").write_text("fixed: {dataset: digits, method: aper, epochs: 1}\nresources: {cpu: 3}\n")
    with pytest.raises(CheckError) as raised:
        run_grid(str(tmp_path / "grid.yaml"), SweepOptions(storage=str(tmp_path / "ray"), retries=0),
                 tracking_uri=f"sqlite:///{tmp_path / 'store.db'}", experiment=None, trial=bad_data_trial)
    assert "'resources.cpu': 3 CPUs per trial, but the running Ray instance has at most 2 on one node" in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]
