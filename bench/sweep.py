"""Orchestration overhead of `zfsweep run` and the cost of deciding skip-finished.

1. Overhead: N trials of a fixed duration (a stand-in trial that sleeps through its tasks, with
   real per-task checkpoints and reports) go through the same machinery as a real sweep: grid
   expansion, the local Ray instance, run_pending (the dispatcher) with per-trial resources, the Recorder writing
   every run to an SQLite MLflow store, and checkpoint clean-up. overhead_ratio is the wall time
   of run_pending over the ideal N x duration / slots (target: at most 1.10).
2. Skip-finished: a store holding S FINISHED runs (created through the Tracker, as sweeps create
   them); skip_finished_seconds is the time of `plan`, which reads the experiment and decides which
   of the grid's trials still have to run (target: under 5 s).

Usage: python -m bench sweep [--trials 200] [--seconds 2.5] [--slots CPUS] [--finished 5000]
The last output line is one JSON object. `--slots` is the number of trials Ray runs at once
(logical CPUs of the local instance, default: this machine's CPU count). `startup_seconds` is the
part of the sweep before the first trial started: Ray workers booting and importing the trainer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from catalog.config import TrialConfig
from trainers.trial import EpochReport, TaskReport, TrialResult

TASKS = 5


def sleeping_trial(config: TrialConfig, *, resume: dict[str, Any] | None = None,
                   on_task_end: Callable[[TaskReport], None] | None = None,
                   on_epoch_end: Callable[[EpochReport], None] | None = None) -> TrialResult:
    """A trial of `config.epochs` tenths of a second per task that computes nothing."""
    done = int(resume["done"]) if resume else 0
    for task in range(done, TASKS):
        time.sleep(int(config.epochs or 1) / 10.0)
        if on_task_end is not None:
            on_task_end(TaskReport(task, 100.0, [100.0], {"done": task + 1}))
    return TrialResult(avg_acc=100.0, last_acc=100.0, forgetting=0.0, acc=[100.0] * TASKS, peak_memory_gb=0.0,
                       epoch_seconds=0.0, forward_passes=0, wall_seconds=0.0, trainable_params=0)


def _grid(folder: Path, name: str, trials: int, seconds: float) -> Path:
    """A grid of `trials` digits trials (distinct seeds) whose sleeping tasks add up to `seconds`."""
    tenths = max(1, round(seconds * 10 / TASKS))
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\nfixed: {{dataset: digits, method: aper, epochs: {tenths}}}\n"
                    f"seeds: [{', '.join(str(seed) for seed in range(trials))}]\n")
    return path


def overhead(folder: Path, trials: int, seconds: float, slots: int) -> dict[str, float]:
    from orchestrator.plan.plan import plan
    from orchestrator.grid.expand import load_grid
    from orchestrator.sweep.options import SweepOptions
    from orchestrator.sweep.progress import LiveLine, SweepProgress
    from orchestrator.sweep.driver import run_pending
    from orchestrator.sweep.tune import start_ray
    from orchestrator.store.tracking import Tracker

    uri = f"sqlite:///{folder / 'overhead.db'}"
    grid = load_grid(_grid(folder, "overhead", trials, seconds))
    duration = TASKS * grid.trials[0].config.epochs / 10.0
    work = plan(grid, uri, grid.name)
    tracker = Tracker(uri, grid.name)
    start_ray(None, num_cpus=slots)
    progress = SweepProgress(len(grid.trials), 0)
    started = time.monotonic()
    outcome = run_pending(work.pending, tracker, work.runs, progress, LiveLine(sys.stderr),
                          options=SweepOptions(storage=str(folder / "ray"), retries=0), name=grid.name,
                          trial=sleeping_trial)
    wall = time.monotonic() - started
    ideal = len(grid.trials) * duration / slots
    assert outcome.finished == len(grid.trials), "every benchmark trial must finish"
    return {"trials": len(grid.trials), "trial_seconds": duration, "slots": slots, "sweep_seconds": round(wall, 2),
            "ideal_seconds": round(ideal, 2), "startup_seconds": round(float(progress.first_start) - started, 2),
            "overhead_ratio": round(wall / ideal, 3)}


def skip_finished(folder: Path, finished: int) -> dict[str, float]:
    from orchestrator.plan.plan import plan
    from orchestrator.grid.expand import load_grid
    from orchestrator.store.tracking import Tracker

    uri = f"sqlite:///{folder / 'finished.db'}"
    grid = load_grid(_grid(folder, "finished", finished + 100, 0.1))
    tracker = Tracker(uri, grid.name)
    filled = time.perf_counter()
    for spec in grid.trials[:finished]:
        run_id = tracker.start(spec, None)
        tracker.finish(run_id, {"avg_acc": 1.0, "last_acc": 1.0, "forgetting": 0.0}, [(0, 1.0)], 0.0)
    filled = time.perf_counter() - filled
    started = time.perf_counter()
    work = plan(grid, uri, grid.name)
    seconds = time.perf_counter() - started
    assert work.finished == finished and len(work.pending) == 100
    return {"finished_runs": finished, "store_fill_seconds": round(filled, 1), "skip_finished_seconds": round(seconds, 3)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=2.5, help="duration of one trial")
    parser.add_argument("--slots", type=int, default=os.cpu_count() or 1, help="trials at once (Ray logical CPUs)")
    parser.add_argument("--finished", type=int, default=5000, help="FINISHED runs in the skip-finished store")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zfsweep-bench-") as scratch:
        folder = Path(scratch)
        result = {**skip_finished(folder, args.finished), **overhead(folder, args.trials, args.seconds, args.slots)}
    print(json.dumps(result))
    return 0
