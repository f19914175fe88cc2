"""Faults in a real sweep (local Ray, SQLite MLflow, real digits trials): retries resume from the
last finished task, a trial that keeps failing is marked FAILED with its reason while the sweep
goes on, a diverging trial fails at once, and a new driver resumes a trial an earlier one left.

The trial function wraps the real trainer and injects the fault after a task (out of memory, a
worker that dies, an error on every attempt); attempts are counted in files, as workers are
separate processes.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch
from mlflow.tracking import MlflowClient

from orchestrator.sweep.checkpoints import CheckpointStore
from orchestrator.commands import run_grid
from orchestrator.grid.expand import load_grid
from orchestrator.sweep.options import SweepOptions
from orchestrator.sweep.tune import checkpoint_root
from catalog.records import ERROR_TAG, HASH_TAG
from orchestrator.store.tracking import Tracker
from catalog.config import TrialConfig
from test_data import write_folders
from trainers.trial import EpochReport, TaskReport, TrialResult, run_trial
from localray import local_ray

ATTEMPTS = "ZFSWEEP_TEST_ATTEMPTS"
FAULT_GRID = """
name: faults
fixed: {dataset: digits, method: aper, optimizer: zo-sgd, epochs: 1}
seeds: [1, 2, 3, 4, 5]
when:
  - match: {seed: 4}
    set: {lr: 1.0e+12}
"""


def _attempt(config: TrialConfig) -> int:
    """1 on this trial's first attempt, 2 on its second..."""
    path = Path(os.environ[ATTEMPTS]) / str(config.seed)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


def faulty_trial(config: TrialConfig, *, resume: dict[str, Any] | None = None,
                 on_task_end: Callable[[TaskReport], None] | None = None,
                 on_epoch_end: Callable[[EpochReport], None] | None = None) -> TrialResult:
    """run_trial; seed 1 runs out of memory after task 1 once, seed 2's worker dies after task 2
    once, seed 3 fails at its first task every time; seed 4 diverges by its learning rate."""
    attempt = _attempt(config)

    def report(task: TaskReport) -> None:
        assert on_task_end is not None
        on_task_end(task)
        if config.seed == 1 and task.task == 1 and attempt == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        if config.seed == 2 and task.task == 2 and attempt == 1:
            os._exit(1)
        if config.seed == 3:
            raise RuntimeError("broken trial (injected)")

    return run_trial(config, resume=resume, on_task_end=report, on_epoch_end=on_epoch_end)


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ[ATTEMPTS] = str(tmp_path_factory.mktemp("attempts"))  # before Ray starts: workers inherit it
    with local_ray(__name__):
        yield


def sweep(tmp_path: Path, grid: str, retries: int = 2, max_concurrent: int | None = None) -> tuple[bool, str, str]:
    (tmp_path / "grid.yaml").write_text(grid)
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    out = io.StringIO()
    options = SweepOptions(storage=str(tmp_path / "ray"), retries=retries, max_concurrent=max_concurrent)
    ok = run_grid(str(tmp_path / "grid.yaml"), options, tracking_uri=uri, experiment=None, out=out, trial=faulty_trial)
    return ok, out.getvalue(), uri


def runs_by_seed(uri: str, experiment: str) -> dict[int, list[Any]]:
    client = MlflowClient(uri)
    runs: dict[int, list[Any]] = {}
    for run in client.search_runs([client.get_experiment_by_name(experiment).experiment_id]):
        runs.setdefault(int(run.data.params["seed"]), []).append(run)
    return runs


def acc_steps(uri: str, run: Any) -> list[int]:
    return sorted(m.step for m in MlflowClient(uri).get_metric_history(run.info.run_id, "acc"))


def test_faults_are_retried_or_recorded_and_the_sweep_goes_on(ray_instance: None, tmp_path: Path) -> None:
    ok, output, uri = sweep(tmp_path, FAULT_GRID)
    assert not ok  # two trials failed
    assert output.splitlines()[-1] == "5 trials: 3 finished, 2 failed, 0 not run"
    runs = runs_by_seed(uri, "faults")
    assert sorted(runs) == [1, 2, 3, 4, 5] and all(len(r) == 1 for r in runs.values())  # one run per trial
    for seed in (1, 2, 5):
        run = runs[seed][0]
        assert run.info.status == "FINISHED" and acc_steps(uri, run) == [0, 1, 2, 3, 4]
        assert run.data.metrics["last_acc"] > 50.0 and "gpu_hours" in run.data.metrics
    assert "retrying seed=1 from its last finished task" in output
    assert "OutOfMemoryError" in output
    assert "resuming seed=1 after task 1" in output
    assert "resuming seed=2 after task 2" in output
    broken = runs[3][0]
    assert broken.info.status == "FAILED" and "RuntimeError: broken trial (injected)" in broken.data.tags[ERROR_TAG]
    assert (Path(os.environ[ATTEMPTS]) / "3").read_text() == "3"  # the first attempt and two retries
    diverged = runs[4][0]
    assert diverged.info.status == "FAILED" and diverged.data.tags[ERROR_TAG].startswith("FloatingPointError")
    assert (Path(os.environ[ATTEMPTS]) / "4").read_text() == "1"  # diverging fails fast: no retry
    assert "retrying lr=1000000000000.0 seed=4" not in output
    # checkpoints of finished trials are gone; the failed ones keep theirs for the next sweep
    store = CheckpointStore(checkpoint_root(tmp_path / "ray", "faults"))
    specs = {s.config.seed: s.config_hash for s in load_grid(tmp_path / "grid.yaml").trials}
    assert specs[1] not in store.digests() and specs[5] not in store.digests()


def test_a_new_driver_resumes_the_run_and_checkpoint_an_earlier_one_left(ray_instance: None, tmp_path: Path) -> None:
    grid_text = "name: resumed\nfixed: {dataset: digits, method: aper, optimizer: zo-sgd, epochs: 1}\nseeds: [6, 7]\n"
    (tmp_path / "grid.yaml").write_text(grid_text)
    spec = load_grid(tmp_path / "grid.yaml").trials[0]
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    # What a driver killed after task 1 of seed 6 leaves: a RUNNING run with two accuracies, a checkpoint.
    reports: list[TaskReport] = []
    expected = run_trial(spec.config, on_task_end=reports.append)
    tracker = Tracker(uri, "resumed")
    run_id = tracker.start(spec, None)
    for report in reports[:2]:
        tracker.log_task(run_id, report.task, report.accuracy, 0.0)
    CheckpointStore(checkpoint_root(tmp_path / "ray", "resumed")).save(spec.config_hash, 1, reports[1].state)

    ok, output, _ = sweep(tmp_path, grid_text, max_concurrent=1)
    assert ok and output.splitlines()[-1] == "2 trials: 2 finished, 0 failed, 0 not run"
    assert "1 running" in output and "2 running" not in output  # --max-concurrent 1 on 2 CPUs
    assert "resuming seed=6 after task 1" in output
    runs = runs_by_seed(uri, "resumed")
    assert [r.info.run_id for r in runs[6]] == [run_id] and len(runs[7]) == 1
    assert runs[6][0].info.status == "FINISHED" and acc_steps(uri, runs[6][0]) == [0, 1, 2, 3, 4]
    assert runs[6][0].data.metrics["avg_acc"] == pytest.approx(expected.avg_acc)
    assert runs[6][0].data.tags[HASH_TAG] == spec.config_hash

    again, output, _ = sweep(tmp_path, grid_text)  # everything FINISHED: nothing runs, no new run
    assert again and output.splitlines() == ["2 trials: 2 finished, 0 failed, 0 not run"]
    assert sum(len(r) for r in runs_by_seed(uri, "resumed").values()) == 2


def test_a_relative_data_root_is_read_from_the_drivers_directory(ray_instance: None, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Ray runs each trial inside its own trial folder; the data still comes from where zfsweep ran.
    write_folders(tmp_path / "data", "cub")
    monkeypatch.chdir(tmp_path)
    grid = ("name: onDisk\nfixed: {dataset: cub, data_root: data, method: aper, optimizer: zo-sgd, backbone: test_vit,"
            " weights: random, image_size: 32, tasks: 2, epochs: 1, batch_size: 4}\nseeds: [9]\n")
    ok, output, uri = sweep(tmp_path, grid)
    assert ok, output
    (run,) = runs_by_seed(uri, "onDisk")[9]
    assert run.data.params["data_root"] == "data" and run.info.status == "FINISHED"
