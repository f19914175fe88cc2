"""A sweep in shards (orchestrator/sweep/shards.py), on a real local Ray instance and SQLite MLflow store
with stand-in trials of a fraction of a second: every trial runs once across the shards, a
failure in the first shard leaves the next ones to run, progress counts and the lease span every
shard, a finished shard's Ray folder goes, and a driver killed in the second shard and started
again finishes the rest without running the first shard's trials again.

The stand-in counts its attempts in files and notes the lease it sees in the store (trials run
in Ray worker processes, so both go through the file system)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import ray
from mlflow.tracking import MlflowClient
from ray import cloudpickle

from orchestrator.commands import run_grid
from orchestrator.store.lease import live_holders
from orchestrator.sweep.options import SweepOptions
from orchestrator.sweep.tune import start_ray
from catalog.records import ERROR_TAG, HASH_TAG
from servers import kill_group, wait_for
from catalog.config import TrialConfig
from trainers.trial import EpochReport, TaskReport, TrialResult

ROOT = Path(__file__).resolve().parents[1]
FOLDER = "ZFSWEEP_TEST_SHARDS"  # attempt counts and lease notes; set before Ray starts: workers inherit it
TASKS = 2
GRID = "name: shards\nfixed: {dataset: digits, method: aper, epochs: 1}\nseeds: [1, 2, 3, 4, 5]\n"


def _attempt(seed: int) -> int:
    path = Path(os.environ[FOLDER]) / f"attempts-{seed}"
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


def stand_in(config: TrialConfig, *, resume: dict[str, Any] | None = None,
             on_task_end: Callable[[TaskReport], None] | None = None,
             on_epoch_end: Callable[[EpochReport], None] | None = None) -> TrialResult:
    """Two short tasks with real checkpoints; seed 2 fails when FAIL_SEED says so; with SLOW_SEEDS,
    those seeds' first attempt takes minutes (a driver is killed meanwhile)."""
    folder = Path(os.environ[FOLDER])
    attempt = _attempt(config.seed)
    uri = (folder / "store").read_text() if (folder / "store").exists() else ""
    if uri:
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("shards")
        keys = [h.key for h in live_holders(uri, experiment.experiment_id)] if experiment else []
        (folder / f"lease-{config.seed}").write_text(json.dumps(keys))
    if (folder / "fail-seed").exists() and config.seed == int((folder / "fail-seed").read_text()):
        raise RuntimeError(f"broken trial {config.seed} (injected)")
    slow = (folder / "slow-seeds").read_text().split() if (folder / "slow-seeds").exists() else []
    for task in range(int(resume["done"]) if resume else 0, TASKS):
        time.sleep(120.0 if str(config.seed) in slow and attempt == 1 else 0.05)
        if on_task_end is not None:
            on_task_end(TaskReport(task, 90.0, [90.0], {"done": task + 1}))
    return TrialResult(avg_acc=90.0, last_acc=90.0, forgetting=0.0, acc=[90.0] * TASKS, peak_memory_gb=0.0,
                       epoch_seconds=0.0, forward_passes=0, wall_seconds=0.1, trainable_params=0)


def drive(folder: str) -> None:
    """A driver process of its own (for the kill test): Ray on 2 CPUs, shards of 2."""
    os.environ[FOLDER] = folder
    start_ray(None, num_cpus=2)
    ok = run_grid(str(Path(folder) / "grid.yaml"), SweepOptions(storage=str(Path(folder) / "ray"), shard_size=2),
                  tracking_uri=(Path(folder) / "store").read_text(), experiment=None, trial=stand_in)
    sys.exit(0 if ok else 1)


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("shards")
    os.environ[FOLDER] = str(folder)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    start_ray(None, num_cpus=2)
    yield folder
    ray.shutdown()


def runs(uri: str) -> list[Any]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("shards")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def attempts(folder: Path) -> dict[int, int]:
    return {int(p.name.split("-")[1]): int(p.read_text()) for p in folder.glob("attempts-*")}


def test_every_trial_runs_once_across_shards_and_a_failure_leaves_the_next_shards(ray_instance: Path,
                                                                                  tmp_path: Path) -> None:
    folder = ray_instance
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    (folder / "store").write_text(uri)
    (folder / "fail-seed").write_text("2")  # in the first shard (seeds 1 and 2)
    (tmp_path / "grid.yaml").write_text(GRID)
    out = io.StringIO()
    ok = run_grid(str(tmp_path / "grid.yaml"), SweepOptions(storage=str(tmp_path / "ray"), retries=0, shard_size=2),
                  tracking_uri=uri, experiment=None, out=out, trial=stand_in)
    lines = out.getvalue().splitlines()
    assert not ok and lines[-1] == "5 trials: 4 finished, 1 failed, 0 not run", lines
    assert lines[0].startswith("shards: 5 of 5 trials to run in 3 shards of up to 2, tracking at ")
    by_seed = {int(r.data.params["seed"]): r for r in runs(uri)}
    assert sorted(by_seed) == [1, 2, 3, 4, 5] and len({r.data.tags[HASH_TAG] for r in by_seed.values()}) == 5
    assert [by_seed[s].info.status for s in (1, 3, 4, 5)] == ["FINISHED"] * 4
    assert by_seed[2].info.status == "FAILED" and "broken trial 2 (injected)" in by_seed[2].data.tags[ERROR_TAG]
    assert attempts(folder) == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}  # each trial once, none again in a later shard
    # One progress line over the whole grid: counts never start again at a shard's border.
    counts = [line for line in lines[1:-1] if line.startswith("5 trials: ")]
    finished = [int(line.split(" finished")[0].split(": ")[1]) for line in counts]
    assert finished == sorted(finished) and finished[-1] == 4 and counts[-1].endswith("ETA 0s")
    assert " 1 failed, " in counts[-1] and all("5 trials: " in line for line in counts)
    # One lease, held by this driver, seen by a trial of every shard; released at the end.
    leases = {seed: json.loads((folder / f"lease-{seed}").read_text()) for seed in range(1, 6)}
    assert all(len(keys) == 1 for keys in leases.values()) and len({k[0] for k in leases.values()}) == 1
    client = MlflowClient(uri)
    assert live_holders(uri, client.get_experiment_by_name("shards").experiment_id) == []
    # The finished shards' Ray folders are gone; the one with the failure keeps its error file.
    (kept,) = (tmp_path / "ray" / "shards").iterdir()
    assert kept.name.endswith("-shard0000") and list(kept.glob("trial_*/error.txt"))
    (folder / "fail-seed").unlink()


def test_a_driver_killed_in_the_second_shard_resumes_with_the_first_unfinished_trial(ray_instance: Path,
                                                                                    tmp_path: Path) -> None:
    folder = tmp_path / "killed"
    folder.mkdir()
    uri = f"sqlite:///{folder / 'store.db'}"
    (folder / "store").write_text(uri)
    (folder / "grid.yaml").write_text(GRID)
    (folder / "slow-seeds").write_text("3 4")  # the second shard's first attempts: the driver dies in them
    paths = [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", "import sys, test_sweep_shards as t; t.drive(sys.argv[1])", str(folder)]

    def driver(name: str) -> subprocess.Popen:
        return subprocess.Popen(command, cwd=folder, env=env, stdout=open(folder / f"{name}.log", "w"),
                                stderr=subprocess.STDOUT, start_new_session=True)

    first = driver("first")
    try:
        wait_for(lambda: sorted(r.info.status for r in runs(uri)) == ["FINISHED", "FINISHED", "RUNNING", "RUNNING"],
                 "the second shard to be running", 400)
    finally:
        kill_group(first)  # the driver and its local Ray instance
    assert attempts(folder) == {1: 1, 2: 1, 3: 1, 4: 1}
    again = driver("again")
    assert again.wait(timeout=400) == 0, (folder / "again.log").read_text()
    log = (folder / "again.log").read_text().splitlines()
    assert log[0].startswith("shards: 3 of 5 trials to run in 2 shards of up to 2, ")
    assert log[-1] == "5 trials: 5 finished, 0 failed, 0 not run"
    assert attempts(folder) == {1: 1, 2: 1, 3: 2, 4: 2, 5: 1}  # the first shard did not run again
    final = runs(uri)
    assert len(final) == 5 and {r.info.status for r in final} == {"FINISHED"}
    assert len({r.data.tags[HASH_TAG] for r in final}) == 5  # the killed trials continued their own runs
