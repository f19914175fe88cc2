"""The driver's tracking writes, in order, queued while the tracking store is unreachable.

A tracking server that restarts, or a network that drops for minutes, must not stop a sweep of
GPU-days: the trials keep running on Ray, every write the driver owes MLflow (create or continue
a run, an epoch's loss, a task's accuracy, the result, FAILED with its reason, KILLED) waits here in order, the
progress line says how long the store has been unreachable and how many writes wait, and all of
them are made, in order, as soon as it answers again. Only after `outage_limit` seconds does the
sweep stop (TrackingUnreachable, one line); every trial keeps its checkpoint and its run, so the
same command resumes it. A write that the store refuses for a reason of its own (a bad request)
is not an outage and is raised at once.

Run ids are resolved when the queued "start" is made, so a trial that starts during an outage
is recorded like any other once the store is back. A sweep's outbox writes from a thread of its
own (`start_writer`), so Ray Tune's callbacks only queue and the scheduling loop never waits on
MLflow; what the outbox knows of a trial (its run id, the tasks logged) is forgotten once the
trial's last write is made, so a sweep of any length holds only its running trials here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable, Iterable, Mapping

from mlflow.exceptions import MlflowException

from orchestrator.grid.expand import TrialSpec
from orchestrator.sweep.options import OUTAGE_LIMIT_SECONDS
from orchestrator.store.runindex import RunState
from orchestrator.store.tracking import Tracker

# MLflow error codes that mean the request itself was wrong: retrying would not help.
REFUSALS = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "INVALID_STATE",
            "BAD_REQUEST", "PERMISSION_DENIED", "UNAUTHENTICATED", "CUSTOMER_UNAUTHORIZED"}
RETRY_SECONDS = 5.0


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


class Outbox:
    """Every tracking write of one sweep, made in order (see module docstring)."""

    def __init__(self, tracker: Tracker, outage_limit: float = OUTAGE_LIMIT_SECONDS,
                 retry_seconds: float = RETRY_SECONDS) -> None:
        self.tracker, self.limit, self.retry_seconds = tracker, outage_limit, retry_seconds
        self.waiting: deque[tuple[Callable[[], None], Callable[[], None] | None]] = deque()
        self.run_ids: dict[str, str] = {}
        self.logged: dict[str, set[int]] = {}  # tasks whose accuracy the run holds
        self.epochs: dict[str, set[int]] = {}  # epochs whose train_loss it holds
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
        digest = spec.config_hash

        def write() -> None:
            run_id = self.tracker.start(spec, existing)
            self.logged[digest] = self.tracker.logged_tasks(run_id) if existing else set()
            self.epochs[digest] = self.tracker.logged_epochs(run_id) if existing else set()
            self.run_ids[digest] = run_id

        self._submit(write)

    def task(self, digest: str, task: int, accuracy: float, gpu_hours: float,
             extra: Mapping[str, float] | None = None) -> None:
        """A task's test accuracy, and `extra` per-task metrics (a searched trial's validation score)."""
        def write() -> None:
            if task not in self.logged[digest]:
                self.tracker.log_task(self.run_ids[digest], task, accuracy, gpu_hours, extra or {})
                self.logged[digest].add(task)

        self._submit(write)

    def epoch(self, digest: str, epoch: int, loss: float) -> None:
        """An epoch's train_loss as it ends (a resumed trial repeats its unfinished task's epochs: logged once)."""
        def write() -> None:
            if epoch not in self.epochs[digest]:
                self.tracker.log_epoch(self.run_ids[digest], epoch, loss)
                self.epochs[digest].add(epoch)

        self._submit(write)

    def finish(self, digest: str, result: Mapping[str, Any], accuracies: Iterable[float], gpu_hours: float,
               after: Callable[[], None]) -> None:
        """Record the result in one batch; `after` runs once the store holds it (the checkpoint may go)."""
        accuracies = list(accuracies)

        def write() -> None:
            missing = [(t, a) for t, a in enumerate(accuracies) if t not in self.logged[digest]]
            self.tracker.finish(self.run_ids[digest], result, missing, gpu_hours, self.epochs[digest])
            self._forget(digest)

        self._submit(write, after)

    def fail(self, digest: str, reason: str, gpu_hours: float) -> None:
        def write() -> None:
            self.tracker.fail(self.run_ids[digest], reason, gpu_hours)
            self._forget(digest)

        self._submit(write)

    def stop_early(self, digest: str, gpu_hours: float, after: Callable[[], None]) -> None:
        """A searched trial the scheduler stopped: FINISHED and marked, not failed (its score is its last task's)."""
        def write() -> None:
            self.tracker.stop_early(self.run_ids[digest], gpu_hours)
            self._forget(digest)

        self._submit(write, after)

    def interrupt(self, digest: str, gpu_hours: float) -> None:
        def write() -> None:
            self.tracker.interrupt(self.run_ids[digest], gpu_hours)
            self._forget(digest)

        self._submit(write)

    def then(self, action: Callable[[], None]) -> None:
        """Run `action` once every write queued so far is made."""
        self._submit(lambda: None, action)

    def _forget(self, digest: str) -> None:
        self.run_ids.pop(digest, None)
        self.logged.pop(digest, None)
        self.epochs.pop(digest, None)

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
                try:
                    write()
                except Exception as error:  # noqa: BLE001 - sorted just below
                    if not is_outage(error):
                        raise
                    self.down_since = self.down_since if self.down_since is not None else time.monotonic()
                    self.last_error = error_reason(error)
                    return False
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

    def drain(self, show: Callable[[], None]) -> None:
        """Wait until every write is made (the sweep has ended), or give up past the limit."""
        self.stop_writer()
        while not self.flush():
            show()
            time.sleep(self.retry_seconds)
            self.last_try = 0.0
            self.tick()

    def status(self) -> str:
        """The progress line's note during an outage ('' when the store answers)."""
        if self.down_since is None:
            return ""
        return (f"tracking store unreachable for {time.monotonic() - self.down_since:.0f} s, "
                f"{len(self.waiting)} writes queued")
