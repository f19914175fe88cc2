"""One SweepOptions from the command line to the sweep: the CLI's defaults are its defaults, a bad
value is refused, and `--outage-limit 0` means no outage is ridden out: a real sweep (local Ray,
SQLite MLflow) whose store a trial locks stops at the first failed write instead of waiting."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.commands import run_grid
from orchestrator.sweep.options import SweepOptions
from orchestrator.store.outbox import TrackingUnreachable
from catalog.config import TrialConfig
from trainers.trial import EpochReport, TaskReport, TrialResult
from localray import local_ray

STORE = "ZFSWEEP_TEST_LOCKED_STORE"  # the SQLite file the trial locks; set before Ray starts


def test_the_run_commands_defaults_are_the_options_defaults() -> None:
    help_text = " ".join(CliRunner().invoke(main, ["run", "--help"]).output.split())
    defaults = SweepOptions()
    for flag, field in (("--retries", "retries"), ("--storage-path", "storage"), ("--outage-limit", "outage_limit")):
        assert f"{flag} " in help_text and f"[default: {getattr(defaults, field)}" in help_text.split(flag)[1]
    assert {f.name for f in fields(SweepOptions)} == {"storage", "retries", "max_concurrent", "outage_limit", "address"}
    with pytest.raises(ValueError):
        SweepOptions(max_concurrent=0)
    code = CliRunner().invoke(main, ["run", "grid.yaml", "--outage-limit", "-1"]).exit_code
    assert code == 2  # click refuses it before anything runs


def locking_trial(config: TrialConfig, *, resume: dict[str, Any] | None = None,
                  on_task_end: Callable[[TaskReport], None] | None = None,
                  on_epoch_end: Callable[[EpochReport], None] | None = None) -> TrialResult:
    """Holds an exclusive lock on the tracking store for 45 s (past MLflow's 20 s SQLite busy timeout), then reports its first task."""
    connection = sqlite3.connect(os.environ[STORE], timeout=30, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    assert on_task_end is not None
    on_task_end(TaskReport(0, 50.0, [50.0], {"done": 1}))  # the driver's write of it finds the store locked
    time.sleep(45.0)
    connection.execute("ROLLBACK")
    return TrialResult(avg_acc=50.0, last_acc=50.0, forgetting=0.0, acc=[50.0], peak_memory_gb=0.0,
                       epoch_seconds=0.0, forward_passes=0, wall_seconds=45.0, trainable_params=0)


@pytest.fixture()
def ray_instance(tmp_path: Path) -> Iterator[Path]:
    store = tmp_path / "store.db"
    os.environ[STORE] = str(store)
    with local_ray(__name__, num_cpus=1):
        yield store


def test_an_outage_limit_of_zero_stops_at_the_first_failed_write(ray_instance: Path, tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text("name: locked\nfixed: {dataset: digits, method: aper, epochs: 1}\nseeds: [1]\n")
    uri = f"sqlite:///{ray_instance}"
    with pytest.raises(TrackingUnreachable) as stopped:
        run_grid(str(tmp_path / "grid.yaml"), SweepOptions(storage=str(tmp_path / "ray"), outage_limit=0.0),
                 tracking_uri=uri, experiment=None, trial=locking_trial)
    message = str(stopped.value)
    # Ridden out, the outage would end with the lock 45 s later and the sweep would finish.
    assert message.startswith(f"tracking store {uri} unreachable for 0 s (") and "locked" in message
