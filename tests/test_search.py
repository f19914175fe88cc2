"""The `search:` block end to end on a real local Ray and a real SQLite MLflow store, with a stand-in
trial whose scores are a known function of lr: validation peaks at lr 10^-1.5, test accuracy at 1e-4,
so a search that read test accuracy would land near 1e-4."""

from __future__ import annotations

import io
import math
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from mlflow.tracking import MlflowClient

from catalog.config import TrialConfig
from catalog.records import CELL_TAG, EARLY_STOP_TAG, PHASE_TAG, SEARCH_TAG
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.commands import run_grid
from reports.build import write_report
from reports.runs import load_runs
from reports.tuned import tuned as tuned_table
from orchestrator.sweep.options import SweepOptions
from trainers.trial import EpochReport, TaskReport, TrialResult

from servers import kill_group, wait_for
from localray import drive_grid, local_ray, start_driver


FOLDER = "ZFSWEEP_TEST_SEARCH"
TASKS = 5
GRID = """name: searched
fixed: {dataset: digits, method: aper, epochs: 1, tasks: 5}
axes: {optimizer: [zo-sgd]}
seeds: [1, 2]
include:
  - {optimizer: fo-sgd, epochs: 0}
search:
  space: {lr: {loguniform: [1.0e-5, 1.0]}}
  samples: SAMPLES
  algorithm: random
  scheduler: SCHEDULER
  validation: 0.2
"""


def validation_score(lr: float, task: int) -> float:
    return 80.0 - 10.0 * abs(math.log10(lr) + 1.5) - 2.0 * task


def held_test_score(lr: float) -> float:
    return 80.0 - 10.0 * abs(math.log10(lr) + 4.0)


def stand_in(config: TrialConfig, *, resume: dict[str, Any] | None = None,
             on_task_end: Callable[[TaskReport], None] | None = None,
             on_epoch_end: Callable[[EpochReport], None] | None = None) -> TrialResult:
    """Five tasks; validation scores only when the trial holds images out; each run logged to a file."""
    lr, folder = float(config.lr), Path(os.environ[FOLDER])
    drawn_before = sum(1 for entry in logged(folder) if entry[2] > 0)
    with open(folder / "runs.txt", "a") as log:
        log.write(f"{lr!r} {config.seed} {config.validation} {config.epochs}\n")
    if config.validation > 0 and drawn_before >= 3 and (folder / "slow").exists():
        time.sleep(300.0)  # the killed driver's later samples: it dies in them
    held = []
    for task in range(TASKS):
        if config.validation > 0:
            held.append(validation_score(lr, task))
        if on_task_end is not None:
            on_task_end(TaskReport(task, held_test_score(lr), [held_test_score(lr)], {"done": task + 1}, list(held)))
    avg = sum(held) / len(held) if held else None
    return TrialResult(avg_acc=held_test_score(lr), last_acc=held_test_score(lr), forgetting=0.0, acc=[held_test_score(lr)] * TASKS,
                       peak_memory_gb=0.0, epoch_seconds=0.0, forward_passes=0, wall_seconds=0.1, trainable_params=0,
                       val_acc=held, val_avg=avg)


def drive(folder: str) -> None:
    """A driver process of its own (for the kill test)."""
    drive_grid(folder, FOLDER, stand_in, retries=0)


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("search")
    os.environ[FOLDER] = str(folder)
    with local_ray(__name__):
        yield folder


def logged(folder: Path) -> list[tuple[float, int, float, int]]:
    path = folder / "runs.txt"
    lines = path.read_text().split("\n") if path.exists() else []
    return [(float(a), int(b), float(c), int(d)) for a, b, c, d in (line.split() for line in lines if line)]


def sweep(tmp_path: Path, uri: str, samples: int, scheduler: str = "none") -> tuple[bool, str]:
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID.replace("SAMPLES", str(samples)).replace("SCHEDULER", scheduler))
    out = io.StringIO()
    ok = run_grid(str(grid), SweepOptions(storage=str(tmp_path / "ray"), retries=0), tracking_uri=uri,
                  experiment=None, out=out, trial=stand_in)
    return ok, out.getvalue()


def test_a_search_ranks_by_validation_continues_where_it_stopped_and_reruns_the_best_on_every_seed(
        ray_instance: Path, tmp_path: Path) -> None:
    folder = ray_instance
    (folder / "runs.txt").unlink(missing_ok=True)
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    ok, text = sweep(tmp_path, uri, samples=5)
    assert ok, text
    first = logged(folder)
    samples = [entry for entry in first if entry[2] > 0]
    assert len(samples) == 5 and {seed for _, seed, _, _ in samples} == {1}  # drawn on the first seed only
    # Run again with more samples: the finished five are not drawn again, five more are.
    ok, text = sweep(tmp_path, uri, samples=10)
    assert ok, text
    again = logged(folder)[len(first):]
    new_samples = [entry for entry in again if entry[2] > 0]
    assert len(new_samples) == 5 and not {lr for lr, *_ in new_samples} & {lr for lr, *_ in samples}
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("searched")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    phases = [r.data.tags.get(PHASE_TAG) for r in runs]
    assert phases.count("search") == 10 and phases.count("preset") == 2
    search_runs = [r for r in runs if r.data.tags.get(PHASE_TAG) == "search"]
    assert {r.data.tags[CELL_TAG] for r in search_runs} == {"aper/zo-sgd/digits"}
    assert len({r.data.tags[SEARCH_TAG] for r in search_runs}) == 1
    assert all(r.data.params["validation"] == "0.2" and r.info.status == "FINISHED" for r in search_runs)
    # The best by validation (nearest lr 10^-1.5), not by test accuracy (nearest 1e-4), reruns on both seeds
    # on the full training data.
    sampled = sorted({float(r.data.params["lr"]) for r in search_runs}, key=lambda lr: abs(math.log10(lr) + 1.5))
    # (The first run's best, of five samples, was rerun then; its runs stay, the report picks the best's.)
    tuned = [r for r in runs if r.data.tags.get(PHASE_TAG) == "tuned" and float(r.data.params["lr"]) == sampled[0]]
    assert sorted(int(r.data.params["seed"]) for r in tuned) == [1, 2]
    assert all("validation" not in r.data.params for r in tuned)  # 0: left out of params and hash, as ever
    assert f"best lr={sampled[0]}" in text
    # The untrained reference (epochs 0) is no cell: it ran once per seed as the grid's own trial.
    assert sum(1 for entry in logged(folder) if entry[3] == 0) == 2
    # The report: the tuned table (best lr, its validation Avg, tuned test numbers) and the curves.
    report = write_report(load_runs(uri), tmp_path / "report")
    table = (tmp_path / "report" / "tuned.tex").read_text()
    assert f"lr {sampled[0]:.3g}" in table and (tmp_path / "report" / "figure_search.png").exists(), report
    frame = tuned_table(load_runs(uri))
    val, preset_val, tuned_avg, _, _, preset_avg, paired = frame.cells[0]
    assert val.mean == pytest.approx(sum(validation_score(sampled[0], t) for t in range(TASKS)) / TASKS, abs=1e-3)
    # The preset's lr (zo-sgd on digits) was the first sample: its validation score stands beside the best.
    assert preset_val is not None and preset_val.mean <= val.mean and preset_avg.n == 2
    assert tuned_avg.n == 2 and tuned_avg.mean == pytest.approx(held_test_score(sampled[0]), abs=1e-3)
    assert paired.n == 2  # against the untrained (epochs 0) run of the same method, data set and seed
    # `zfsweep status` says where the search stands.
    status = CliRunner().invoke(main, ["status", str(tmp_path / "grid.yaml"), "--tracking-uri", uri])
    assert "search: 10 of 10 samples finished (0 stopped early by ASHA), 1 of 1 cells complete" in status.output
    # Everything finished: a third run draws and runs nothing.
    count = len(logged(folder))
    ok, text = sweep(tmp_path, uri, samples=10)
    assert ok and len(logged(folder)) == count, text


def test_asha_stops_poor_samples_early_and_records_them_finished_not_failed(ray_instance: Path,
                                                                          tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    ok, text = sweep(tmp_path, uri, samples=9, scheduler="asha")
    assert ok, text
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("searched").experiment_id], max_results=1000)
    search_runs = [r for r in runs if r.data.tags.get(PHASE_TAG) == "search"]
    stopped = [r for r in search_runs if r.data.tags.get(EARLY_STOP_TAG) == "true"]
    assert len(search_runs) == 9 and stopped and all(r.info.status == "FINISHED" for r in search_runs)
    assert all(len(client.get_metric_history(r.info.run_id, "val_avg")) < TASKS for r in stopped)
    assert not any(r.info.status == "FAILED" for r in runs)


# Two driver processes, each starting Ray (about two minutes): the continuation test above checks the
# same rule (finished samples are never drawn again) in-process, so this one runs with `-m slow`.
@pytest.mark.slow
def test_a_search_killed_midway_and_run_again_repeats_no_finished_sample(tmp_path: Path) -> None:
    folder = tmp_path
    uri = f"sqlite:///{folder / 'store.db'}"
    (folder / "store").write_text(uri)
    (folder / "grid.yaml").write_text(GRID.replace("SAMPLES", "6").replace("SCHEDULER", "none"))
    (folder / "slow").write_text("")

    def driver(name: str) -> subprocess.Popen:
        return start_driver("test_search", folder, name)

    def finished_samples() -> list[Any]:
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("searched")
        found = client.search_runs([experiment.experiment_id], max_results=1000) if experiment else []
        return [r for r in found if r.data.tags.get(PHASE_TAG) == "search" and r.info.status == "FINISHED"]

    first = driver("first")
    try:
        wait_for(lambda: len(finished_samples()) >= 3, "three samples to finish", 400)
    finally:
        kill_group(first)  # the driver and its local Ray instance, mid-search
    done_before = {float(r.data.params["lr"]) for r in finished_samples()}
    (folder / "slow").unlink()
    again = driver("again")
    assert again.wait(timeout=400) == 0, (folder / "again.log").read_text()
    trained = [lr for lr, _, validation, _ in logged(folder) if validation > 0]
    assert all(trained.count(lr) == 1 for lr in done_before), trained  # no finished sample ran again
    assert len(finished_samples()) == 6
