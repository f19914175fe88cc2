"""One driver per experiment: the lease in the experiment's tags, on an SQLite store and on a
real MLflow tracking server alike; and what `zfsweep status` makes of runs a dead driver left."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
import pytest
from mlflow.tracking import MlflowClient

from orchestrator.commands import failed_trials, status_counts
from orchestrator.grid.expand import load_grid
from orchestrator.store.lease import LEASE_PREFIX, Lease, LeaseRefused, live_holders
from orchestrator.store.tracking import Tracker
from servers import MlflowServer

GRID = "name: leased\nfixed: {dataset: digits, method: aper, optimizer: zo-sgd, epochs: 1}\nseeds: [1, 2, 3]\n"


@pytest.fixture()
def server(tracking_server: MlflowServer) -> str:
    return tracking_server.uri


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'store.db'}"  # one store: creating one takes seconds


@pytest.fixture(params=["sqlite", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(tracking URI, experiment id) of a fresh experiment."""
    uri = request.getfixturevalue("sqlite_store" if request.param == "sqlite" else "server")
    name = f"leased-{tmp_path.name}"
    return uri, Tracker(uri, name).experiment_id


def test_a_second_driver_is_refused_with_the_first_named(store: tuple[str, str]) -> None:
    uri, experiment_id = store
    first = Lease(uri, experiment_id)
    first.acquire()
    with pytest.raises(LeaseRefused) as refused:
        Lease(uri, experiment_id).acquire()
    message = str(refused.value)
    assert f"host {socket.gethostname()}, pid {os.getpid()}, started 20" in message and "\n" not in message
    assert [h.key for h in live_holders(uri, experiment_id)] == [first.mine.key]  # the refused tag is gone
    first.release()
    assert live_holders(uri, experiment_id) == []
    with Lease(uri, experiment_id):  # released: the next driver proceeds
        assert len(live_holders(uri, experiment_id)) == 1


def plant(uri: str, experiment_id: str, host: str, pid: int, age: float) -> None:
    """A held lease tag as another driver would have left it, its last heartbeat `age` s ago."""
    beat = time.time() - age
    value = json.dumps({"host": host, "pid": pid, "started": beat - 60, "heartbeat": beat, "held": True})
    MlflowClient(uri).set_experiment_tag(experiment_id, f"{LEASE_PREFIX}planted{host}{pid}", value)


def test_a_killed_drivers_lease_expires(store: tuple[str, str]) -> None:
    uri, experiment_id = store
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    plant(uri, experiment_id, socket.gethostname(), int(dead.stdout), age=1.0)  # this host, process gone
    plant(uri, experiment_id, "elsewhere", 4242, age=600.0)  # another host, silent for 10 minutes
    with Lease(uri, experiment_id, expiry=90.0):
        tags = MlflowClient(uri).get_experiment(experiment_id).tags
        assert [k for k in tags if k.startswith(LEASE_PREFIX) and "planted" in k] == []  # cleared on the way
    plant(uri, experiment_id, "elsewhere", 4242, age=5.0)  # another host, alive
    with pytest.raises(LeaseRefused, match="host elsewhere, pid 4242"):
        Lease(uri, experiment_id, expiry=90.0).acquire()


def test_the_heartbeat_keeps_a_lease_alive(store: tuple[str, str]) -> None:
    uri, experiment_id = store
    with Lease(uri, experiment_id, heartbeat=0.2) as lease:
        started = lease.mine.heartbeat
        time.sleep(1.5)
        (holder,) = live_holders(uri, experiment_id)
        assert holder.heartbeat > started and holder.key == lease.mine.key


def test_status_shows_a_dead_drivers_runs_as_interrupted_and_lists_failures(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(GRID)
    grid_path = str(tmp_path / "grid.yaml")
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    first, second, _ = load_grid(grid_path).trials
    tracker = Tracker(uri, "leased")
    tracker.start(first, None)  # RUNNING, and no driver holds the lease: its driver is gone
    tracker.fail(tracker.start(second, None), "RuntimeError: broken trial (injected)", 0.0)
    counts = status_counts(grid_path, uri, None)
    assert counts.line().startswith("3 trials: 0 finished, 0 running, 1 interrupted, 1 failed, 1 pending, ")
    with Lease(uri, tracker.experiment_id):  # a live driver: its runs are running
        assert status_counts(grid_path, uri, None).line().startswith("3 trials: 0 finished, 1 running, 1 failed, ")
    assert failed_trials(grid_path, uri, None) == [
        f"{second.config_hash}  {second.label}: RuntimeError: broken trial (injected)"]


RACER = """
import sys, time
from orchestrator.store.lease import Lease, LeaseRefused
from orchestrator.store.tracking import Tracker
uri = sys.argv[1]
try:
    with Lease(uri, Tracker(uri, "raced").experiment_id):
        print("held")
        time.sleep(5)
except LeaseRefused as refused:
    print("refused:", refused)
"""


def test_two_drivers_racing_on_a_new_sqlite_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new.db'}"  # neither the file nor its tables exist yet
    racers = [subprocess.Popen([sys.executable, "-c", RACER, uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
    outputs = [racer.communicate(timeout=300) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err[-2000:] for _, err in outputs]
    assert sorted(out.split(":")[0].strip() for out, _ in outputs) == ["held", "refused"]
    assert all("Traceback" not in err for _, err in outputs)
