"""What clusters do to a sweep, done to real `zfsweep run` drivers (subprocesses, local Ray, real
digits trials): two drivers on one new store, a killed driver, a tracking server that goes away
for a while and one that stays away, and a corrupt checkpoint.

Each test starts drivers, Ray instances and an MLflow server, minutes on a small machine, so they
are marked slow: tests/test_lease.py (the lease, the race on a new store, status), test_outbox.py
(writes through an outage) and test_sweep_tracking.py (a corrupt checkpoint set aside) cover the
same behaviour more cheaply in the default suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from mlflow.tracking import MlflowClient

from servers import MlflowServer, kill_group, wait_for

ROOT = Path(__file__).resolve().parents[1]
GRID = """
name: survive
fixed: {dataset: digits, method: aper, optimizer: zo-sgd, epochs: 1, image_size: 64}
seeds: [1, 2, 3]
"""


def env() -> dict[str, str]:
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "OMP_NUM_THREADS": "1"}


def zfsweep(folder: Path, name: str, *args: str) -> subprocess.Popen:
    log = open(folder / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-c", "from orchestrator.cli import main; main()", *args],
                            cwd=folder, env=env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def log(folder: Path, name: str) -> str:
    return (folder / f"{name}.log").read_text()


def statuses(uri: str) -> list[str]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("survive")
    return [r.info.status for r in client.search_runs([experiment.experiment_id])] if experiment else []


def all_finished_once(uri: str, trials: int, tasks: int) -> None:
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("survive").experiment_id])
    assert len(runs) == trials and len({r.data.tags["zfsweep.config_hash"] for r in runs}) == trials
    for run in runs:
        assert run.info.status == "FINISHED"
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "acc")) == list(range(tasks))


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "grid.yaml").write_text(GRID)
    return tmp_path


@pytest.mark.slow
def test_two_drivers_on_a_new_store_then_a_killed_one(folder: Path) -> None:
    uri = f"sqlite:///{folder / 'new.db'}"
    run = ["run", "grid.yaml", "--tracking-uri", uri, "--max-concurrent", "1"]
    drivers = {name: zfsweep(folder, name, *run) for name in ("a", "b")}  # at once, on a store not yet created
    try:
        wait_for(lambda: any(d.poll() is not None for d in drivers.values()), "one driver to give way", 300)
        (loser,) = [name for name, d in drivers.items() if d.poll() is not None]
        (winner,) = set(drivers) - {loser}
        assert drivers[loser].returncode == 3, log(folder, loser)
        (line,) = log(folder, loser).strip().splitlines()  # one line, no traceback
        assert line.startswith("error: another driver is running this experiment (host ")
        assert f", pid {drivers[winner].pid}, started " in line

        wait_for(lambda: "RUNNING" in statuses(uri), "a trial to start", 300)
        kill_group(drivers[winner])  # the driver and its local Ray instance
    finally:
        for driver in drivers.values():
            kill_group(driver)
    status = subprocess.run([sys.executable, "-c", "from orchestrator.cli import main; main()", "status", "grid.yaml",
                             "--tracking-uri", uri], cwd=folder, env=env(), capture_output=True, text=True, timeout=120)
    assert " 0 running, 1 interrupted, " in status.stdout, status.stdout + status.stderr

    again = zfsweep(folder, "again", *run)  # the killed driver's lease is dead at once on this host
    assert again.wait(timeout=600) == 0, log(folder, "again")
    assert log(folder, "again").strip().splitlines()[-1] == "3 trials: 3 finished, 0 failed, 0 not run"
    all_finished_once(uri, 3, 5)


@pytest.fixture()
def server(folder: Path) -> Iterator[MlflowServer]:
    running = MlflowServer(f"sqlite:///{folder / 'server.db'}", folder).start()
    yield running
    running.stop()


@pytest.mark.slow
def test_a_tracking_outage_is_ridden_out(folder: Path, server: MlflowServer) -> None:
    driver = zfsweep(folder, "driver", "run", "grid.yaml", "--tracking-uri", server.uri, "--max-concurrent", "1")
    try:
        wait_for(lambda: "RUNNING" in statuses(server.uri), "a trial to start", 300)
        server.stop()
        wait_for(lambda: "tracking store unreachable for" in log(folder, "driver"), "the outage on the progress line",
                 120)
        wait_for(lambda: "finished aper/zo-sgd/digits" in log(folder, "driver"), "a trial to end during the outage",
                 300)
        server.start()
        assert driver.wait(timeout=600) == 0, log(folder, "driver")
    finally:
        kill_group(driver)
    output = log(folder, "driver")
    assert "writes queued" in output and output.strip().splitlines()[-1] == "3 trials: 3 finished, 0 failed, 0 not run"
    all_finished_once(server.uri, 3, 5)


@pytest.mark.slow
def test_an_outage_past_the_limit_stops_and_a_corrupt_checkpoint_is_set_aside(folder: Path,
                                                                              server: MlflowServer) -> None:
    run = ["run", "grid.yaml", "--tracking-uri", server.uri, "--max-concurrent", "1"]
    checkpoints = folder / "ray_results" / "zfsweep-checkpoints" / "survive"
    driver = zfsweep(folder, "driver", *run, "--outage-limit", "5")
    try:
        wait_for(lambda: any(checkpoints.glob("*/previous/trial_state.pt")), "a trial two tasks in", 300)
        server.stop()
        assert driver.wait(timeout=300) == 3, log(folder, "driver")
    finally:
        kill_group(driver)
    (stop,) = [line for line in log(folder, "driver").splitlines() if line.startswith("error: ")]
    assert stop.startswith(f"error: tracking store {server.uri} unreachable for 5 s (") and "run the same command" in stop

    corrupt = next(checkpoints.glob("*/previous/trial_state.pt")).parent.parent / "trial_state.pt"
    corrupt.write_bytes(b"not a checkpoint")
    server.start()
    again = zfsweep(folder, "again", *run)
    assert again.wait(timeout=600) == 0, log(folder, "again")
    output = log(folder, "again")
    set_aside = [line for line in output.splitlines() if "unreadable (" in line]
    assert len(set_aside) == 1 and " set aside as " in set_aside[0], output
    assert Path(set_aside[0].split(" set aside as ")[1]).read_bytes() == b"not a checkpoint"
    assert "resuming aper/zo-sgd/digits" in output  # from the checkpoint before the corrupt one
    assert output.strip().splitlines()[-1] == "3 trials: 3 finished, 0 failed, 0 not run"
    all_finished_once(server.uri, 3, 5)
