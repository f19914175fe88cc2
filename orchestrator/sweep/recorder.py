"""The driver's record of the trials it runs: MLflow runs, GPU-hours, checkpoint clean-up and progress.

Everything is keyed by config hash, not by Ray's trial id, so a trial that Ray retries after a
fault, or that a new driver resumes, continues the same MLflow run. GPU-hours are the wall time
of every attempt (from its actor's start to its end, retries and earlier drivers included) times
the trial's GPU fraction; they are logged after every task (within the outbox's PROGRESS_SECONDS),
so a killed driver loses at most one task's worth. Writes go through orchestrator/store/outbox.py,
which queues them while the tracking store is unreachable. One Recorder serves a whole sweep and keeps only the trials handed to Ray that have not
ended (orchestrator/sweep/dispatch.py hands over at most as many as run at once), a count of the
finished ones and the failed ones' hashes and reasons, so the driver does not grow with the grid.
The dispatcher calls its methods by config hash; a searched grid's Tune fit calls them through
Tune's callback interface.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ray import tune

from catalog.errors import last_line
from catalog.records import VALIDATION_METRIC
from orchestrator.sweep.checkpoints import CheckpointStore
from orchestrator.grid.expand import TrialSpec
from orchestrator.store.outbox import Outbox
from orchestrator.sweep.progress import LiveLine, SweepProgress
from orchestrator.store.tracking import RunState


NO_MESSAGE = "trial failed (no error message recorded)"


def error_line(trial: Any) -> str:
    """The last line of a Tune trial's error file: the exception and its message."""
    path = getattr(trial, "error_file", None)
    text = Path(path).read_text() if path and os.path.exists(path) else ""
    return last_line(text) or NO_MESSAGE


@dataclass
class TrialRecord:
    """The driver's view of one trial being run."""

    spec: TrialSpec
    gpu: float
    gpu_hours: float
    prior: float = 0.0  # GPU-hours of earlier drivers, already in the progress line's total
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
    finished: int  # trials FINISHED by this sweep
    failed: list[tuple[str, str]]  # (config hash, reason) of the trials that failed
    stopped: bool = False  # the sweep ended before every trial ended (Ctrl-C, an outage past the limit)


class Recorder(tune.Callback):
    """Writes each trial's MLflow run as Tune reports it and keeps the progress line current."""

    def __init__(self, outbox: Outbox, store: CheckpointStore, progress: SweepProgress, live: LiveLine,
                 with_gpus: bool) -> None:
        self.outbox, self.store, self.progress, self.live, self.with_gpus = outbox, store, progress, live, with_gpus
        progress.with_gpu_hours = with_gpus  # no GPU in the cluster: no GPU-hours on the line
        self.specs: dict[str, TrialSpec] = {}  # the trials handed to Ray that have not ended
        self.runs: dict[str, RunState] = {}  # their earlier runs, if any
        self.records: dict[str, TrialRecord] = {}  # those of them that started
        self.finished = 0
        self.failed: list[tuple[str, str]] = []
        self.errors: Path | None = None  # where failed attempts' tracebacks are kept (orchestrator/sweep/dispatch.py)
        # A search's scheduler says which trials it stopped early (orchestrator/search/tuner.py).
        self.stopped_early: Callable[[str], bool] = lambda digest: False

    def __reduce__(self) -> tuple[Any, ...]:
        # Tune pickles its callbacks into tuner.pkl for Tuner.restore, which zfsweep never uses (a new
        # driver resumes by config hash); a Recorder holds a live store connection and a writer thread.
        return (_not_restorable, ())

    def expect(self, spec: TrialSpec, existing: RunState | None = None) -> None:
        """A trial about to be handed to Ray, with its earlier run if it has one."""
        self.specs[spec.config_hash] = spec
        if existing is not None:
            self.runs[spec.config_hash] = existing

    def unended(self) -> int:
        """Trials handed to Ray that neither finished nor failed (so far)."""
        return len(self.specs)

    def _update(self, force: bool = False) -> None:
        self.progress.gpu_hours.update({digest: r.hours_now() - r.prior for digest, r in self.records.items()})
        self.live.show(self.progress.counts(), force=force, note=self.outbox.status(),
                       running=self.progress.running_line())

    def _ensure_record(self, digest: str) -> TrialRecord:
        """The trial's record, creating or continuing its MLflow run on first sight."""
        if digest not in self.records:
            spec, existing = self.specs[digest], self.runs.pop(digest, None)
            self.outbox.start(spec, existing)
            prior = existing.gpu_hours if existing else 0.0
            self.records[digest] = TrialRecord(spec, spec.resources.gpu if self.with_gpus else 0.0, prior, prior)
        return self.records[digest]

    def _end(self, record: TrialRecord) -> None:
        """Forget an ended trial: its GPU-hours move into the progress line's settled total."""
        digest = record.spec.config_hash
        self.progress.settle(digest, record.gpu_hours - record.prior)
        self.records.pop(digest, None)
        self.specs.pop(digest, None)

    # -- what the runner of the trials says, keyed by config hash ---------------------------------
    def started(self, digest: str) -> None:
        """An attempt of the trial started in its worker."""
        record = self._ensure_record(digest)
        record.attempt_started = time.time()
        self.progress.start(digest)
        self._at_task(record, 0)  # until the first report says where it resumed
        self._update(force=True)

    def _at_task(self, record: TrialRecord, task: int) -> None:
        """The live line's note of which task (0-based) the trial is training."""
        self.progress.at_task(record.spec.config_hash, record.spec.label, task, int(record.spec.config.tasks or 1))

    def reported(self, digest: str, result: dict) -> None:
        """One report of the trial (orchestrator/sweep/trainable.py says which kinds)."""
        record = self.records[digest]
        kind = result.get("kind")
        if result.get("set_aside"):
            self.live.echo(f"checkpoint of {record.spec.label} unreadable ({result['set_aside_reason']}): "
                           f"set aside as {result['set_aside']}")
        if "resumed_after" in result:
            self._at_task(record, int(result["resumed_after"]) + 1)
        if result.get("resumed_after", -1) >= 0:
            self.live.echo(f"resuming {record.spec.label} after task {result['resumed_after']}")
        elif result.get("set_aside"):
            self.live.echo(f"restarting {record.spec.label} from scratch")
        if kind == "task":
            extra = {VALIDATION_METRIC: float(result[VALIDATION_METRIC])} if VALIDATION_METRIC in result else None
            self.outbox.task(digest, int(result["task"]), float(result["acc"]), record.hours_now(), extra)
            self._at_task(record, int(result["task"]) + 1)
        elif kind == "epoch":
            self.outbox.epoch(digest, int(result["epoch"]), float(result["loss"]))
        elif kind == "done":
            self._finish(record, result)
        elif kind in ("diverged", "invalid"):  # ended at once: retrying cannot help
            self._fail(record, str(result["reason"]))
        self._update()

    def _finish(self, record: TrialRecord, result: dict) -> None:
        record.end_attempt()
        digest = record.spec.config_hash
        # The checkpoint (and any error file of a failed attempt) goes only once MLflow holds the result.
        self.outbox.finish(digest, result, result["acc"], record.gpu_hours, after=lambda: self.tidy(digest))
        self.progress.finish(digest, record.seconds)
        self.finished += 1
        self._end(record)
        self.live.echo(f"finished {record.spec.label}: Avg {result['avg_acc']:.2f} Last {result['last_acc']:.2f} "
                       f"Fgt {result['forgetting']:.2f} ({result['wall_seconds']:.0f} s)")

    def _fail(self, record: TrialRecord, reason: str) -> None:
        record.end_attempt()
        self.outbox.fail(record.spec.config_hash, reason, record.gpu_hours)
        self.progress.fail(record.spec.config_hash)
        self.failed.append((record.spec.config_hash, reason))
        self._end(record)
        self.live.echo(f"FAILED {record.spec.label}: {reason}")

    def retrying(self, digest: str, reason: str) -> None:
        """An attempt failed (an exception, a lost worker) and the trial runs again from its checkpoint."""
        record = self.records.get(digest) or self._ensure_record(digest)
        record.end_attempt()
        self.progress.stop(digest)
        self.live.echo(f"retrying {record.spec.label} from its last finished task: {reason}")
        self._update(force=True)

    def errored(self, digest: str, reason: str) -> None:
        """The trial's last allowed attempt failed: FAILED with its reason."""
        if digest in self.specs:
            self._fail(self._ensure_record(digest), reason)
        self._update(force=True)

    def ended_early(self, digest: str) -> None:
        """The trial ended without its "done" report: if a search's scheduler stopped it, it is FINISHED
        and marked (a stopped sweep's trials are recorded by interrupt_unfinished)."""
        if digest in self.specs and digest in self.records and self.stopped_early(digest):
            record = self.records[digest]
            record.end_attempt()
            self.outbox.stop_early(digest, record.gpu_hours, after=lambda: self.tidy(digest))
            self.progress.finish(digest, record.seconds)
            self.finished += 1
            self._end(record)
            self.live.echo(f"stopped early {record.spec.label} (the search's scheduler)")
            self._update(force=True)

    def step(self) -> None:
        """Between events: retry the store during an outage, refresh the line."""
        self.outbox.tick()
        self._update()

    def tidy(self, digest: str) -> None:
        """What a trial leaves on disk once MLflow holds it FINISHED: its checkpoint, its error file."""
        self.store.remove(digest)
        if self.errors is not None:
            (self.errors / f"{digest}.txt").unlink(missing_ok=True)

    # -- Ray Tune's callback interface (a searched grid runs on Tune) ------------------------------
    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started(_digest(trial))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.reported(_digest(trial), result)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.retrying(_digest(trial), error_line(trial))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.errored(_digest(trial), error_line(trial))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ended_early(_digest(trial))

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self.step()

    def interrupt_unfinished(self) -> None:
        """Mark trials that were started but did not end KILLED (the sweep was stopped)."""
        for record in list(self.records.values()):
            record.end_attempt()
            self.outbox.interrupt(record.spec.config_hash, record.gpu_hours)
            self.progress.stop(record.spec.config_hash)
            self.progress.settle(record.spec.config_hash, record.gpu_hours - record.prior)
        self.records.clear()


def _digest(trial: Any) -> str:
    return str(trial.config["spec"]["hash"])


def _not_restorable() -> None:
    raise RuntimeError("a zfsweep Recorder cannot be restored from tuner.pkl; run the sweep again")
