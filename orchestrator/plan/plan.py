"""Skip-finished: a grid against its MLflow experiment, which trials are FINISHED and which still
have to run, read without creating anything (the dry-run, `status` and the sweep all start here)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.grid.expand import Grid, TrialSpec
from orchestrator.store.uri import missing_sqlite_store

if TYPE_CHECKING:  # MLflow loads only when the store's own tables cannot answer
    from orchestrator.store.tracking import RunState


@dataclass(frozen=True)
class Plan:
    """A grid against its MLflow experiment: which trials are FINISHED, which still have to run."""

    grid: Grid
    experiment: str
    runs: dict[str, RunState]
    pending: list[TrialSpec]

    @property
    def finished(self) -> int:
        return len(self.grid.trials) - len(self.pending)


def plan(grid: Grid, tracking_uri: str, experiment: str) -> Plan:
    """Skip-finished: the trials without a FINISHED run, read without creating anything.

    A store that does not answer stops the command with one line (TrackingUnreachable), within
    seconds, before anything is written. An SQLite store that does not exist yet holds no runs:
    MLflow is not even imported then (a dry run of a new grid answers sooner).
    """
    # A new SQLite store (nothing imported), or a database's own tables (no MLflow: seconds for 20,000 runs).
    runs: dict[str, RunState] | None = {}
    if not missing_sqlite_store(tracking_uri):
        from orchestrator.store.runindex import runs_by_name

        runs = runs_by_name(tracking_uri, experiment)
    if runs is None:
        runs = _runs_from_mlflow(tracking_uri, experiment)
    pending = [spec for spec in grid.trials if getattr(runs.get(spec.config_hash), "status", None) != "FINISHED"]
    return Plan(grid, experiment, runs, pending)


def _runs_from_mlflow(tracking_uri: str, experiment: str) -> dict[str, RunState]:
    from orchestrator.store.outbox import TrackingUnreachable, is_outage
    from orchestrator.store.tracking import Tracker

    quick_http_failures()
    try:
        tracker = Tracker.existing(tracking_uri, experiment)
        return tracker.runs_by_hash() if tracker else {}
    except Exception as error:  # noqa: BLE001 - only an outage becomes the one line
        if not is_outage(error):
            raise
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise TrackingUnreachable(f"tracking store {tracking_uri} does not answer ({reason}); nothing was "
                                  "written: start it, or pass another --tracking-uri") from error


def quick_http_failures() -> None:
    """A driver queues writes through an outage itself (orchestrator/store/outbox.py), so each MLflow HTTP
    request fails within seconds instead of retrying for minutes with the Tune loop blocked."""
    for key, value in {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                       "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}.items():
        os.environ.setdefault(key, value)
