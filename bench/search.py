"""What ASHA saves a search, and what it costs the best it finds.

The same search of one cell's lr (a `search:` block, orchestrator/search/) runs twice through
`zfsweep run`'s machinery (grid, local Ray, the Tuner with its per-cell searcher and scheduler,
the SQLite MLflow store): once with `scheduler: asha`, once with `scheduler: none`. The trial is a
stand-in of 10 short tasks whose validation score is a known noisy curve of lr (a peak at lr 1e-2,
falling by task as accuracy on more classes does), so the benchmark measures the search and not
the trainer. Printed per run: the samples, the tasks they trained and the best validation score.
The last line is one JSON object with `asha_task_fraction` (tasks trained with ASHA over without;
target at most 0.5) and `best_gap` (best without minus best with, in points; target at most 1).

Usage: python -m bench search [--samples 18] [--seconds 0.2]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from catalog.config import TrialConfig
from trainers.trial import EpochReport, TaskReport, TrialResult

TASKS = 10
LOG = "ZFSWEEP_BENCH_SEARCH_LOG"  # the file each trained task is logged to (set before Ray starts)
GRID = """name: NAME
fixed: {dataset: digits, method: aper, optimizer: zo-sgd, epochs: 1, tasks: 10}
seeds: [1993]
search:
  space: {lr: {loguniform: [1.0e-5, 1.0]}}
  samples: SAMPLES
  algorithm: optuna
  scheduler: SCHEDULER
  validation: 0.2
"""


def score(lr: float, task: int) -> float:
    """Validation accuracy after `task`: a peak at lr 1e-2, a fixed per-lr offset within +-1 point."""
    offset = int(hashlib.sha256(repr(lr).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF * 2.0 - 1.0
    return 70.0 - 8.0 * (math.log10(lr) + 2.0) ** 2 - 1.5 * task + offset


def stand_in(config: TrialConfig, *, resume: dict[str, Any] | None = None,
             on_task_end: Callable[[TaskReport], None] | None = None,
             on_epoch_end: Callable[[EpochReport], None] | None = None) -> TrialResult:
    """TASKS tasks of `--seconds` each; only a trial with a held-out split is scored on it."""
    lr, held = float(config.lr), []
    for task in range(TASKS):
        time.sleep(float(os.environ.get("ZFSWEEP_BENCH_SEARCH_SECONDS", "0.2")))
        if config.validation > 0:  # a search sample: the tasks the comparison counts
            held.append(score(lr, task))
            with open(os.environ[LOG], "a") as log:
                log.write(f"{lr!r} {task}\n")
        if on_task_end is not None:
            on_task_end(TaskReport(task, 50.0, [50.0], {}, list(held)))
    return TrialResult(avg_acc=50.0, last_acc=50.0, forgetting=0.0, acc=[50.0] * TASKS, peak_memory_gb=0.0,
                       epoch_seconds=0.0, forward_passes=0, wall_seconds=0.0, trainable_params=0, val_acc=held,
                       val_avg=sum(held) / len(held) if held else None)


def search_once(folder: Path, scheduler: str, samples: int) -> dict[str, Any]:
    """One searched grid through run_grid; its samples, trained tasks and best validation score."""
    from mlflow.tracking import MlflowClient

    from catalog.records import PHASE_TAG, VALIDATION_METRIC
    from orchestrator.commands import run_grid
    from orchestrator.sweep.options import SweepOptions

    name = f"search-{scheduler}"
    grid = folder / f"{name}.yaml"
    grid.write_text(GRID.replace("NAME", name).replace("SAMPLES", str(samples)).replace("SCHEDULER", scheduler))
    log = Path(os.environ[LOG])
    before = len(log.read_text().splitlines()) if log.exists() else 0
    uri = f"sqlite:///{folder / 'store.db'}"
    started = time.monotonic()
    run_grid(str(grid), SweepOptions(storage=str(folder / "ray"), retries=0), tracking_uri=uri, experiment=None,
             out=io.StringIO(), trial=stand_in)
    wall = time.monotonic() - started
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id], max_results=1000)
    sampled = [r for r in runs if r.data.tags.get(PHASE_TAG) == "search"]
    complete = [r.data.metrics[VALIDATION_METRIC] for r in sampled
                if r.data.tags.get("zfsweep.stopped_early") != "true" and VALIDATION_METRIC in r.data.metrics]
    lines = log.read_text().splitlines()[before:]
    return {"scheduler": scheduler, "samples": len(sampled), "tasks_trained": len(lines),
            "stopped_early": sum(r.data.tags.get("zfsweep.stopped_early") == "true" for r in sampled),
            "best": round(max(complete), 3), "wall_seconds": round(wall, 1)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench search")
    parser.add_argument("--samples", type=int, default=18)
    parser.add_argument("--seconds", type=float, default=0.2, help="seconds per stand-in task")
    args = parser.parse_args(argv)
    from ray import cloudpickle

    from orchestrator.sweep.tune import start_ray

    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        os.environ[LOG] = str(folder / "tasks.log")
        os.environ["ZFSWEEP_BENCH_SEARCH_SECONDS"] = str(args.seconds)
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        start_ray(None, num_cpus=2)
        results = [search_once(folder, scheduler, args.samples) for scheduler in ("asha", "none")]
    for result in results:
        print(f"{result['scheduler']:>5}: {result['samples']} samples, {result['tasks_trained']} tasks trained "
              f"({result['stopped_early']} stopped early), best validation {result['best']:.2f}, "
              f"{result['wall_seconds']:.0f} s")
    asha, plain = results
    summary = {"asha_task_fraction": round(asha["tasks_trained"] / plain["tasks_trained"], 3),
               "best_gap": round(plain["best"] - asha["best"], 3), "samples": args.samples, "tasks": TASKS,
               "asha": asha, "none": plain}
    print(json.dumps(summary))
    return 0
