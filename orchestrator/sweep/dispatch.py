"""A grid's trials on Ray Core: long-lived worker actors, and no more trials handed out than run at once.

Ray's guidance is Ray Tune for fewer than 20,000 models and Ray Core beyond
(ray-project/ray, doc/source/ray-overview/use-cases.rst); Tune's controller keeps every trial of a
fit and rewrites them all into its experiment state (ray-project/ray#64231), and each fit starts
its trial actors afresh. `grids/full.yaml` (the ZeroFlow grid, arXiv 2501.01045) holds 20,824
trials, and docs/scale.md has what each way cost per trial here. So a grid runs on this loop:

- One `TrialWorker` actor per slot (orchestrator/sweep/worker.py), kept for the whole sweep: its
  process imports torch and the trainer once and runs one trial after another. A worker holds its
  CPUs and GPU fraction for its life, so trials of one resource shape run back to back (pending
  trials are taken shape by shape, in grid order within a shape); idle workers of another shape
  are let go when the next trial needs room, and a trial goes only to a worker that has started.
- At most as many trials are handed to Ray as the cluster can run at once (by the smallest
  request, capped by `--max-concurrent`, re-read as the cluster grows): the driver holds those
  and nothing per finished trial (the Recorder keeps counts and the failed trials' reasons).
- A trial streams its reports back (a Ray generator method); the Recorder writes MLflow from
  them. Where the store records trials more slowly than they end, fewer trials run (and no more
  workers start) until it catches up, so its queue stays within the slots' worth it may lag; nor
  do more workers start than keep it busy, a trial's time over the store's time a trial
  (`store_room`).
- Workers start two at a time, then as many at once as are up (a doubling ramp), so the first
  trials run while the rest start. Where the up-front check joins Ray anyway (`--address`, or a
  process connected already), the first two start before it (`first_workers`, called by
  orchestrator/commands.py), as the check, the tracking store and the lease take seconds too.
- A trial that raises, or whose worker dies (out of memory, a lost node), is retried up to
  `retries` times from its hash-keyed checkpoint, on a fresh worker if the old one died; each
  failed attempt's traceback is kept in `<storage>/<experiment>/errors/<hash>.txt`, removed once
  the trial is FINISHED in MLflow. Nothing else of a sweep is written to disk.
- Ctrl-C (SIGINT, or SIGUSR1, as with Ray Tune) stops the sweep: running trials are ended and
  recorded KILLED, each resumable from its checkpoint; a second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.actor import ActorHandle

from catalog.errors import last_line
from orchestrator.grid.expand import TrialSpec
from orchestrator.store.runindex import RunState
from orchestrator.sweep.recorder import NO_MESSAGE, Recorder
from orchestrator.sweep.trainable import TrialFunction, trial_params
from orchestrator.sweep.tune import cluster_slots, with_gpus
from orchestrator.sweep.worker import TrialWorker

STEP_SECONDS = 0.5  # the longest wait for a report before the outbox and the line are looked at
CAPACITY_SECONDS = 10.0  # how often the cluster's size is read again (an autoscaler may add nodes)
ENDS = ("done", "diverged", "invalid")  # a trial's last report (orchestrator/sweep/trainable.py)
MAX_FAILED_STARTS = 8  # workers in a row that fail to start before the sweep stops with the reason
LAG_PER_SLOT = 1  # ended trials a slot the tracking store may fall behind by before fewer trials run
LAG_STEP_SECONDS = 0.05  # how often a sweep waiting for the store to catch up looks again
STORE_BUSY = 0.9  # no worker starts while the writes take this share of the time: the store is full
DURATIONS = 16  # the trials whose time from hand-out to end tells how long a worker takes for one
FIRST_STARTS = 2  # workers starting at once at first; once more are up, as many at once as are up
Shape = tuple[tuple[str, float], ...]


@dataclass
class Attempt:
    """A trial to hand to a worker (again, after a failed attempt), with its earlier run if it has one."""

    spec: TrialSpec
    shape: Shape
    existing: RunState | None = None
    failures: int = 0  # none yet: never handed out, so not yet told to the Recorder
    worker: ActorHandle | None = None
    handed_at: float = 0.0  # time.monotonic() when it went to its worker


class WorkersCannotStart(Exception):
    """Worker after worker failed to start (the message is the one line to print)."""


class Workers:
    """The sweep's worker actors by resource shape that are starting or idle (the Dispatcher holds
    those running a trial, and says how many: `busy`).

    A trial goes only to a worker that has started, so a worker that cannot start (no room left on
    the cluster, a node that went away) holds no trial; it is let go when the cluster has fewer
    slots than workers."""

    def __init__(self, trial: TrialFunction | None, checkpoints: Path, workdir: str) -> None:
        self.args = (trial, str(checkpoints), workdir)  # None: the workers import trainers.trial.run_trial
        self.starting: dict[Any, tuple[Shape, ActorHandle]] = {}  # its __ray_ready__ ref -> the worker
        self.idle: dict[Shape, list[ActorHandle]] = collections.defaultdict(list)
        self.failed_starts = 0  # in a row
        self.up = 0  # workers that have started in this sweep

    def count(self, busy: int) -> int:
        return len(self.starting) + sum(len(workers) for workers in self.idle.values()) + busy

    def start(self, shape: Shape) -> None:
        request = dict(shape)
        worker = TrialWorker.options(num_cpus=request.get("CPU", 0.0), num_gpus=request.get("GPU", 0.0)).remote(*self.args)
        self.starting[worker.__ray_ready__.remote()] = (shape, worker)

    def started(self, ready: Any) -> None:
        """A starting worker answered: idle now, or (if it failed to start) let go."""
        shape, worker = self.starting.pop(ready)
        try:
            ray.get(ready)
        except ray.exceptions.RayError as error:
            self.lose(worker)
            self.failed_starts += 1
            if self.failed_starts >= MAX_FAILED_STARTS:
                raise WorkersCannotStart(f"{self.failed_starts} trial workers in a row failed to start: "
                                         f"{ray_error_line(error)}") from None
            return
        self.failed_starts = 0
        self.up += 1
        self.idle[shape].append(worker)

    def take(self, shape: Shape) -> ActorHandle | None:
        return self.idle[shape].pop() if self.idle[shape] else None

    def give_back(self, shape: Shape, worker: ActorHandle) -> None:
        self.idle[shape].append(worker)

    def make_room(self, shape: Shape, wanted: int, slots: int, busy: int) -> None:
        """Start workers of `shape` for `wanted` waiting trials, as far as `slots` allows beside the `busy`
        ones; idle workers of other shapes go first while this shape has none idle, as they hold room a
        starting worker may need.

        Workers start FIRST_STARTS at a time, then as many at once as are up (a doubling ramp): a start
        is CPU-bound (a process importing torch and the trainer), so sixteen at once on a node with two
        cores all came up together after 22 to 25 s, where two at a time run the first trials within
        3 s and the rest come up beside them (docs/scale.md)."""
        if not self.idle[shape]:
            for other in [s for s in self.idle if s != shape]:
                for worker in self.idle.pop(other):
                    self.lose(worker)
        coming = sum(1 for s, _ in self.starting.values() if s == shape)
        while self.count(busy) < slots and coming < wanted and len(self.starting) < max(FIRST_STARTS, self.up):
            self.start(shape)
            coming += 1

    def trim(self, slots: int, busy: int) -> None:
        """Let workers go while there are more than the cluster's slots: starting ones first, then idle ones."""
        while self.count(busy) > slots and self.starting:
            ready, (_, worker) = next(iter(self.starting.items()))
            del self.starting[ready]
            self.lose(worker)
        for workers in self.idle.values():
            while self.count(busy) > slots and workers:
                self.lose(workers.pop())

    @staticmethod
    def lose(worker: ActorHandle) -> None:
        with contextlib.suppress(Exception):  # already dead
            ray.kill(worker, no_restart=True)

    def close(self) -> None:
        for _, worker in self.starting.values():
            self.lose(worker)
        for workers in self.idle.values():
            for worker in workers:
                self.lose(worker)
        self.starting.clear()
        self.idle.clear()


class Capacity:
    """How many trials to hand out at once: the cluster's slots for the smallest request, re-read now and then."""

    def __init__(self, specs: list[TrialSpec], gpus: bool, max_concurrent: int | None) -> None:
        self.specs, self.gpus, self.max_concurrent = specs, gpus, max_concurrent
        self.read_at, self.value = float("-inf"), 1

    def slots(self) -> int:
        if time.monotonic() - self.read_at > CAPACITY_SECONDS:
            self.value = cluster_slots(self.specs, self.gpus, self.max_concurrent)
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


def first_workers(pending: list[TrialSpec], trial: TrialFunction | None, checkpoints: Path, workdir: str,
                  max_concurrent: int | None) -> Workers:
    """Start the workers of the sweep's first trials now (as many as `Workers.make_room` starts at first),
    for a Dispatcher to take. A worker takes seconds to start (a process importing torch), so the driver
    starts them before the up-front check (timm's import: about 2.5 s here), opening the tracking store
    (a new SQLite store's tables: about 2 s) and taking the lease, which need the CPU of one process only."""
    workers = Workers(trial, checkpoints, workdir)
    if pending:
        gpus = with_gpus()
        shapes = [shape_of(spec, gpus) for spec in pending]
        first = min(shapes)  # the dispatcher takes trials shape by shape, in this order
        workers.make_room(first, shapes.count(first), cluster_slots(pending, gpus, max_concurrent), 0)
    return workers


def workers_to_fill(trial_seconds: float, store_seconds: float) -> int:
    """How many workers a store that takes `store_seconds` a trial can record the trials of, with trials of
    `trial_seconds` each: their ratio, in whole workers (at least one). One more would only wait for the
    store, and its start (seconds of CPU) takes from the writes."""
    return max(1, int(trial_seconds / store_seconds)) if store_seconds > 0 else sys.maxsize


def shape_of(spec: TrialSpec, gpus: bool) -> Shape:
    return tuple(sorted((key, value) for key, value in spec.resources.ray_request(gpus).items() if value > 0))


def ray_error_line(error: ray.exceptions.RayError) -> str:
    """A Ray error as one line: its type and the last line of its text, where Ray puts the cause (the
    exception a worker's start raised, why its process or node died), not Ray's ids and colours."""
    return f"{type(error).__name__}: {last_line(str(error)) or 'no message'}"[:300]


class Dispatcher:
    """Hands pending trials to workers and passes their reports to the Recorder (see module docstring)."""

    def __init__(self, recorder: Recorder, trial: TrialFunction | None, *, errors: Path, workdir: str, gpus: bool,
                 retries: int, workers: Workers | None = None) -> None:
        """`workers`: those started before the sweep (`first_workers`), for the same trial function,
        checkpoint folder and working directory; the dispatcher lets them go when it ends."""
        self.recorder, self.errors, self.gpus, self.retries = recorder, errors, gpus, retries
        self.workers = workers if workers is not None else Workers(trial, recorder.store.root, workdir)
        self.running: dict[Any, Attempt] = {}  # ObjectRefGenerator -> its attempt
        self.todo: collections.deque[Attempt] = collections.deque()
        self.durations: collections.deque[float] = collections.deque(maxlen=DURATIONS)  # hand-out to end, seconds
        recorder.errors = errors

    def run(self, pending: list[tuple[TrialSpec, RunState | None]], capacity: Capacity) -> bool:
        """Run every pending trial (with its earlier run); True if the sweep was stopped first."""
        attempts = (Attempt(spec, shape_of(spec, self.gpus), existing) for spec, existing in pending)
        self.todo.extend(sorted(attempts, key=lambda attempt: attempt.shape))
        try:
            with StopRequest() as stop:
                while self.todo or self.running:
                    if stop.requested:
                        return True
                    self.hand_out(capacity.slots())
                    self.step()
                    self.recorder.step()
            return False
        finally:
            for attempt in self.running.values():
                if attempt.worker is not None:
                    self.workers.lose(attempt.worker)  # ends its trial; the Recorder marks it KILLED
            self.running.clear()
            self.workers.close()
            self.recorder.interrupt_unfinished()

    def hand_out(self, slots: int) -> None:
        """Give waiting trials to idle workers of their shape, and start the workers they still need: as many
        as `slots`, fewer while the tracking store lags (see `room`)."""
        room = self.room(slots)
        while self.todo and len(self.running) < room:
            attempt = self.todo[0]
            worker = self.workers.take(attempt.shape)
            if worker is None:
                break
            self.todo.popleft()
            if attempt.failures == 0:
                self.recorder.expect(attempt.spec, attempt.existing)
            params = {"spec": trial_params(attempt.spec.config_hash, attempt.spec.config.to_dict(), dict(attempt.shape))}
            attempt.worker, attempt.handed_at = worker, time.monotonic()
            self.running[worker.run.remote(params)] = attempt
        workers = min(room, self.store_room())
        if self.todo and workers > 0:  # make_room lets idle workers of other shapes go even where none may start
            shape = self.todo[0].shape
            wanted = sum(1 for attempt in itertools.islice(self.todo, room) if attempt.shape == shape)
            self.workers.make_room(shape, wanted, workers, len(self.running))
        self.workers.trim(slots, len(self.running))

    def room(self, slots: int) -> int:
        """Trials to run at once: `slots`, less what the tracking store lags behind past LAG_PER_SLOT ended
        trials a slot. A store slower than the trials end (an SQLite file took 20 to 30 ms a trial here) would
        otherwise queue every trial's writes in the driver, and workers started for more trials than it
        records would only take the CPU its writes need; trials that end together (a wave) stay within the
        lag allowed. No worker starts while the store lags by more trials than run: another would only add
        to its queue. During an outage the writes wait by design and trials go on (Outbox.behind)."""
        return min(slots, slots * (1 + LAG_PER_SLOT) - self.recorder.outbox.behind())

    def store_room(self) -> int:
        """How many workers in all the tracking store could record the trials of: none while it lags by more
        trials than run or its writes took STORE_BUSY of the last seconds; else as many as keep it busy
        (`workers_to_fill`: a trial's time from hand-out to end, over the last DURATIONS trials, against the
        store's time a trial, `Outbox.seconds_per_trial`), without limit before both are measured (and
        during an outage). Another worker would only queue more writes, and its start (a process importing
        torch) takes CPU they need. Real trials, of minutes, leave the store idle nearly all the time, and
        every slot gets its worker."""
        outbox = self.recorder.outbox
        if outbox.behind() > len(self.running) or outbox.load() >= STORE_BUSY:
            return 0
        per_trial = outbox.seconds_per_trial()
        if per_trial is None or not self.durations:
            return sys.maxsize
        return workers_to_fill(sum(self.durations) / len(self.durations), per_trial)

    def step(self) -> None:
        """Wait up to STEP_SECONDS for a report or a started worker, then take every one that has come."""
        waits = [*self.running, *self.workers.starting]
        if not waits:  # nothing can start yet: no room on the cluster, or the store is catching up
            time.sleep(STEP_SECONDS if not self.recorder.outbox.behind() else LAG_STEP_SECONDS)
            return
        first, _ = ray.wait(waits, num_returns=1, timeout=STEP_SECONDS)
        if not first:
            return
        ready, _ = ray.wait(waits, num_returns=len(waits), timeout=0)
        for ref in ready:
            if ref in self.workers.starting:
                self.workers.started(ref)
            else:
                self.take(ref)

    def take(self, generator: Any) -> None:
        attempt = self.running[generator]
        assert attempt.worker is not None
        try:
            event = ray.get(next(generator))
        except StopIteration:  # ended without a last report (cannot happen with run_reporting)
            self.running.pop(generator)
            self.workers.give_back(attempt.shape, attempt.worker)
            self.fail(attempt, "trial ended without a result", "")
            return
        except ray.exceptions.RayError as error:  # the worker died: out of memory, a lost node, a crash
            self.running.pop(generator)
            self.workers.lose(attempt.worker)
            self.fail(attempt, ray_error_line(error), str(error))
            return
        digest, kind = attempt.spec.config_hash, event["kind"]
        if kind == "started":
            self.recorder.started(digest)
        elif kind == "error":
            self.running.pop(generator)
            self.workers.give_back(attempt.shape, attempt.worker)
            self.fail(attempt, last_line(event["traceback"]) or NO_MESSAGE, event["traceback"])
        else:
            self.recorder.reported(digest, event)
            if kind in ENDS:
                self.durations.append(time.monotonic() - attempt.handed_at)
                self.running.pop(generator)
                self.workers.give_back(attempt.shape, attempt.worker)

    def fail(self, attempt: Attempt, reason: str, details: str) -> None:
        """A failed attempt: kept on disk, then retried from the checkpoint (next in line) or recorded FAILED."""
        digest = attempt.spec.config_hash
        self.errors.mkdir(parents=True, exist_ok=True)
        with open(self.errors / f"{digest}.txt", "a", encoding="utf-8") as file:
            file.write(f"--- attempt {attempt.failures + 1} of {attempt.spec.label}, "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n{details or reason}\n")
        attempt.failures, attempt.worker = attempt.failures + 1, None
        if attempt.failures <= self.retries:
            self.recorder.retrying(digest, reason)
            self.todo.appendleft(attempt)
        else:
            self.recorder.errored(digest, reason)
