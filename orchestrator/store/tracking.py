"""MLflow bookkeeping, from the driver process only: one run per trial, keyed by config hash.

SQLite stores break under concurrent writers and concurrent experiment creation, so trials never
talk to MLflow: the driver creates the experiment before any trial starts and writes every run
as the trials report (orchestrator/sweep/recorder.py), to a local SQLite file or over HTTP to a tracking server. A trial that
was started before (crashed, killed, failed, or interrupted with its driver) continues its own
run; only FINISHED runs count as done.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Collection, Iterable, Iterator, Mapping, Sequence

from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from catalog.records import EARLY_STOP_TAG, ERROR_TAG, GRID_TAG, HASH_TAG, RESULT_METRICS
from orchestrator.grid.expand import TrialSpec, hashed_setting
from orchestrator.store.journal import write_ahead
from orchestrator.store.runindex import RunState, prefer, runs_from_tables
from orchestrator.store.runlog import BATCH, log_details
from orchestrator.store.runsview import set_landing
from orchestrator.store.uri import SQLITE, missing_sqlite_store, sqlite_path

PAGE = 5000  # the largest page an MLflow search may ask for


def params_of(spec: TrialSpec) -> list[Param]:
    """The config as params; a knob the hash leaves out (an unset or neutral estimator form) is left
    out here too, so a run logged before the knob existed and one logged after share a config."""
    return [Param(key, str(value)) for key, value in sorted(spec.config.to_dict().items())
            if hashed_setting(key, value)]


def progress_metrics(tasks: Iterable[tuple[int, float, Mapping[str, float]]],
                     epochs: Iterable[tuple[int, float]]) -> list[Metric]:
    """Epochs' train_loss and tasks' acc with their per-task extra metrics, as MLflow metrics."""
    now = _now_ms()
    metrics = [Metric("train_loss", loss, now, epoch) for epoch, loss in epochs]
    for task, accuracy, extra in tasks:
        metrics.append(Metric("acc", accuracy, now, task))
        metrics += [Metric(key, round(float(value), 4), now, task) for key, value in extra.items()]
    return metrics


def _now_ms() -> int:
    return int(time.time() * 1000)


def _state(run: Any) -> RunState:
    metrics = run.data.metrics
    return RunState(run.info.run_id, run.info.status, float(metrics.get("gpu_hours", 0.0)),
                    metrics.get("wall_seconds"), ERROR_TAG in run.data.tags)


@contextmanager
def _store_lock(tracking_uri: str) -> Iterator[None]:
    """Serialise the first use of an SQLite store among the drivers of this machine.

    MLflow creates (or migrates) an SQLite store's tables on first use, and two drivers doing so at
    once collide ("duplicate column name"); two creating one experiment collide too. A lock on the
    store's folder makes the second wait for the first. Tracking servers handle this themselves.
    """
    if not tracking_uri.startswith(SQLITE):
        yield
        return
    folder = Path(tracking_uri[len(SQLITE):]).parent
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


class Tracker:
    """The experiment of one grid in one tracking store."""

    def __init__(self, tracking_uri: str, experiment: str, *, writes: bool = True) -> None:
        """The experiment, created if it is missing. `writes` (the driver's tracker): an SQLite store on a local
        disk is put in WAL mode first (orchestrator/store/journal.py); the read commands leave the file as it is."""
        # With a tracking server MLflow prints each run's URL as it ends: one line per trial,
        # in the middle of the progress line. The MLflow UI lists them all.
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self.tracking_uri = tracking_uri
        with _store_lock(tracking_uri):
            database = sqlite_path(tracking_uri)
            if writes and database is not None:
                write_ahead(database)  # before MLflow creates the tables: they are written faster too
            self.client = MlflowClient(tracking_uri)  # opening an SQLite store creates its tables
            found = self.client.get_experiment_by_name(experiment)
            if found is None:
                self.experiment_id = self.client.create_experiment(experiment)
                set_landing(self.client, self.experiment_id)  # the runs table, metric columns ticked
            else:
                self.experiment_id = found.experiment_id
        self.code_version: str | None = None  # git commit logged with each finished run

    @classmethod
    def existing(cls, tracking_uri: str, experiment: str) -> "Tracker | None":
        """The tracker of an experiment that already exists, without creating anything."""
        if missing_sqlite_store(tracking_uri):
            return None  # opening a missing SQLite store would create the file
        with _store_lock(tracking_uri):
            if MlflowClient(tracking_uri).get_experiment_by_name(experiment) is None:
                return None
        return cls(tracking_uri, experiment, writes=False)

    def runs_by_hash(self) -> dict[str, RunState]:
        """The run of each config hash; a FINISHED run wins over any other run with the same hash."""
        fast = runs_from_tables(self.tracking_uri, self.experiment_id)
        return fast if fast is not None else self.runs_by_hash_api()

    def runs_by_hash_api(self) -> dict[str, RunState]:
        """runs_by_hash through MLflow's search API (tracking servers; other database schemas)."""
        runs: dict[str, RunState] = {}
        token: str | None = None
        while True:
            page = self.client.search_runs([self.experiment_id], run_view_type=ViewType.ACTIVE_ONLY,
                                           max_results=PAGE, page_token=token)
            for run in page:
                digest = run.data.tags.get(HASH_TAG)
                if digest:
                    prefer(runs, digest, _state(run))
            token = page.token
            if not token:
                return runs

    def start(self, spec: TrialSpec, existing: RunState | None) -> str:
        """Continue the trial's earlier run if it has one, otherwise create its run with its params."""
        run_id = self.create(spec, existing)
        if existing is None:
            self.client.log_batch(run_id, params=params_of(spec))
        return run_id

    def create(self, spec: TrialSpec, existing: RunState | None) -> str:
        """Continue the trial's earlier run (RUNNING again, its error gone), or create its run without
        params: the outbox sends them with the run's first batch (params_of)."""
        if existing is not None:
            self.client.update_run(existing.run_id, status="RUNNING")
            if existing.has_error:
                self.client.delete_tag(existing.run_id, ERROR_TAG)
            return existing.run_id
        run = self.client.create_run(self.experiment_id, run_name=spec.label,
                                     tags={HASH_TAG: spec.config_hash, GRID_TAG: spec.grid, **dict(spec.tags)})
        return run.info.run_id

    def logged_tasks(self, run_id: str) -> set[int]:
        """Tasks whose accuracy the run already holds (a continued run must not log them twice)."""
        return {metric.step for metric in self.client.get_metric_history(run_id, "acc")}

    def logged_epochs(self, run_id: str) -> set[int]:
        """Epochs whose train_loss the run already holds (logged while an earlier attempt ran)."""
        return {metric.step for metric in self.client.get_metric_history(run_id, "train_loss")}

    def log_epoch(self, run_id: str, epoch: int, loss: float) -> None:
        self.log_progress(run_id, epochs=[(epoch, loss)])

    def log_task(self, run_id: str, task: int, accuracy: float, gpu_hours: float,
                 extra: Mapping[str, float] | None = None) -> None:
        self.log_progress(run_id, tasks=[(task, accuracy, extra or {})], gpu_hours=gpu_hours)

    def log_progress(self, run_id: str, *, tasks: Iterable[tuple[int, float, Mapping[str, float]]] = (),
                     epochs: Iterable[tuple[int, float]] = (), gpu_hours: float | None = None,
                     params: Sequence[Param] = (), tags: Sequence[RunTag] = ()) -> None:
        """Tasks' accuracies (with per-task `extra` metrics), epochs' losses and the GPU-hours so far, in one
        log_batch: what a running trial reported since its last write (and a new run's params)."""
        metrics = progress_metrics(tasks, epochs)
        if gpu_hours is not None:
            metrics.append(Metric("gpu_hours", gpu_hours, _now_ms(), 0))
        first = max(0, BATCH - len(params) - len(tags))
        self.client.log_batch(run_id, metrics=metrics[:first], params=list(params), tags=list(tags))
        for start in range(first, len(metrics), BATCH):
            self.client.log_batch(run_id, metrics=metrics[start:start + BATCH])

    def finish(self, run_id: str, result: Mapping[str, Any], tasks: Iterable[tuple[int, float]],
               gpu_hours: float, logged_epochs: Collection[int] = (), *, params: Sequence[Param] = (),
               extra: Iterable[Metric] = ()) -> None:
        """Log the result, any task accuracy not logged yet, `extra` metrics and the details
        (orchestrator/store/runlog.py: the loss of every epoch not in `logged_epochs`) in one log_batch
        with a new run's `params`, then mark the run FINISHED."""
        now = _now_ms()
        # Four decimals: the UI shows what is stored, and 80.73394495412845 % reads worse than 80.7339.
        metrics = [Metric(key, round(float(result[key]), 4), now, 0) for key in RESULT_METRICS
                   if result.get(key) is not None]
        metrics += [Metric("acc", float(accuracy), now, task) for task, accuracy in tasks]
        metrics += [*extra, Metric("gpu_hours", gpu_hours, now, 0)]
        log_details(self.client, run_id, result, self.code_version, metrics, logged_epochs, params)
        self.client.set_terminated(run_id, status="FINISHED")

    def end(self, run_id: str, status: str, gpu_hours: float, *, tags: Sequence[RunTag] = (),
            params: Sequence[Param] = (), tasks: Iterable[tuple[int, float, Mapping[str, float]]] = (),
            epochs: Iterable[tuple[int, float]] = ()) -> None:
        """End a run without a result (FAILED with its reason, FINISHED when stopped early, KILLED):
        what it reported since its last write, its GPU-hours and `tags` in one batch, then the status."""
        self.log_progress(run_id, tasks=tasks, epochs=epochs, gpu_hours=gpu_hours, params=params, tags=tags)
        self.client.set_terminated(run_id, status=status)

    def fail(self, run_id: str, reason: str, gpu_hours: float) -> None:
        self.end(run_id, "FAILED", gpu_hours, tags=[RunTag(ERROR_TAG, reason[:5000])])

    def stop_early(self, run_id: str, gpu_hours: float) -> None:
        """Stopped by the search's scheduler: FINISHED (a search run again does not repeat it), and tagged."""
        self.end(run_id, "FINISHED", gpu_hours, tags=[RunTag(EARLY_STOP_TAG, "true")])

    def interrupt(self, run_id: str, gpu_hours: float, *, params: Sequence[Param] = (),
                  tasks: Iterable[tuple[int, float, Mapping[str, float]]] = (),
                  epochs: Iterable[tuple[int, float]] = ()) -> None:
        """The sweep stopped before this trial ended (Ctrl-C): KILLED, resumed by the next run."""
        try:
            self.end(run_id, "KILLED", gpu_hours, params=params, tasks=tasks, epochs=epochs)
        except MlflowException:
            pass  # the store went away with the interrupted sweep: the run stays RUNNING, also resumable
