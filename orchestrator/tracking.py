"""MLflow bookkeeping, from the driver process only: one run per trial, keyed by config hash.

SQLite stores break under concurrent writers and concurrent experiment creation, so trials never
talk to MLflow: the driver creates the experiment before any trial starts and writes every run
from Ray Tune callbacks. A trial that was started before (crashed, killed, failed) continues its
own run; only FINISHED runs count as done.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from orchestrator.grid import TrialSpec

DEFAULT_STORE = "mlflow.db"
HASH_TAG = "zfsweep.config_hash"
GRID_TAG = "zfsweep.grid"
ERROR_TAG = "zfsweep.error"
RESULT_METRICS = ("avg_acc", "last_acc", "forgetting", "peak_memory_gb", "epoch_seconds",
                  "forward_passes", "wall_seconds", "trainable_params")


def resolve_tracking_uri(uri: str | None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else an SQLite file in the working directory."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{Path(DEFAULT_STORE).resolve()}"


@dataclass(frozen=True)
class RunState:
    run_id: str
    status: str


def _params(spec: TrialSpec) -> list[Param]:
    return [Param(key, str(value)) for key, value in sorted(spec.config.to_dict().items())]


def _now_ms() -> int:
    return int(time.time() * 1000)


class Tracker:
    """The experiment of one grid in one tracking store."""

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        self.client = MlflowClient(tracking_uri)
        self.tracking_uri = tracking_uri
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)

    @classmethod
    def existing(cls, tracking_uri: str, experiment: str) -> "Tracker | None":
        """The tracker of an experiment that already exists, without creating anything."""
        if MlflowClient(tracking_uri).get_experiment_by_name(experiment) is None:
            return None
        return cls(tracking_uri, experiment)

    def runs_by_hash(self) -> dict[str, RunState]:
        """The run of each config hash; a FINISHED run wins over any other run with the same hash."""
        runs: dict[str, RunState] = {}
        token: str | None = None
        while True:
            page = self.client.search_runs([self.experiment_id], max_results=5000, page_token=token)
            for run in page:
                digest = run.data.tags.get(HASH_TAG)
                if digest and (digest not in runs or run.info.status == "FINISHED"):
                    runs[digest] = RunState(run.info.run_id, run.info.status)
            token = page.token
            if not token:
                return runs

    def finished_hashes(self) -> set[str]:
        return {digest for digest, run in self.runs_by_hash().items() if run.status == "FINISHED"}

    def start(self, spec: TrialSpec, existing: RunState | None) -> str:
        """Continue the trial's earlier run if it has one, otherwise create its run."""
        if existing is not None:
            self.client.update_run(existing.run_id, status="RUNNING")
            return existing.run_id
        run = self.client.create_run(self.experiment_id, run_name=spec.label,
                                     tags={HASH_TAG: spec.config_hash, GRID_TAG: spec.grid})
        self.client.log_batch(run.info.run_id, params=_params(spec))
        return run.info.run_id

    def log_task(self, run_id: str, task: int, accuracy: float) -> None:
        self.client.log_batch(run_id, metrics=[Metric("acc", accuracy, _now_ms(), task)])

    def finish(self, run_id: str, result: Mapping[str, Any], extra: Iterable[tuple[str, float]] = ()) -> None:
        metrics = [Metric(key, float(result[key]), _now_ms(), 0) for key in RESULT_METRICS if key in result]
        metrics += [Metric(key, float(value), _now_ms(), 0) for key, value in extra]
        self.client.log_batch(run_id, metrics=metrics)
        self.client.set_terminated(run_id, status="FINISHED")

    def fail(self, run_id: str, reason: str) -> None:
        self.client.log_batch(run_id, tags=[RunTag(ERROR_TAG, reason[:5000])])
        self.client.set_terminated(run_id, status="FAILED")
