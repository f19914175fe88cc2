"""Tracking writes through an outage, against a real MLflow server that is stopped and started:
queued in order while it is away (the progress note says so), all made once it is back, and a
stop with one line past the limit. tests/test_sweep_survival.py does the same to a whole sweep. A
running trial's reports wait a moment (on an SQLite store), so a short trial takes three writes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest
from mlflow.tracking import MlflowClient

from catalog.records import HASH_TAG
from orchestrator.plan.plan import quick_http_failures
from orchestrator.grid.expand import load_grid
from orchestrator.store.outbox import Outbox, TrackingUnreachable, error_reason
from orchestrator.store.tracking import Tracker
from servers import Link, MlflowServer

GRID = "name: outage\nfixed: {dataset: digits, method: aper, optimizer: zo-sgd, epochs: 1}\nseeds: [1, 2]\n"


@pytest.fixture()
def link(tracking_server: MlflowServer) -> Iterator[Link]:
    quick_http_failures()  # as a driver does: each request fails in seconds, the outbox retries
    through = Link(tracking_server.port)
    yield through
    through.cut()


def test_writes_wait_in_order_through_an_outage_and_stop_past_the_limit(link: Link, tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(GRID)
    first, second = load_grid(tmp_path / "grid.yaml").trials
    tracker = Tracker(link.uri, f"outage-{tmp_path.name}")
    outbox = Outbox(tracker, outage_limit=3600, retry_seconds=0.1)
    removed: list[str] = []
    link.cut()
    digest = first.config_hash
    outbox.start(first, None)  # the run cannot be created yet: its id is resolved when it is
    outbox.task(digest, 0, 50.0, 0.1)
    outbox.task(digest, 1, 60.0, 0.2)
    result = {"avg_acc": 55.0, "last_acc": 60.0, "forgetting": 1.0, "wall_seconds": 3.0}
    outbox.finish(digest, result, [50.0, 60.0], 0.3, after=lambda: removed.append(digest))
    assert outbox.status().startswith("tracking store unreachable for ") and outbox.status().endswith(
        ", 4 writes queued")
    time.sleep(0.2)
    outbox.tick()  # still away, well within the limit: no stop
    assert removed == [] and len(outbox.waiting) == 4

    link.restore()
    assert outbox.flush() and outbox.status() == "" and removed == [digest]
    client = MlflowClient(link.uri)
    (run,) = client.search_runs([tracker.experiment_id])
    assert run.info.status == "FINISHED" and run.data.metrics["avg_acc"] == 55.0
    assert sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "acc")) == [(0, 50.0), (1, 60.0)]
    assert run.data.metrics["gpu_hours"] == 0.3  # the last write made is the last one queued

    link.cut()
    short = Outbox(tracker, outage_limit=0.5, retry_seconds=0.1)
    short.start(second, None)
    time.sleep(0.7)
    with pytest.raises(TrackingUnreachable) as stopped:
        short.tick()
    message = str(stopped.value)
    assert message.startswith(f"tracking store {link.uri} unreachable for 0 s (1 writes not made")
    assert "run the same command again" in message and "\n" not in message


def test_the_reason_for_a_failed_write_is_the_database_drivers_words() -> None:
    """SQLAlchemy's first line is a note about autoflush; the reason ('database is locked') is below it."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    wrapped = OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
    assert error_reason(wrapped) == "database is locked"
    try:
        try:
            raise ConnectionRefusedError("connection refused")
        except ConnectionRefusedError as cause:
            raise RuntimeError("API request failed\nmore") from cause
    except RuntimeError as chained:
        assert error_reason(chained) == "connection refused"
    assert error_reason(ValueError("")) == "ValueError"


def test_a_running_trials_reports_wait_a_moment_and_a_short_trial_is_written_with_its_end(tmp_path: Path) -> None:
    """Within progress_seconds of its run's last write a trial's reports (and a new run's params) are held:
    `tick` writes them once due; a trial that ends sooner gets them all with its end, in one batch."""
    (tmp_path / "grid.yaml").write_text(GRID)
    running, short = load_grid(tmp_path / "grid.yaml").trials
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    tracker = Tracker(uri, "held")
    outbox = Outbox(tracker, progress_seconds=0.5)  # no writer thread: each write is made as it is queued
    client = MlflowClient(uri)
    for spec in (running, short):
        outbox.start(spec, None)
        outbox.task(spec.config_hash, 0, 50.0, 0.1)
        outbox.task(spec.config_hash, 1, 60.0, 0.2)
    result = {"avg_acc": 55.0, "last_acc": 60.0, "forgetting": 1.0, "wall_seconds": 0.1}
    outbox.finish(short.config_hash, result, [50.0, 60.0], 0.3, after=lambda: None)
    by_hash = {run.data.tags[HASH_TAG]: run for run in client.search_runs([tracker.experiment_id])}
    held, ended = by_hash[running.config_hash], by_hash[short.config_hash]
    assert held.info.status == "RUNNING" and not held.data.params and not held.data.metrics
    assert ended.info.status == "FINISHED" and ended.data.params["seed"] == str(short.config.seed)
    assert ended.data.metrics["avg_acc"] == 55.0
    outbox.tick()  # not due yet
    assert not client.get_run(held.info.run_id).data.metrics
    time.sleep(0.6)
    outbox.tick()
    now = client.get_run(held.info.run_id)
    assert now.info.status == "RUNNING" and now.data.params["seed"] == str(running.config.seed)
    assert sorted((m.step, m.value) for m in client.get_metric_history(held.info.run_id, "acc")) == [(0, 50.0), (1, 60.0)]
    assert now.data.metrics["gpu_hours"] == 0.2
