"""A sweep of any size as consecutive shards, one Ray Tune `Tuner.fit()` each, on one Ray instance.

Ray Tune's controller keeps every trial of a fit for the whole fit and rewrites all of them
into its experiment state, by design (ray-project/ray#64231); Ray's own guidance is Tune for
fewer than 20,000 models (doc/source/ray-overview/use-cases.rst), and `grids/full.yaml` holds
20,824. So the trials still to run go through Tune `shard_size` at a time: a fit's bookkeeping is
bounded by the shard, not the grid. What spans the shards is ours: one lease (taken by the
caller), one outbox (orchestrator/store/outbox.py), one Recorder and one progress line with one ETA.

Nothing else changes for a trial: skip-finished, per-trial checkpoints by hash, retries
(Tune's FailureConfig inside a shard) and outage handling behave as in one fit. A fault that
escapes a shard's fit is reported in one line and the next shard runs; a shard that ends with
trials neither finished nor failed was stopped (Ctrl-C, which Tune catches), and no shard
follows it. A shard's Ray experiment folder is removed once MLflow holds all of its trials
FINISHED; one with failures is kept for its error files. A driver killed in shard k leaves
shards 0..k-1 FINISHED in MLflow, so the next driver's plan starts with the first unfinished trial.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator

from orchestrator.sweep.checkpoints import CheckpointStore, folder_name
from orchestrator.grid.expand import TrialSpec
from orchestrator.sweep.options import SweepOptions
from orchestrator.store.outbox import Outbox, TrackingUnreachable
from orchestrator.sweep.progress import LiveLine, SweepProgress
from orchestrator.sweep.recorder import Recorder, SweepOutcome
from orchestrator.store.runindex import RunState
from orchestrator.sweep.tune import checkpoint_root, run_shard, with_gpus
from orchestrator.sweep.trainable import TrialFunction
from orchestrator.store.tracking import Tracker


def shards(specs: list[TrialSpec], size: int) -> Iterator[list[TrialSpec]]:
    """Consecutive slices of at most `size` trials, in grid order."""
    for start in range(0, len(specs), size):
        yield specs[start:start + size]


def shard_folder(experiment: str, started: str, index: int) -> str:
    """<experiment>/<driver start>-shard<index> under the storage path: unique per driver and shard."""
    return f"{folder_name(experiment)}/{started}-shard{index:04d}"


def run_shards(pending: list[TrialSpec], tracker: Tracker, runs: dict[str, RunState], progress: SweepProgress,
               live: LiveLine, *, options: SweepOptions, name: str, trial: TrialFunction) -> SweepOutcome:
    """Run `pending` shard by shard on the connected Ray instance; what finished, what failed."""
    def body(recorder: Recorder, storage: Path, started: str) -> bool:
        count = -(-len(pending) // options.shard_size)
        for index, shard in enumerate(shards(pending, options.shard_size)):
            live.echo(f"shard {index + 1} of {count}: {len(shard)} trials")
            recorder.begin_shard(shard, runs)
            fit = functools.partial(run_shard, shard, recorder, trial, storage=storage, retries=options.retries,
                                    max_concurrent=options.max_concurrent)
            if run_fit(f"shard {index + 1}", len(shard), recorder, fit, storage, shard_folder(name, started, index)):
                return True
        return False

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
        if outbox.down_since is None:  # what the store can take now (the KILLED marks), as before shards
            with contextlib.suppress(Exception):
                outbox.flush()
        raise
    finally:
        live.close()
    # Trials that ended during an outage are recorded once the store is back (or the limit passes).
    outbox.drain(lambda: live.show(progress.counts(), force=True, note=outbox.status()))
    return SweepOutcome(recorder.finished, list(recorder.failed), stopped)


def run_fit(what: str, expected: int, recorder: Recorder, fit: Callable[..., None], storage: Path,
            folder: str) -> bool:
    """One Tuner.fit() (`fit(folder=...)`) of `expected` trials; True if it was stopped (no fit may
    follow), False if the next one may run."""
    outbox = recorder.outbox
    try:
        fit(folder=folder)
    except Exception as error:  # noqa: BLE001 - an outage past the limit stops the sweep; any other fault, this shard
        if outbox.gave_up:  # raised in a Tune callback, which Tune may wrap
            raise TrackingUnreachable(outbox.gave_up) from None
        if outbox.refused is not None:
            raise outbox.refused from error
        recorder.live.echo(f"{what} stopped by an error, going on with the next: "
                           f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
    else:
        if recorder.unended():
            return True  # Tune caught Ctrl-C and ended the fit early
    finally:
        recorder.interrupt_unfinished()
    if recorder.finished_in_shard == expected:
        path = storage / folder
        outbox.then(lambda: shutil.rmtree(path, ignore_errors=True))  # once MLflow holds them all FINISHED
    return False
