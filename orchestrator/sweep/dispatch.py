"""A grid's trials on Ray Core: long-lived worker actors, and no more trials handed out than run at once.

Ray's guidance is Ray Tune for fewer than 20,000 models and Ray Core beyond
(ray-project/ray, doc/source/ray-overview/use-cases.rst); Tune's controller keeps every trial of a
fit and rewrites them all into its experiment state (ray-project/ray#64231), and each fit starts
its trial actors afresh. `grids/full.yaml` (the ZeroFlow grid, arXiv 2501.01045) holds 20,824
trials, and docs/scale.md has what each way cost per trial here. So a grid runs on this loop:

- One `TrialWorker` actor per slot, kept for the whole sweep: its process imports torch and the
  trainer once and runs one trial after another. A worker holds its CPUs and GPU fraction for its
  life, so trials of one resource shape run back to back (pending trials are taken shape by shape,
  in grid order within a shape); a worker of another shape is let go when a trial waits for room.
- At most as many trials are handed to Ray as the cluster can run at once (by the smallest
  request, capped by `--max-concurrent`, re-read as the cluster grows): the driver holds those
  and nothing per finished trial (the Recorder keeps counts and the failed trials' reasons).
- A trial streams its reports back (a Ray generator method); the Recorder writes MLflow from
  them. A trial that raises, or whose worker dies (out of memory, a lost node), is retried up to
  `retries` times from its hash-keyed checkpoint, on a fresh worker if the old one died; each
  failed attempt's traceback is kept in `<storage>/<experiment>/errors/<hash>.txt`, removed once
  the trial is FINISHED in MLflow. Nothing else of a sweep is written to disk.
- Ctrl-C (SIGINT, or SIGUSR1, as with Ray Tune) stops the sweep: running trials are ended and
  recorded KILLED, each resumable from its checkpoint; a second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.actor import ActorHandle

from orchestrator.grid.expand import TrialSpec
from orchestrator.store.runindex import RunState
from orchestrator.sweep.recorder import Recorder
from orchestrator.sweep.trainable import TrialFunction, trial_params
from orchestrator.sweep.worker import TrialWorker

STEP_SECONDS = 0.5  # the longest wait for a report before the outbox and the line are looked at
CAPACITY_SECONDS = 10.0  # how often the cluster's size is read again (an autoscaler may add nodes)
ENDS = ("done", "diverged", "invalid")  # a trial's last report (orchestrator/sweep/trainable.py)
Shape = tuple[tuple[str, float], ...]


@dataclass
class Attempt:
    """A trial handed to a worker, and how many of its attempts failed so far."""

    spec: TrialSpec
    shape: Shape
    worker: ActorHandle
    failures: int = 0
    started: bool = False


class Workers:
    """The sweep's worker actors, by resource shape; idle ones wait for the next trial of their shape."""

    def __init__(self, trial: TrialFunction, checkpoints: Path, workdir: str) -> None:
        self.args = (trial, str(checkpoints), workdir)
        self.idle: dict[Shape, list[ActorHandle]] = collections.defaultdict(list)

    def take(self, shape: Shape) -> ActorHandle:
        """An idle worker of this shape, or a new one (idle workers of other shapes go, to make room)."""
        if self.idle[shape]:
            return self.idle[shape].pop()
        for other in [s for s in self.idle if s != shape]:
            for worker in self.idle.pop(other):
                self.lose(worker)
        request = dict(shape)
        return TrialWorker.options(num_cpus=request.get("CPU", 0.0), num_gpus=request.get("GPU", 0.0)).remote(*self.args)

    def give_back(self, shape: Shape, worker: ActorHandle) -> None:
        self.idle[shape].append(worker)

    @staticmethod
    def lose(worker: ActorHandle) -> None:
        with contextlib.suppress(Exception):  # already dead
            ray.kill(worker, no_restart=True)

    def close(self) -> None:
        for workers in self.idle.values():
            for worker in workers:
                self.lose(worker)
        self.idle.clear()


class Capacity:
    """How many trials to hand out at once: the cluster's slots for the smallest request, re-read now and then."""

    def __init__(self, specs: list[TrialSpec], gpus: bool, max_concurrent: int | None) -> None:
        self.cpu = min((s.resources.cpu for s in specs), default=1.0)
        self.gpu = min((s.resources.gpu for s in specs), default=0.0) if gpus else 0.0
        self.max_concurrent, self.read_at, self.value = max_concurrent, 0.0, 1

    def slots(self) -> int:
        if time.monotonic() - self.read_at > CAPACITY_SECONDS:
            total = ray.cluster_resources()
            slots = int(float(total.get("CPU", 1.0)) / self.cpu) if self.cpu > 0 else 1_000_000
            if self.gpu > 0:
                slots = min(slots, int(float(total.get("GPU", 0.0)) / self.gpu))
            self.value = max(1, min(slots, self.max_concurrent or slots))
            self.read_at = time.monotonic()
        return self.value


class StopRequest:
    """SIGINT and SIGUSR1 ask the sweep to stop (once; a second SIGINT interrupts at once), as Tune's do."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            for sig in (signal.SIGINT, signal.SIGUSR1):
                self.previous[sig] = signal.signal(sig, self._ask)
        return self

    def _ask(self, sig: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self.previous.get(signal.SIGINT, signal.default_int_handler))

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def shape_of(spec: TrialSpec, gpus: bool) -> Shape:
    return tuple(sorted((key, value) for key, value in spec.resources.ray_request(gpus).items() if value > 0))


def reason_line(text: str) -> str:
    """The last line of a traceback: the exception and its message."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "trial failed (no error message recorded)"


class Dispatcher:
    """Hands pending trials to workers and passes their reports to the Recorder (see module docstring)."""

    def __init__(self, recorder: Recorder, trial: TrialFunction, *, errors: Path, workdir: str, gpus: bool,
                 retries: int) -> None:
        self.recorder, self.errors, self.gpus, self.retries = recorder, errors, gpus, retries
        self.workers = Workers(trial, recorder.store.root, workdir)
        self.running: dict[Any, Attempt] = {}  # ObjectRefGenerator -> its attempt
        recorder.errors = errors

    def submit(self, attempt: Attempt) -> None:
        spec = attempt.spec
        params = {"spec": trial_params(spec.config_hash, spec.config.to_dict(), dict(attempt.shape))}
        attempt.worker, attempt.started = self.workers.take(attempt.shape), False
        self.running[attempt.worker.run.remote(params)] = attempt

    def waiting_for_room(self, shape: Shape) -> bool:
        """Whether a trial of another shape waits for its worker to start (it may need this one's room)."""
        return any(not a.started and a.shape != shape for a in self.running.values())

    def release(self, attempt: Attempt) -> None:
        if self.waiting_for_room(attempt.shape):
            self.workers.lose(attempt.worker)
        else:
            self.workers.give_back(attempt.shape, attempt.worker)

    def run(self, pending: list[tuple[TrialSpec, RunState | None]], capacity: Capacity) -> bool:
        """Run every pending trial (with its earlier run); True if the sweep was stopped first."""
        todo = collections.deque(sorted(pending, key=lambda item: shape_of(item[0], self.gpus)))
        try:
            with StopRequest() as stop:
                while todo or self.running:
                    if stop.requested:
                        return True
                    while todo and len(self.running) < capacity.slots():
                        spec, existing = todo.popleft()
                        self.recorder.expect(spec, existing)
                        self.submit(Attempt(spec, shape_of(spec, self.gpus), worker=None))  # type: ignore[arg-type]
                    self.step()
                    self.recorder.step()
            return False
        finally:
            for attempt in self.running.values():
                self.workers.lose(attempt.worker)  # ends its trial; the Recorder marks it KILLED
            self.running.clear()
            self.workers.close()
            self.recorder.interrupt_unfinished()

    def step(self) -> None:
        """Wait up to STEP_SECONDS for a report, then take every report that has come."""
        generators = list(self.running)
        first, _ = ray.wait(generators, num_returns=1, timeout=STEP_SECONDS)
        if not first:
            return
        ready, _ = ray.wait(generators, num_returns=len(generators), timeout=0)
        for generator in ready:
            self.take(generator)

    def take(self, generator: Any) -> None:
        attempt = self.running[generator]
        try:
            event = ray.get(next(generator))
        except StopIteration:  # ended without a last report (cannot happen with run_reporting)
            self.running.pop(generator)
            self.fail(attempt, "trial ended without a result", "", lost=False)
            return
        except ray.exceptions.RayError as error:  # the worker died: out of memory, a lost node, a crash
            self.running.pop(generator)
            reason = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
            self.fail(attempt, reason, str(error), lost=True)
            return
        digest, kind = attempt.spec.config_hash, event["kind"]
        if kind == "started":
            attempt.started = True
            self.recorder.started(digest)
        elif kind == "error":
            self.running.pop(generator)
            self.fail(attempt, reason_line(event["traceback"]), event["traceback"], lost=False)
        else:
            self.recorder.reported(digest, event)
            if kind in ENDS:
                self.running.pop(generator)
                self.release(attempt)

    def fail(self, attempt: Attempt, reason: str, details: str, *, lost: bool) -> None:
        """A failed attempt: kept on disk, then retried from the checkpoint or recorded FAILED."""
        digest = attempt.spec.config_hash
        self.errors.mkdir(parents=True, exist_ok=True)
        with open(self.errors / f"{digest}.txt", "a", encoding="utf-8") as file:
            file.write(f"--- attempt {attempt.failures + 1} of {attempt.spec.label}, "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n{details or reason}\n")
        if lost:
            self.workers.lose(attempt.worker)
        else:
            self.release(attempt)
        attempt.failures += 1
        if attempt.failures <= self.retries:
            self.recorder.retrying(digest, reason)
            self.submit(attempt)
        else:
            self.recorder.errored(digest, reason)
