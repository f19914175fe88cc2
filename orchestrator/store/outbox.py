"""The driver's tracking writes, in order, queued while the tracking store is unreachable.

A tracking server that restarts, or a network that drops for minutes, must not stop a sweep of
GPU-days: the trials keep running on Ray, every write the driver owes MLflow (create or continue
a run, an epoch's loss, a task's accuracy, the result, FAILED with its reason, KILLED) waits here in order, the
progress line says how long the store has been unreachable and how many writes wait, and all of
them are made, in order, as soon as it answers again. Only after `outage_limit` seconds does the
sweep stop (TrackingUnreachable, one line); every trial keeps its checkpoint and its run, so the
same command resumes it. A write that the store refuses for a reason of its own (a bad request)
is not an outage and is raised at once.

Run ids are resolved when the trial's first write is made, so a trial that starts during an
outage is recorded like any other once the store is back; every write of a trial sends all that
it reported and the store does not hold yet, so when the store falls behind, one trial's create,
reports and end take a few calls instead of one each. A running trial's reports also wait up to
PROGRESS_SECONDS after its run's last write (`tick` sends them once due, its end goes at once), so
a trial shorter than that is three calls: its run, one batch, its end. A sweep's outbox writes
from a thread of its own (`start_writer`), so the Recorder only queues and the loop that hands out trials never waits
on MLflow; what the outbox knows of a trial (its run id, the tasks logged) is forgotten once the
trial's last write is made, so a sweep of any length holds only its running trials here, and
the trials that ended and wait for their end to be written, which the dispatcher bounds (`behind`).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from mlflow.entities import Param, RunTag
from mlflow.exceptions import MlflowException

from catalog.records import EARLY_STOP_TAG, ERROR_TAG

from orchestrator.grid.expand import TrialSpec
from orchestrator.sweep.options import OUTAGE_LIMIT_SECONDS
from orchestrator.store.runindex import RunState
from orchestrator.store.tracking import Tracker, params_of, progress_metrics

# MLflow error codes that mean the request itself was wrong: retrying would not help.
REFUSALS = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "INVALID_STATE",
            "BAD_REQUEST", "PERMISSION_DENIED", "UNAUTHENTICATED", "CUSTOMER_UNAUTHORIZED"}
RETRY_SECONDS = 5.0
PROGRESS_SECONDS = 2.0  # a running trial's reports reach the store at most this often (its end, at once)
LOAD_SECONDS = 2.0  # the span over which `load` measures how busy the writes keep the writer


class TrackingUnreachable(Exception):
    """The tracking store stayed unreachable past the limit (the message is the one line to print)."""


def is_outage(error: BaseException) -> bool:
    """An error that waiting may cure: no answer, a timeout, a server error, a locked database."""
    if isinstance(error, MlflowException):
        return error.error_code not in REFUSALS
    return isinstance(error, Exception)


def error_reason(error: BaseException) -> str:
    """One short line for why a write failed: the database driver's own words where it gave them.

    SQLAlchemy puts a note about autoflush on the first line and the driver's reason (`database is
    locked`) on the next; the driver's exception is kept as `orig`, or else as the cause.
    """
    root: BaseException = error
    while True:
        inner = getattr(root, "orig", None) or root.__cause__
        if not isinstance(inner, BaseException) or inner is root:
            break
        root = inner
    text = str(root).strip()
    return text.splitlines()[0][:200] if text else type(root).__name__


@dataclass(frozen=True)
class End:
    """How a trial's run ends: its status, GPU-hours, and the result (FINISHED) or tags (the reason)."""

    status: str
    gpu_hours: float
    result: dict[str, Any] | None = None
    accuracies: list[float] = field(default_factory=list)
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Progress:
    """One report of a trial: a task's (index, accuracy, extra metrics), an epoch's (index, loss), or its end."""

    task: tuple[int, float, dict[str, float]] | None = None
    epoch: tuple[int, float] | None = None
    gpu_hours: float | None = None
    end: End | None = None


@dataclass
class TrialWrites:
    """What the outbox knows of one trial until its run is ended: the run, what it holds, what is owed."""

    spec: TrialSpec
    existing: RunState | None
    run_id: str | None = None
    params_due: bool = False  # a new run's params, sent with its first batch
    logged: set[int] = field(default_factory=set)  # tasks whose accuracy the run holds
    epochs: set[int] = field(default_factory=set)  # epochs whose train_loss it holds
    unsent: list[Progress] = field(default_factory=list)
    ended: bool = False  # its end is queued: the trial no longer runs
    written_at: float = 0.0  # time.monotonic() of its run's last write
    held: bool = False  # reports wait for PROGRESS_SECONDS since that write (`tick` sends them)


class Outbox:
    """Every tracking write of one sweep, made in order (see module docstring)."""

    def __init__(self, tracker: Tracker, outage_limit: float = OUTAGE_LIMIT_SECONDS,
                 retry_seconds: float = RETRY_SECONDS, progress_seconds: float = PROGRESS_SECONDS) -> None:
        self.tracker, self.limit, self.retry_seconds = tracker, outage_limit, retry_seconds
        self.progress_seconds = progress_seconds
        self.waiting: deque[tuple[Callable[[], None], Callable[[], None] | None]] = deque()
        self.trials: dict[str, TrialWrites] = {}  # the trials whose run is not ended yet
        self.ends_due = 0  # of those, the trials that ended: their end is queued, not yet written
        self._unsent_lock = threading.Lock()  # the driver appends reports, the writer thread sends them
        self.busy = 0.0  # seconds spent making writes, in all
        self.ends_written = 0  # trials whose end the store holds
        self._marks: deque[tuple[float, float, int]] = deque()  # (time.monotonic(), busy, ends_written), LOAD_SECONDS
        self.down_since: float | None = None
        self.last_try = 0.0
        self.last_error = ""
        self.gave_up = ""  # the one line, once the sweep stops for an outage
        self.refused: Exception | None = None  # a write the store refused, made by the writer thread
        self._lock = threading.Lock()  # one flush at a time (the writer thread, tick, drain)
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        self._closing = False

    # -- what the recorder asks for, keyed by config hash -------------------------------------
    def start(self, spec: TrialSpec, existing: RunState | None) -> None:
        """Create the trial's run (or continue its earlier one)."""
        self.trials[spec.config_hash] = TrialWrites(spec, existing)
        self._submit(functools.partial(self._sync, spec.config_hash))

    def task(self, digest: str, task: int, accuracy: float, gpu_hours: float,
             extra: Mapping[str, float] | None = None) -> None:
        """A task's test accuracy, and `extra` per-task metrics (a searched trial's validation score)."""
        self._owe(digest, Progress(task=(task, accuracy, dict(extra or {})), gpu_hours=gpu_hours))

    def epoch(self, digest: str, epoch: int, loss: float) -> None:
        """An epoch's train_loss as it ends (a resumed trial repeats its unfinished task's epochs: logged once)."""
        self._owe(digest, Progress(epoch=(epoch, loss)))

    def finish(self, digest: str, result: Mapping[str, Any], accuracies: Iterable[float], gpu_hours: float,
               after: Callable[[], None]) -> None:
        """Record the result in one batch; `after` runs once the store holds it (the checkpoint may go)."""
        self._owe(digest, Progress(end=End("FINISHED", gpu_hours, result=dict(result), accuracies=list(accuracies))),
                  after)

    def fail(self, digest: str, reason: str, gpu_hours: float) -> None:
        self._owe(digest, Progress(end=End("FAILED", gpu_hours, tags=((ERROR_TAG, reason[:5000]),))))

    def stop_early(self, digest: str, gpu_hours: float, after: Callable[[], None]) -> None:
        """A searched trial the scheduler stopped: FINISHED and marked, not failed (its score is its last task's)."""
        self._owe(digest, Progress(end=End("FINISHED", gpu_hours, tags=((EARLY_STOP_TAG, "true"),))), after)

    def interrupt(self, digest: str, gpu_hours: float) -> None:
        """The sweep stopped before the trial ended: KILLED (resumed by the next run)."""
        self._owe(digest, Progress(end=End("KILLED", gpu_hours)))

    def _owe(self, digest: str, progress: Progress, after: Callable[[], None] | None = None) -> None:
        with self._unsent_lock:
            trial = self.trials.get(digest)
            if trial is not None:  # None: its run was ended already (nothing is logged after the end)
                trial.unsent.append(progress)
                if progress.end is not None and not trial.ended:
                    trial.ended, self.ends_due = True, self.ends_due + 1
                elif progress.end is None and trial.held:
                    return  # sent with the others held, by `tick` once due (or with the trial's end)
        self._submit(functools.partial(self._sync, digest), after)

    def _sync(self, digest: str) -> None:
        """Write what the trial's run lacks, in as few calls as its queued reports allow: a trial whose
        reports waited (the store falling behind, or away) gets its run, params, metrics and end together.
        Raises as the store does; what was written stays written, and the next call goes on from there."""
        trial = self.trials.get(digest)
        if trial is None:
            return  # its run was ended by an earlier write
        with self._unsent_lock:
            reports = list(trial.unsent)
        end = next((p.end for p in reports if p.end is not None), None)
        if trial.run_id is None:
            run_id = self.tracker.create(trial.spec, trial.existing)
            if trial.existing is not None:
                trial.logged, trial.epochs = self.tracker.logged_tasks(run_id), self.tracker.logged_epochs(run_id)
            trial.run_id, trial.params_due, trial.written_at = run_id, trial.existing is None, time.monotonic()
        if end is None and time.monotonic() - trial.written_at < self.progress_seconds:
            # A running trial's reports (and a new run's params) wait for its next write, or for `tick`
            # once due: a trial that ends soon after gets them all in its end's batch.
            trial.held = bool(reports) or trial.params_due
            return
        trial.written_at, trial.held = time.monotonic(), False
        tasks = [p.task for p in reports if p.task is not None and p.task[0] not in trial.logged]
        losses = [p.epoch for p in reports if p.epoch is not None and p.epoch[0] not in trial.epochs]
        params = params_of(trial.spec) if trial.params_due else []
        if end is not None:
            self._end(trial, end, params, tasks, losses)
            self.ends_written += 1
            with self._unsent_lock:
                if self.trials.pop(digest, None) is not None:
                    self.ends_due -= 1
            return
        if tasks or losses or params:
            hours = [p.gpu_hours for p in reports if p.gpu_hours is not None]
            self.tracker.log_progress(trial.run_id, tasks=tasks, epochs=losses, params=params,
                                      gpu_hours=hours[-1] if hours else None)
        trial.params_due = False
        trial.logged.update(task for task, _, _ in tasks)
        trial.epochs.update(epoch for epoch, _ in losses)
        with self._unsent_lock:  # only what was sent: reports queued meanwhile wait for their own write
            del trial.unsent[:len(reports)]

    def _end(self, trial: TrialWrites, end: End, params: list[Param], tasks: list[tuple[int, float, dict[str, float]]],
             losses: list[tuple[int, float]]) -> None:
        assert trial.run_id is not None
        if end.result is not None:  # the result holds every accuracy and epoch loss; the extras ride along
            missing = [(t, a) for t, a in enumerate(end.accuracies) if t not in trial.logged]
            extra = [m for m in progress_metrics([(t, a, x) for t, a, x in tasks if x], []) if m.key != "acc"]
            self.tracker.finish(trial.run_id, end.result, missing, end.gpu_hours, trial.epochs, params=params,
                                extra=extra)
        elif end.status == "KILLED":
            self.tracker.interrupt(trial.run_id, end.gpu_hours, params=params, tasks=tasks, epochs=losses)
        else:
            self.tracker.end(trial.run_id, end.status, end.gpu_hours, tags=[RunTag(k, v) for k, v in end.tags],
                             params=params, tasks=tasks, epochs=losses)

    def then(self, action: Callable[[], None]) -> None:
        """Run `action` once every write queued so far is made."""
        self._submit(lambda: None, action)

    # -- delivery ---------------------------------------------------------------------------
    def _submit(self, write: Callable[[], None], after: Callable[[], None] | None = None) -> None:
        if self.refused is not None:
            raise self.refused
        self.waiting.append((write, after))
        if self._writer is not None:
            self._wake.set()
        elif self.down_since is None:
            self.flush()

    def flush(self) -> bool:
        """Make the waiting writes in order; False (and the outage clock running) if the store is away."""
        with self._lock:
            self.last_try = time.monotonic()
            while self.waiting:
                write, after = self.waiting[0]
                self._mark()  # where this write begins: `load` counts it from there
                began = time.monotonic()
                try:
                    write()
                except Exception as error:  # noqa: BLE001 - sorted just below
                    if not is_outage(error):
                        raise
                    self.down_since = self.down_since if self.down_since is not None else time.monotonic()
                    self.last_error = error_reason(error)
                    return False
                finally:
                    self.busy += time.monotonic() - began
                    self._mark()
                self.waiting.popleft()
                if after is not None:
                    after()
            self.down_since = None
            return True

    def start_writer(self) -> None:
        """Make the writes from a thread of this outbox from now on (until `stop_writer`)."""
        self._closing = False
        self._writer = threading.Thread(target=self._write_loop, name="zfsweep-outbox", daemon=True)
        self._writer.start()

    def stop_writer(self) -> None:
        """Stop the writer thread after its current flush; what still waits is left to `drain`."""
        if self._writer is None:
            return
        self._closing = True
        self._wake.set()
        self._writer.join()
        self._writer = None

    def _write_loop(self) -> None:
        while not self._closing:
            # Woken by a new write; during an outage it retries every `retry_seconds` by itself.
            self._wake.wait(timeout=self.retry_seconds if self.down_since is not None else None)
            self._wake.clear()
            if self._closing:
                return
            try:
                self.flush()
            except Exception as error:  # noqa: BLE001 - a refusal: raised in the driver's next call
                self.refused = error
                return

    def tick(self) -> None:
        """Retry now and then during an outage; past the limit, give up with one line."""
        if self.refused is not None:
            raise self.refused
        if self.down_since is None:
            self._send_held()
            return
        if self._writer is None:  # no writer thread retrying: retry here, now and then
            if time.monotonic() - self.last_try < self.retry_seconds or self.flush():
                return
        down_since = self.down_since
        if down_since is not None and time.monotonic() - down_since > self.limit:
            self.gave_up = (f"tracking store {self.tracker.tracking_uri} unreachable for {self.limit:.0f} s "
                            f"({len(self.waiting)} writes not made, last error: {self.last_error}); stopped, "
                            "every trial can resume: run the same command again once it answers")
            raise TrackingUnreachable(self.gave_up)

    def _send_held(self) -> None:
        """Write the reports of running trials that were held for PROGRESS_SECONDS and are due now."""
        now = time.monotonic()
        with self._unsent_lock:
            due = [digest for digest, trial in self.trials.items()
                   if trial.held and now - trial.written_at >= self.progress_seconds]
            for digest in due:
                self.trials[digest].held = False
        for digest in due:
            self._submit(functools.partial(self._sync, digest))

    def drain(self, show: Callable[[], None]) -> None:
        """Wait until every write is made (the sweep has ended), or give up past the limit."""
        self.stop_writer()
        self.progress_seconds = 0.0  # nothing is held back any more
        self._send_held()
        while not self.flush():
            show()
            time.sleep(self.retry_seconds)
            self.last_try = 0.0
            self.tick()

    def behind(self) -> int:
        """Trials that ended and whose end the store, answering, has not written yet: how far it lags the
        trials (0 during an outage, when the writes wait by design and the trials go on)."""
        return self.ends_due if self.down_since is None else 0

    def load(self) -> float:
        """The share of the last LOAD_SECONDS the writes took (about 1: the store writes all the time, and
        trials that end sooner only queue); 0 during an outage, as `behind`. Read by the dispatcher's thread."""
        oldest = self._oldest_mark()
        if self.down_since is not None or oldest is None:
            return 0.0
        then, busy_then, _ = oldest
        now = time.monotonic()
        return (self.busy - busy_then) / (now - then) if now - then >= LOAD_SECONDS / 4 else 0.0

    def seconds_per_trial(self) -> float | None:
        """The writer's seconds per trial over its last LOAD_SECONDS of writes: the time its writes took there
        over the trials whose end it wrote (each trial is its run, its reports and its end); None before two
        ends were written in that span, and during an outage. Unlike `load`, it does not depend on how
        many trials ran meanwhile. Read by the dispatcher's thread."""
        oldest = self._oldest_mark()
        if self.down_since is not None or oldest is None:
            return None
        _, busy_then, ends_then = oldest
        ends = self.ends_written - ends_then
        return (self.busy - busy_then) / ends if ends >= 2 else None

    def _mark(self) -> None:
        """Note (now, busy, ends written) as a write begins and ends, at most every LOAD_SECONDS / 20, and forget
        the marks older than LOAD_SECONDS (only the thread that writes calls this; `load` reads the oldest)."""
        now, marks = time.monotonic(), self._marks
        if not marks or now - marks[-1][0] >= LOAD_SECONDS / 20:
            marks.append((now, self.busy, self.ends_written))
        while now - marks[0][0] > LOAD_SECONDS:
            marks.popleft()

    def _oldest_mark(self) -> tuple[float, float, int] | None:
        try:
            return self._marks[0]  # the writer appends before it forgets, so one is always there once written
        except IndexError:
            return None

    def status(self) -> str:
        """The progress line's note during an outage ('' when the store answers)."""
        if self.down_since is None:
            return ""
        return (f"tracking store unreachable for {time.monotonic() - self.down_since:.0f} s, "
                f"{len(self.waiting)} writes queued")
