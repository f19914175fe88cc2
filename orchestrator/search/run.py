"""The search phase of a searched grid, and the reruns of each cell's best values once it has run.

`zfsweep run` of a grid with a `search:` block runs three phases under one lease
(orchestrator/commands.py): the grid's own (preset) trials, then `search` here (every cell's owed
samples in one Tuner, orchestrator/search/tuner.py), then each cell's best values on every seed
(`best`, orchestrator/grid/cells.py tuned_specs). Each phase skips what earlier drivers finished.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable, TextIO

from orchestrator.grid.cells import Cell, tuned_specs
from orchestrator.grid.expand import Grid
from orchestrator.search.history import Sample, finished_samples
from orchestrator.search.tuner import run_search_fit
from orchestrator.store.tracking import Tracker
from orchestrator.sweep.checkpoints import folder_name
from orchestrator.sweep.options import SweepOptions
from orchestrator.sweep.progress import LiveLine, SweepProgress
from orchestrator.sweep.recorder import Recorder, SweepOutcome
from orchestrator.sweep.driver import run_fit, run_sweep
from orchestrator.sweep.trainable import TrialFunction
from orchestrator.sweep.tune import start_ray


def history(tracker: Tracker, cells: tuple[Cell, ...]) -> dict[str, list[Sample]]:
    return {cell.search_id: finished_samples(tracker.client, tracker.experiment_id, cell.search_id, cell.block.keys)
            for cell in cells}


def owed(cells: tuple[Cell, ...], finished: dict[str, list[Sample]]) -> int:
    return sum(max(0, cell.block.samples - len(finished.get(cell.search_id, []))) for cell in cells)


def search(cells: tuple[Cell, ...], tracker: Tracker, out: TextIO, *, options: SweepOptions, name: str,
           trial: TrialFunction) -> SweepOutcome | None:
    """Draw and run every cell's owed samples; None when none is owed."""
    finished = history(tracker, cells)
    count = owed(cells, finished)
    if count == 0:
        return None
    done = sum(min(len(finished.get(c.search_id, [])), c.block.samples) for c in cells)
    out.write(f"search: {count} samples to draw in {len(cells)} cells ({done} finished before), "
              f"scored on a held-out {cells[0].block.validation:.0%} of each task's training images\n")

    def body(recorder: Recorder, storage: Path, started: str) -> bool:
        fit = functools.partial(run_search_fit, list(cells), finished, recorder, trial, storage=storage,
                                retries=options.retries, max_concurrent=options.max_concurrent,
                                on_sample=recorder.expect)
        return run_fit("the search", count, recorder, fit, storage, f"{folder_name(name)}/{started}-search")

    progress = SweepProgress(total=count, finished=0, prior_mean_seconds=None, settled_hours=0.0)
    return run_sweep(tracker, progress, LiveLine(out), options=options, name=name, body=body)


def best(samples: list[Sample]) -> tuple[dict[str, Any], float] | None:
    """The values and score of the best sample that ran every task; None if none did."""
    complete = [s for s in samples if not s.stopped_early and s.score is not None]
    if not complete:
        return None
    top = max(complete, key=lambda s: s.score or 0.0)
    return top.values, float(top.score or 0.0)


def search_and_tune(grid: Grid, cells: tuple[Cell, ...], tracker: Tracker, out: TextIO, *, options: SweepOptions,
                    name: str, trial: TrialFunction, rerun: Callable[[Grid], bool], stopped_line: str) -> bool:
    """The search, then `rerun` of a grid of each cell's best values on every seed; True when all finished.
    A search stopped (Ctrl-C) ends with `stopped_line`."""
    start_ray(options.address)
    outcome = search(cells, tracker, out, options=options, name=name, trial=trial)
    if outcome is not None and outcome.stopped:
        out.write(stopped_line + "\n")
        return False
    finished, reruns = history(tracker, cells), []
    for cell in cells:
        found = best(finished[cell.search_id])
        if found is None:
            out.write(f"search of {cell.label}: no sample ran every task; its best is not rerun\n")
            continue
        values, score = found
        out.write(f"search of {cell.label}: best {', '.join(f'{k}={v}' for k, v in values.items())} "
                  f"(validation Avg {score:.2f}), rerun on {len(cell.trials)} seed{'s' if len(cell.trials) > 1 else ''}\n")
        reruns += tuned_specs(cell, values)
    unique = tuple({spec.config_hash: spec for spec in reruns}.values())
    return bool(unique) and rerun(dataclasses.replace(grid, trials=unique))
