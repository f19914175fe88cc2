"""The driver-side Ray Tune callback: MLflow runs, GPU-hours, checkpoint clean-up and progress.

Everything is keyed by config hash, not by Ray's trial id, so a trial that Ray retries after a
fault, or that a new driver resumes, continues the same MLflow run. GPU-hours are the wall time
of every attempt (from its actor's start to its end, retries and earlier drivers included) times
the trial's GPU fraction; they are logged after every task, so a killed driver loses at most one
task's worth. Writes go through orchestrator/store/outbox.py, which queues them while the tracking
store is unreachable.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from orchestrator.sweep.checkpoints import CheckpointStore
from orchestrator.grid.expand import TrialSpec
from orchestrator.store.outbox import Outbox
from orchestrator.sweep.progress import LiveLine, SweepProgress
from orchestrator.store.tracking import RunState


def error_line(trial: Any) -> str:
    """The last line of the trial's error file: the exception and its message."""
    path = getattr(trial, "error_file", None)
    if path and os.path.exists(path):
        lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return "trial failed (no error message recorded)"


@dataclass
class TrialRecord:
    """The driver's view of one trial being run."""

    spec: TrialSpec
    gpu: float
    gpu_hours: float
    attempt_started: float | None = None
    seconds: float = 0.0

    def end_attempt(self) -> None:
        if self.attempt_started is not None:
            elapsed = time.time() - self.attempt_started
            self.seconds += elapsed
            self.gpu_hours += elapsed / 3600.0 * self.gpu
            self.attempt_started = None

    def hours_now(self) -> float:
        running = time.time() - self.attempt_started if self.attempt_started is not None else 0.0
        return self.gpu_hours + running / 3600.0 * self.gpu


@dataclass(frozen=True)
class SweepOutcome:
    finished: list[str]
    failed: list[str]


class Recorder(tune.Callback):
    """Writes each trial's MLflow run as Tune reports it and keeps the progress line current."""

    def __init__(self, outbox: Outbox, specs: dict[str, TrialSpec], runs: dict[str, RunState],
                 store: CheckpointStore, progress: SweepProgress, live: LiveLine, with_gpus: bool) -> None:
        self.outbox, self.specs, self.runs, self.store = outbox, specs, runs, store
        self.progress, self.live, self.with_gpus = progress, live, with_gpus
        self.records: dict[str, TrialRecord] = {}
        self.finished: list[str] = []
        self.failed: list[str] = []

    def outcome(self) -> SweepOutcome:
        return SweepOutcome(list(self.finished), list(self.failed))

    def _record(self, trial: Any) -> TrialRecord:
        return self.records[trial.config["spec"]["hash"]]

    def _update(self, force: bool = False) -> None:
        self.progress.gpu_hours.update({digest: r.hours_now() for digest, r in self.records.items()})
        self.live.show(self.progress.counts(), force=force, note=self.outbox.status())

    def _ensure_record(self, digest: str) -> TrialRecord:
        """The trial's record, creating or continuing its MLflow run on first sight."""
        if digest not in self.records:
            spec, existing = self.specs[digest], self.runs.get(digest)
            self.outbox.start(spec, existing)
            self.records[digest] = TrialRecord(spec, spec.resources.gpu if self.with_gpus else 0.0,
                                               existing.gpu_hours if existing else 0.0)
        return self.records[digest]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        digest = trial.config["spec"]["hash"]
        self._ensure_record(digest).attempt_started = time.time()
        self.progress.start(digest)
        self._update(force=True)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        record = self._record(trial)
        kind = result.get("kind")
        if result.get("set_aside"):
            self.live.echo(f"checkpoint of {record.spec.label} unreadable ({result['set_aside_reason']}): "
                           f"set aside as {result['set_aside']}")
        if result.get("resumed_after", -1) >= 0:
            self.live.echo(f"resuming {record.spec.label} after task {result['resumed_after']}")
        elif result.get("set_aside"):
            self.live.echo(f"restarting {record.spec.label} from scratch")
        if kind == "task":
            self.outbox.task(record.spec.config_hash, int(result["task"]), float(result["acc"]), record.hours_now())
        elif kind == "done":
            self._finish(record, result)
        elif kind in ("diverged", "invalid"):  # ended at once: retrying cannot help
            self._fail(record, str(result["reason"]))
        self._update()

    def _finish(self, record: TrialRecord, result: dict) -> None:
        record.end_attempt()
        digest = record.spec.config_hash
        self.outbox.details(digest, result)
        # The checkpoint goes only once MLflow holds the FINISHED result.
        self.outbox.finish(digest, result, result["acc"], record.gpu_hours, after=lambda: self.store.remove(digest))
        self.progress.finish(record.spec.config_hash, record.seconds)
        self.finished.append(record.spec.config_hash)
        self.live.echo(f"finished {record.spec.label}: Avg {result['avg_acc']:.2f} Last {result['last_acc']:.2f} "
                       f"Fgt {result['forgetting']:.2f} ({result['wall_seconds']:.0f} s)")

    def _fail(self, record: TrialRecord, reason: str) -> None:
        record.end_attempt()
        self.outbox.fail(record.spec.config_hash, reason, record.gpu_hours)
        self.progress.fail(record.spec.config_hash)
        self.failed.append(record.spec.config_hash)
        self.live.echo(f"FAILED {record.spec.label}: {reason}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record = self._record(trial)
        record.end_attempt()
        self.progress.stop(record.spec.config_hash)
        self.live.echo(f"retrying {record.spec.label} from its last finished task: {error_line(trial)}")
        self._update(force=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._fail(self._ensure_record(trial.config["spec"]["hash"]), error_line(trial))
        self._update(force=True)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self.outbox.tick()
        self._update()

    def interrupt_unfinished(self) -> None:
        """Mark trials that were started but did not end KILLED (the sweep was stopped)."""
        ended = set(self.finished) | set(self.failed)
        for digest, record in self.records.items():
            if digest not in ended:
                record.end_attempt()
                self.outbox.interrupt(digest, record.gpu_hours)
