"""What spans a sweep's trials in the driver, however Ray runs them: one outbox, one Recorder, one line.

A grid's pending trials run on zfsweep's Ray Core dispatcher (orchestrator/sweep/dispatch.py:
long-lived workers, the driver bounded by the trials running at once); a searched grid's samples
on one Ray Tune fit (orchestrator/search/tuner.py), whose searcher and early-stopping scheduler
are Tune's. Around either: the outbox of MLflow writes with its writer thread
(orchestrator/store/outbox.py), the Recorder, the progress line with its ETA, and what happens
when it ends: an outage past the limit stops the sweep with one line, a store that refuses a write
stops it with the store's error, Ctrl-C ends it with every started trial KILLED and resumable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Callable

from catalog.errors import one_line
from orchestrator.grid.expand import TrialSpec
from orchestrator.store.outbox import Outbox, TrackingUnreachable
from orchestrator.store.runindex import RunState
from orchestrator.store.tracking import Tracker
from orchestrator.sweep.checkpoints import CheckpointStore, folder_name
from orchestrator.sweep.dispatch import Capacity, Dispatcher, Workers
from orchestrator.sweep.options import SweepOptions
from orchestrator.sweep.progress import LiveLine, SweepProgress
from orchestrator.sweep.recorder import Recorder, SweepOutcome
from orchestrator.sweep.trainable import TrialFunction
from orchestrator.sweep.tune import checkpoint_root, with_gpus


def run_pending(pending: list[TrialSpec], tracker: Tracker, runs: dict[str, RunState], progress: SweepProgress,
                live: LiveLine, *, options: SweepOptions, name: str, trial: TrialFunction | None,
                workers: Workers | None = None) -> SweepOutcome:
    """Run `pending` (with their earlier runs in `runs`) on the connected Ray instance's workers, starting
    with `workers` where the caller started the first ones already (orchestrator.sweep.dispatch.first_workers)."""
    def body(recorder: Recorder, storage: Path, started: str) -> bool:
        gpus = with_gpus()
        dispatcher = Dispatcher(recorder, trial, errors=storage / folder_name(name) / "errors", workdir=os.getcwd(),
                                gpus=gpus, retries=options.retries, workers=workers)
        work = [(spec, runs.pop(spec.config_hash, None)) for spec in pending]
        try:
            return dispatcher.run(work, Capacity(pending, gpus, options.max_concurrent))
        except Exception as error:  # noqa: BLE001 - sorted by `escaped`
            escaped("the sweep", error, recorder)
            return True  # not a trial's fault (those are retried and recorded): stop, resumable

    return run_sweep(tracker, progress, live, options=options, name=name, body=body)


def run_sweep(tracker: Tracker, progress: SweepProgress, live: LiveLine, *, options: SweepOptions, name: str,
              body: Callable[[Recorder, Path, str], bool]) -> SweepOutcome:
    """What spans every fit of a sweep (one outbox and its writer thread, one Recorder) around `body`,
    which runs the fits (given the recorder, the storage path and the driver's start time) and says
    whether the sweep was stopped."""
    storage = Path(options.storage).resolve()
    outbox = Outbox(tracker, options.outage_limit)
    recorder = Recorder(outbox, CheckpointStore(checkpoint_root(storage, name)), progress, live, with_gpus())
    started = time.strftime("%Y%m%dT%H%M%S")
    outbox.start_writer()  # Tune's callbacks only queue writes; this thread makes them
    try:
        stopped = body(recorder, storage, started)
    except BaseException:
        outbox.stop_writer()
        if outbox.down_since is None:  # what the store can take now (the KILLED marks)
            with contextlib.suppress(Exception):
                outbox.flush()
        raise
    finally:
        live.close()
    # Trials that ended during an outage are recorded once the store is back (or the limit passes).
    outbox.drain(lambda: live.show(progress.counts(), force=True, note=outbox.status()))
    return SweepOutcome(recorder.finished, list(recorder.failed), stopped)


def escaped(what: str, error: Exception, recorder: Recorder) -> None:
    """A fault that escaped the trials' runner: an outage past the limit, or a write the store refused,
    stops the sweep with its own error; any other is reported on one line."""
    outbox = recorder.outbox
    if outbox.gave_up:  # raised in the outbox's tick, which Tune may wrap
        raise TrackingUnreachable(outbox.gave_up) from None
    if outbox.refused is not None:
        raise outbox.refused from error
    recorder.live.echo(f"{what} stopped by an error: {one_line(error, 300)}")


def run_fit(what: str, expected: int, recorder: Recorder, fit: Callable[..., None], storage: Path,
            folder: str) -> bool:
    """One Tuner.fit() (`fit(folder=...)`) of `expected` trials (a search's); True if it was stopped
    (Ctrl-C: nothing may follow), False if what follows may run. Its folder goes once MLflow holds every trial FINISHED."""
    outbox, before = recorder.outbox, recorder.finished
    try:
        fit(folder=folder)
    except Exception as error:  # noqa: BLE001 - sorted by `escaped`
        escaped(what, error, recorder)
    else:
        if recorder.unended():
            return True  # Tune caught Ctrl-C and ended the fit early
    finally:
        recorder.interrupt_unfinished()
    if recorder.finished - before == expected:
        path = storage / folder
        outbox.then(lambda: shutil.rmtree(path, ignore_errors=True))  # once MLflow holds them all FINISHED
    return False
