"""A sweep on the Ray Core dispatcher (orchestrator/sweep/dispatch.py), on a real local Ray instance and
SQLite MLflow store with stand-in trials of a fraction of a second: every trial runs once, a failing
trial leaves the others to run, a trial that asks for the whole machine gets it from the idle workers
of smaller trials, no more trials are running than fit, progress counts and the lease span the
sweep, error files go once their trial FINISHED, and a driver killed midway and started again
finishes the rest without running the finished trials again. In a process that runs Ray, the first
workers start before the up-front check (and go if it fails or the lease is refused). Workers start in
a doubling ramp, and no more trials run (nor workers start) than the tracking store keeps up with.

The stand-in counts its attempts in files and notes the lease it sees in the store (trials run
in Ray worker processes, so both go through the file system)."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import ray
from mlflow.tracking import MlflowClient

from orchestrator.commands import run_grid
from orchestrator.grid.checks import CheckError
from orchestrator.grid.expand import load_grid
from orchestrator.store.lease import Lease, LeaseRefused, live_holders
from orchestrator.store.outbox import Outbox
from orchestrator.store.tracking import Tracker
from orchestrator.sweep.checkpoints import CheckpointStore
from orchestrator.sweep.dispatch import (STORE_BUSY, Attempt, Dispatcher, Workers, first_workers, shape_of,
                                        workers_to_fill)
from orchestrator.sweep.options import SweepOptions
from orchestrator.sweep.progress import LiveLine, SweepProgress
from orchestrator.sweep.recorder import Recorder
from catalog.records import ERROR_TAG, HASH_TAG
from servers import kill_group, wait_for
from catalog.config import TrialConfig
from trainers.trial import EpochReport, TaskReport, TrialResult
from localray import drive_grid, local_ray, start_driver

FOLDER = "ZFSWEEP_TEST_DISPATCH"  # attempt counts and lease notes; set before Ray starts: workers inherit it
TASKS = 2
GRID = "name: dispatch\nfixed: {dataset: digits, method: aper, epochs: 1}\nseeds: [1, 2, 3, 4, 5]\n"
# Seed 5 asks for both CPUs of the instance: it runs only once the 1-CPU trials' idle workers let them go.
WIDE = GRID + "when:\n  - match: {seed: 5}\n    resources: {cpu: 2}\n"


def _attempt(seed: int) -> int:
    path = Path(os.environ[FOLDER]) / f"attempts-{seed}"
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


def stand_in(config: TrialConfig, *, resume: dict[str, Any] | None = None,
             on_task_end: Callable[[TaskReport], None] | None = None,
             on_epoch_end: Callable[[EpochReport], None] | None = None) -> TrialResult:
    """Two short tasks with real checkpoints; seed 2 fails on every attempt when fail-seed says so, seed 1 on
    its first when flaky-seed does; with slow-seeds, those seeds' first attempt takes minutes (a driver
    is killed meanwhile). Each notes the trials running beside it (files, as workers are processes)."""
    folder = Path(os.environ[FOLDER])
    attempt = _attempt(config.seed)
    uri = (folder / "store").read_text() if (folder / "store").exists() else ""
    if uri:
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("dispatch")
        keys = [h.key for h in live_holders(uri, experiment.experiment_id)] if experiment else []
        (folder / f"lease-{config.seed}").write_text(json.dumps(keys))
    running = folder / f"running-{config.seed}"
    running.write_text("")
    (folder / f"beside-{config.seed}-{attempt}").write_text(str(len(list(folder.glob("running-*")))))
    try:
        if (folder / "fail-seed").exists() and config.seed == int((folder / "fail-seed").read_text()):
            raise RuntimeError(f"broken trial {config.seed} (injected)")
        if (folder / "flaky-seed").exists() and config.seed == int((folder / "flaky-seed").read_text()) \
                and attempt == 1:
            raise RuntimeError(f"flaky trial {config.seed} (injected)")
        return _tasks(config, attempt, resume, on_task_end)
    finally:
        running.unlink()


def _tasks(config: TrialConfig, attempt: int, resume: dict[str, Any] | None,
           on_task_end: Callable[[TaskReport], None] | None) -> TrialResult:
    folder = Path(os.environ[FOLDER])
    slow = (folder / "slow-seeds").read_text().split() if (folder / "slow-seeds").exists() else []
    for task in range(int(resume["done"]) if resume else 0, TASKS):
        time.sleep(120.0 if str(config.seed) in slow and attempt == 1 else 0.05)
        if on_task_end is not None:
            on_task_end(TaskReport(task, 90.0, [90.0], {"done": task + 1}))
    return TrialResult(avg_acc=90.0, last_acc=90.0, forgetting=0.0, acc=[90.0] * TASKS, peak_memory_gb=0.0,
                       epoch_seconds=0.0, forward_passes=0, wall_seconds=0.1, trainable_params=0)


def drive(folder: str) -> None:
    """A driver process of its own (for the kill test): Ray on 2 CPUs."""
    drive_grid(folder, FOLDER, stand_in)


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("dispatch")
    os.environ[FOLDER] = str(folder)
    with local_ray(__name__):
        yield folder


def runs(uri: str) -> list[Any]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("dispatch")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def attempts(folder: Path) -> dict[int, int]:
    return {int(p.name.split("-")[1]): int(p.read_text()) for p in folder.glob("attempts-*")}


def beside(folder: Path) -> dict[tuple[int, int], int]:
    """(seed, attempt) -> how many trials were running when it started, itself included."""
    return {(int(p.name.split("-")[1]), int(p.name.split("-")[2])): int(p.read_text()) for p in folder.glob("beside-*")}


def test_every_trial_runs_once_a_failure_leaves_the_rest_and_a_wide_trial_gets_its_room(ray_instance: Path,
                                                                                        tmp_path: Path) -> None:
    folder = ray_instance
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    (folder / "store").write_text(uri)
    (folder / "fail-seed").write_text("2")
    (folder / "flaky-seed").write_text("1")
    (tmp_path / "grid.yaml").write_text(WIDE)
    out = io.StringIO()
    ok = run_grid(str(tmp_path / "grid.yaml"), SweepOptions(storage=str(tmp_path / "ray"), retries=1),
                  tracking_uri=uri, experiment=None, out=out, trial=stand_in)
    lines = out.getvalue().splitlines()
    assert not ok and lines[-1] == "5 trials: 4 finished, 1 failed, 0 not run", lines
    assert lines[0].startswith("dispatch: 5 of 5 trials to run, tracking at ")
    by_seed = {int(r.data.params["seed"]): r for r in runs(uri)}
    assert sorted(by_seed) == [1, 2, 3, 4, 5] and len({r.data.tags[HASH_TAG] for r in by_seed.values()}) == 5
    assert [by_seed[s].info.status for s in (1, 3, 4, 5)] == ["FINISHED"] * 4
    assert by_seed[2].info.status == "FAILED" and "broken trial 2 (injected)" in by_seed[2].data.tags[ERROR_TAG]
    assert attempts(folder) == {1: 2, 2: 2, 3: 1, 4: 1, 5: 1}  # a retry each for the failing ones, no rerun
    assert any(line.startswith("retrying seed=1 from its last finished task: RuntimeError: flaky") for line in lines)
    # Never more trials at once than the 2 CPUs hold; the 2-CPU trial ran alone.
    assert max(beside(folder).values()) <= 2 and beside(folder)[(5, 1)] == 1
    # One progress line over the whole grid.
    counts = [line for line in lines[1:-1] if line.startswith("5 trials: ")]
    finished = [int(line.split(" finished")[0].split(": ")[1]) for line in counts]
    assert finished == sorted(finished) and finished[-1] == 4 and counts[-1].endswith("ETA 0s")
    assert " 1 failed, " in counts[-1]
    # One lease, held by this driver, seen by every trial; released at the end.
    leases = {seed: json.loads((folder / f"lease-{seed}").read_text()) for seed in range(1, 6)}
    assert all(len(keys) == 1 for keys in leases.values()) and len({k[0] for k in leases.values()}) == 1
    client = MlflowClient(uri)
    assert live_holders(uri, client.get_experiment_by_name("dispatch").experiment_id) == []
    # The failed trial keeps its tracebacks; the flaky one's went once it FINISHED; nothing else is on disk.
    errors = tmp_path / "ray" / "dispatch" / "errors"
    (kept,) = errors.iterdir()
    assert kept.name == f"{by_seed[2].data.tags[HASH_TAG]}.txt"
    assert kept.read_text().count("RuntimeError: broken trial 2 (injected)") == 2  # both attempts
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == ["dispatch", "zfsweep-checkpoints"]
    for name in ("fail-seed", "flaky-seed"):
        (folder / name).unlink()


def test_a_driver_killed_midway_resumes_with_the_first_unfinished_trial(ray_instance: Path,
                                                                                    tmp_path: Path) -> None:
    folder = tmp_path / "killed"
    folder.mkdir()
    uri = f"sqlite:///{folder / 'store.db'}"
    (folder / "store").write_text(uri)
    (folder / "grid.yaml").write_text(GRID)
    (folder / "slow-seeds").write_text("3 4")  # their first attempts: the driver dies in them

    def driver(name: str) -> subprocess.Popen:
        return start_driver("test_sweep_dispatch", folder, name)

    first = driver("first")
    try:
        wait_for(lambda: sorted(r.info.status for r in runs(uri)) == ["FINISHED", "FINISHED", "RUNNING", "RUNNING"],
                 "seeds 3 and 4 to be running", 400)
    finally:
        kill_group(first)  # the driver and its local Ray instance
    assert attempts(folder) == {1: 1, 2: 1, 3: 1, 4: 1}
    again = driver("again")
    assert again.wait(timeout=400) == 0, (folder / "again.log").read_text()
    log = (folder / "again.log").read_text().splitlines()
    assert log[0].startswith("dispatch: 3 of 5 trials to run, ")
    assert log[-1] == "5 trials: 5 finished, 0 failed, 0 not run"
    assert attempts(folder) == {1: 1, 2: 1, 3: 2, 4: 2, 5: 1}  # the finished ones did not run again
    final = runs(uri)
    assert len(final) == 5 and {r.info.status for r in final} == {"FINISHED"}
    assert len({r.data.tags[HASH_TAG] for r in final}) == 5  # the killed trials continued their own runs


class Unimportable:
    """A trial function a worker cannot load: unpickling it imports a module that does not exist
    (a worker's environment missing a package the driver has)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return importlib.import_module, ("zfsweep_no_such_module",)

    def __call__(self, *args: Any, **kwargs: Any) -> TrialResult:
        raise AssertionError("runs only in a worker, which cannot load it")


def test_workers_that_cannot_start_stop_the_sweep_with_their_reason(ray_instance: Path, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    (tmp_path / "grid.yaml").write_text(GRID)
    out = io.StringIO()
    ok = run_grid(str(tmp_path / "grid.yaml"), SweepOptions(storage=str(tmp_path / "ray")), tracking_uri=uri,
                  experiment=None, out=out, trial=Unimportable())
    lines = out.getvalue().splitlines()
    assert not ok and lines[-2:] == ["5 trials: 0 finished, 0 failed, 5 not run", lines[-1]], lines
    (why,) = [line for line in lines if "failed to start" in line]
    assert why.startswith("the sweep stopped by an error: WorkersCannotStart: 8 trial workers in a row failed to "
                          "start: ") and "No module named 'zfsweep_no_such_module'" in why, why
    assert lines[-1].startswith("stopped; to resume, run")
    assert runs(uri) == []


def test_workers_start_two_at_a_time_then_as_many_as_are_up(ray_instance: Path, tmp_path: Path) -> None:
    """Sixteen workers importing torch at once on two cores all came up after some 25 s; started in a
    doubling ramp, the first trials run within seconds (docs/scale.md)."""
    workers = Workers(stand_in, tmp_path / "checkpoints", str(tmp_path))
    shape = (("CPU", 0.25),)  # six fit on the instance's 2 CPUs
    try:
        workers.make_room(shape, wanted=6, slots=6, busy=0)
        in_flight = [len(workers.starting)]
        while workers.starting:
            ready, _ = ray.wait(list(workers.starting), num_returns=1, timeout=120)
            assert ready, "a worker did not start within 120 s"
            workers.started(ready[0])
            workers.make_room(shape, wanted=6, slots=6, busy=0)
            in_flight.append(len(workers.starting))
        assert in_flight == [2, 2, 2, 3, 2, 1, 0]  # two until two are up, then as many as are up
        assert workers.up == 6 and len(workers.idle[shape]) == 6
    finally:
        workers.close()


def test_the_first_workers_start_before_the_store_opens_and_go_when_the_lease_is_refused(ray_instance: Path,
                                                                                       tmp_path: Path) -> None:
    """`first_workers` starts the sweep's first workers, of the first trials' shape; run_grid, in a process
    that runs Ray, starts them before the up-front check, the store and the lease (every sweep of this
    module then runs on them), and lets them go when another driver holds the lease, or when the check
    fails."""
    (tmp_path / "grid.yaml").write_text(WIDE)
    specs = load_grid(tmp_path / "grid.yaml").trials
    workers = first_workers(specs, stand_in, tmp_path / "checkpoints", str(tmp_path), None)
    try:
        assert [shape for shape, _ in workers.starting.values()] == [(("CPU", 1.0),)] * 2  # seed 5's 2 CPUs last
    finally:
        workers.close()
    uri = f"sqlite:///{tmp_path / 'leased.db'}"
    cpus = ray.cluster_resources()["CPU"]

    def all_let_go() -> None:
        wait_for(lambda: ray.available_resources().get("CPU") == cpus, "the first workers to be let go", 30)
        time.sleep(2.0)  # Ray's view of the resources lags by about a second: still free after that
        assert ray.available_resources().get("CPU") == cpus

    with Lease(uri, Tracker(uri, "dispatch").experiment_id):
        with pytest.raises(LeaseRefused) as refused:
            run_grid(str(tmp_path / "grid.yaml"), SweepOptions(storage=str(tmp_path / "ray")), tracking_uri=uri,
                     experiment=None, out=io.StringIO(), trial=stand_in)
        all_let_go()
        assert "another driver is running this experiment" in str(refused.value)
    assert runs(uri) == []
    # This process runs Ray, so the up-front check asks it, and the first workers start during the check.
    (tmp_path / "bad.yaml").write_text(GRID.replace("epochs: 1}", "epochs: 1, backbone: no_such_vit}"))
    with pytest.raises(CheckError, match="'no_such_vit' unknown to timm"):
        run_grid(str(tmp_path / "bad.yaml"), SweepOptions(storage=str(tmp_path / "ray")), tracking_uri=uri,
                 experiment=None, out=io.StringIO(), trial=stand_in)
    all_let_go()
    assert runs(uri) == []


def dispatcher_on(uri: str, tmp_path: Path) -> tuple[Outbox, Dispatcher]:
    """A dispatcher of stand-in trials whose Recorder writes to the store at `uri` (nothing started yet)."""
    outbox = Outbox(Tracker(uri, "dispatch"))
    recorder = Recorder(outbox, CheckpointStore(tmp_path / "checkpoints"), SweepProgress(total=5, finished=0),
                        LiveLine(io.StringIO()), False)
    return outbox, Dispatcher(recorder, stand_in, errors=tmp_path / "errors", workdir=str(tmp_path), gpus=False,
                              retries=0)


def test_no_more_trials_run_nor_workers_start_than_the_store_records(tmp_path: Path) -> None:
    """Trials that ended and wait for their end to be written count against the slots past one a slot, and
    while more wait than run no worker starts; during an outage they do not count (the trials go on)."""
    (tmp_path / "grid.yaml").write_text(GRID)
    specs = load_grid(tmp_path / "grid.yaml").trials
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    outbox, dispatcher = dispatcher_on(uri, tmp_path)
    result = {"avg_acc": 90.0, "last_acc": 90.0, "forgetting": 0.0}
    outbox.start_writer()
    with outbox._lock:  # the writer is held up: the store falls behind
        for spec in specs[:3]:
            outbox.start(spec, None)
            outbox.finish(spec.config_hash, result, [90.0], 0.0, after=lambda: None)
        assert outbox.behind() == 3
        assert [dispatcher.room(slots) for slots in (1, 2, 4)] == [-1, 1, 4]
        dispatcher.todo.extend(Attempt(spec, shape_of(spec, False)) for spec in specs[3:])
        dispatcher.hand_out(4)  # room for 4, but 3 ended trials wait to be written and none runs
        assert not dispatcher.running and not dispatcher.workers.starting and len(dispatcher.todo) == 2
        outbox.down_since = time.monotonic()  # an outage: the writes wait by design, the trials go on
        assert outbox.behind() == 0 and dispatcher.room(2) == 2
        outbox.down_since = None
    wait_for(lambda: outbox.behind() == 0, "the store to catch up", 60)
    outbox.stop_writer()
    assert sorted(r.info.status for r in runs(uri)) == ["FINISHED"] * 3


def test_no_worker_starts_while_the_stores_writes_take_most_of_the_time(tmp_path: Path) -> None:
    """A store whose writes took over STORE_BUSY of the last seconds (here an SQLite file that another
    connection holds locked for 1.5 s) keeps the workers from starting; once it is idle again, they may."""
    (tmp_path / "grid.yaml").write_text(GRID)
    specs = load_grid(tmp_path / "grid.yaml").trials
    path = tmp_path / "store.db"
    outbox, dispatcher = dispatcher_on(f"sqlite:///{path}", tmp_path)  # no writer thread: writes made as queued
    assert dispatcher.store_room() > 4 and outbox.load() == 0.0
    locked = threading.Event()

    def hold_the_file() -> None:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")
            locked.set()
            time.sleep(1.5)
            other.execute("ROLLBACK")

    holder = threading.Thread(target=hold_the_file)
    holder.start()
    locked.wait(10)
    outbox.start(specs[0], None)  # waits for the lock: a write of about 1.5 s
    holder.join()
    assert outbox.load() > STORE_BUSY and dispatcher.store_room() == 0
    dispatcher.todo.extend(Attempt(spec, shape_of(spec, False)) for spec in specs[1:])
    dispatcher.hand_out(4)
    assert not dispatcher.workers.starting and not dispatcher.running
    wait_for(lambda: dispatcher.store_room() > 0, "the store's load to fall", 10)


def test_no_more_workers_start_than_keep_the_store_busy(ray_instance: Path, tmp_path: Path) -> None:
    """Once a trial's time and the store's time a trial are measured, workers start only up to their ratio:
    more would wait for the store. Trials of minutes leave every slot its worker."""
    assert [workers_to_fill(0.12, 0.03), workers_to_fill(0.12, 0.025), workers_to_fill(0.01, 0.03)] == [4, 4, 1]
    assert workers_to_fill(600.0, 0.03) == 20000
    (tmp_path / "grid.yaml").write_text(GRID)
    specs = load_grid(tmp_path / "grid.yaml").trials
    outbox, dispatcher = dispatcher_on(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    result = {"avg_acc": 90.0, "last_acc": 90.0, "forgetting": 0.0}
    outbox.start(specs[0], None)
    outbox.finish(specs[0].config_hash, result, [90.0], 0.0, after=lambda: None)
    assert outbox.seconds_per_trial() is None  # one trial's end: too few to go by
    busy_before = outbox.busy
    for spec in specs[1:3]:
        outbox.start(spec, None)
        outbox.finish(spec.config_hash, result, [90.0], 0.0, after=lambda: None)
    # Made as queued, the writes filled the last moment; the load falls within a second (the ends stay counted).
    wait_for(lambda: outbox.load() < STORE_BUSY, "the store's load to fall", 1.5)
    per_trial = outbox.seconds_per_trial()
    # Three ends since the first mark, taken after the first write: the writes after it, over three.
    assert per_trial is not None and (outbox.busy - busy_before) / 3 <= per_trial <= outbox.busy / 3
    assert dispatcher.store_room() > 4  # no trial's time measured yet: the ramp decides
    dispatcher.durations.extend([1.5 * per_trial] * 3)
    assert dispatcher.store_room() == 1
    dispatcher.todo.extend(Attempt(spec, shape_of(spec, False)) for spec in specs[3:])
    workers = dispatcher.workers
    try:
        dispatcher.hand_out(4)
        assert len(workers.starting) == 1  # room for 4 and a ramp of 2, but one keeps the store busy
        ready, _ = ray.wait(list(workers.starting), num_returns=1, timeout=120)
        workers.started(ready[0])
        # The next trial wants two CPUs: the idle one-CPU worker goes, though no more may start beside it.
        wide = Attempt(specs[4], (("CPU", 2.0),))
        dispatcher.todo.appendleft(wide)
        dispatcher.hand_out(4)
        assert not workers.idle[(("CPU", 1.0),)]
        assert [shape for shape, _ in workers.starting.values()] == [wide.shape]
    finally:
        workers.close()
    outbox.down_since = time.monotonic()  # an outage: nothing measured, the trials go on
    assert outbox.seconds_per_trial() is None and dispatcher.store_room() > 4
