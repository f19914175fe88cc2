"""What a person watching a sweep sees, on a real local Ray instance and SQLite MLflow store with
stand-in trials of a fraction of a second: a trial's `train_loss` is in MLflow while the trial still
runs, the live line names the running trials and their task and shows no GPU-hours on a cluster
without GPUs, and a sweep stopped by Ctrl-C ends with the command that resumes it.

The stand-in reads what the test wants from files (trials run in Ray worker processes)."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from mlflow.tracking import MlflowClient

from catalog.config import TrialConfig
from orchestrator.commands import run_grid
from orchestrator.sweep.options import SweepOptions
from trainers.trial import EpochReport, TaskReport, TrialResult
from localray import local_ray

FOLDER = "ZFSWEEP_TEST_LIVE"  # set before Ray starts: workers inherit it
TASKS, EPOCHS = 2, 2
GRID = "name: {name}\nfixed: {{dataset: digits, method: ease, optimizer: zo-sgd, tasks: 2, epochs: 2}}\nseeds: [1, 2]\n"
WAIT_SECONDS = 120.0  # how long the stand-in waits to see its loss in the store before it gives up


def _losses_in_store(uri: str, experiment: str, seed: int) -> list[int]:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], f"params.seed = '{seed}'") if found else []
    return sorted(m.step for run in runs for m in client.get_metric_history(run.info.run_id, "train_loss"))


def stand_in(config: TrialConfig, *, resume: dict[str, Any] | None = None,
             on_task_end: Callable[[TaskReport], None] | None = None,
             on_epoch_end: Callable[[EpochReport], None] | None = None) -> TrialResult:
    """Two tasks of two epochs. Seed 1 of `live` waits after its first task's epochs until the store
    holds their loss (and notes whether it did); in `stopped`, seed 1 sends the driver Ctrl-C."""
    folder = Path(os.environ[FOLDER])
    uri, experiment = (folder / "store").read_text(), (folder / "experiment").read_text()
    for task in range(int(resume["done"]) if resume else 0, TASKS):
        for epoch in range(task * EPOCHS, (task + 1) * EPOCHS):
            if on_epoch_end is not None:
                on_epoch_end(EpochReport(task, epoch, 1.0 / (epoch + 1)))
        if config.seed == 1 and task == 0 and experiment == "live":
            deadline = time.monotonic() + WAIT_SECONDS
            while _losses_in_store(uri, experiment, 1) != [0, 1] and time.monotonic() < deadline:
                time.sleep(0.2)
            (folder / "seen").write_text(str(_losses_in_store(uri, experiment, 1)))
        if config.seed == 1 and experiment == "stopped":
            os.kill(int((folder / "driver").read_text()), signal.SIGINT)  # as Ctrl-C in the driver's terminal
            time.sleep(600.0)  # until the stopped sweep ends this trial
        if on_task_end is not None:
            on_task_end(TaskReport(task, 90.0, [90.0], {"done": task + 1}))
    return TrialResult(avg_acc=90.0, last_acc=90.0, forgetting=0.0, acc=[90.0] * TASKS, peak_memory_gb=0.0,
                       epoch_seconds=0.0, forward_passes=0, wall_seconds=0.1, trainable_params=0,
                       epoch_losses=[1.0 / (epoch + 1) for epoch in range(TASKS * EPOCHS)])


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("live")
    os.environ[FOLDER] = str(folder)
    with local_ray(__name__):
        yield folder


def sweep(folder: Path, tmp_path: Path, name: str, **options: Any) -> tuple[bool, list[str], str]:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    (folder / "store").write_text(uri)
    (folder / "experiment").write_text(name)
    (folder / "driver").write_text(str(os.getpid()))
    (tmp_path / "grid.yaml").write_text(GRID.format(name=name))
    out = io.StringIO()
    ok = run_grid(str(tmp_path / "grid.yaml"), SweepOptions(storage=str(tmp_path / "ray"), retries=0, **options),
                  tracking_uri=uri, experiment=None, out=out, trial=stand_in,
                  resume_command="zfsweep run grid.yaml --max-concurrent 1")
    return ok, out.getvalue().splitlines(), uri


def test_the_loss_is_in_mlflow_while_the_trial_runs_and_the_line_names_what_runs(ray_instance: Path,
                                                                               tmp_path: Path) -> None:
    ok, lines, uri = sweep(ray_instance, tmp_path, "live")
    assert ok and lines[-1] == "2 trials: 2 finished, 0 failed, 0 not run", lines
    assert (ray_instance / "seen").read_text() == "[0, 1]"  # logged before the trial went on, not at its end
    assert _losses_in_store(uri, "live", 1) == [0, 1, 2, 3]  # each epoch once, the result's losses included
    counts = [line for line in lines if line.startswith("2 trials: ")]
    assert any(" | running: seed=1 (task 1/2)" in line for line in counts), counts
    assert not any("GPU-hours" in line for line in counts)  # a CPU-only instance


def test_ctrl_c_ends_with_the_command_that_resumes(ray_instance: Path, tmp_path: Path) -> None:
    ok, lines, uri = sweep(ray_instance, tmp_path, "stopped", max_concurrent=1)
    assert not ok and lines[-1] == "stopped; to resume, run: zfsweep run grid.yaml --max-concurrent 1", lines
    assert lines[-2] == "2 trials: 0 finished, 0 failed, 2 not run"
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("stopped").experiment_id])
    assert [run.info.status for run in runs] == ["KILLED"]  # the next run resumes it
