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
import shutil
import time
from pathlib import Path
from typing import Iterator

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
    storage = Path(options.storage).resolve()
    outbox = Outbox(tracker, options.outage_limit)
    recorder = Recorder(outbox, CheckpointStore(checkpoint_root(storage, name)), progress, live, with_gpus())
    started = time.strftime("%Y%m%dT%H%M%S")
    stopped = False
    outbox.start_writer()  # Tune's callbacks only queue writes; this thread makes them
    try:
        count = -(-len(pending) // options.shard_size)
        for index, shard in enumerate(shards(pending, options.shard_size)):
            live.echo(f"shard {index + 1} of {count}: {len(shard)} trials")
            stopped = _run_one(index, shard, recorder, runs, trial, options, storage, shard_folder(name, started, index))
            if stopped:
                break
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


def _run_one(index: int, shard: list[TrialSpec], recorder: Recorder, runs: dict[str, RunState],
             trial: TrialFunction, options: SweepOptions, storage: Path, folder: str) -> bool:
    """One shard; True if it was stopped (no shard may follow), False if the next one may run."""
    outbox = recorder.outbox
    recorder.begin_shard(shard, runs)
    try:
        run_shard(shard, recorder, trial, storage=storage, folder=folder, retries=options.retries,
                  max_concurrent=options.max_concurrent)
    except Exception as error:  # noqa: BLE001 - an outage past the limit stops the sweep; any other fault, this shard
        if outbox.gave_up:  # raised in a Tune callback, which Tune may wrap
            raise TrackingUnreachable(outbox.gave_up) from None
        if outbox.refused is not None:
            raise outbox.refused from error
        recorder.live.echo(f"shard {index + 1} stopped by an error, going on with the next: "
                           f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
    else:
        if recorder.unended():
            return True  # Tune caught Ctrl-C and ended the fit early
    finally:
        recorder.interrupt_unfinished()
    if recorder.finished_in_shard == len(shard):
        path = storage / folder
        outbox.then(lambda: shutil.rmtree(path, ignore_errors=True))  # once MLflow holds them all FINISHED
    return False
