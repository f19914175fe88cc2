"""Whether a sweep's cost per trial stays flat as the grid grows: overhead, driver memory, Ray state.

For each N, in a fresh process (its own local Ray instance, so each peak RSS is its own): a grid
of N stand-in trials (each sleeps `--seconds` over its tasks and saves a real per-task
checkpoint) goes through `zfsweep run`'s own path, orchestrator.commands.run_grid: grid
expansion, skip-finished, the up-front check, the lease, the dispatcher of
orchestrator/sweep/dispatch.py with its Recorder writing every run into an SQLite MLflow store.
Per N it prints the overhead per trial ((wall - ideal) / N, ideal = N x seconds / slots), the
driver's peak RSS, the peak bytes of sweep state on disk (the storage path without the per-trial
checkpoints, sampled while the sweep runs), the seconds until the first trial ran (the workers
starting) and the overhead per trial after that; then the driver's RSS growth per trial between
the two largest N.

Targets (docs/scale.md): overhead at most 50 ms per trial at every N, growing at most 20% from
the smallest to the largest N; RSS growth at most 10 KB per trial; state on disk not growing with N.

Usage: python -m bench scale [--trials 400,1600,6400] [--slots 16] [--seconds 0.1]
The last output line is one JSON object: overhead_ms, after_startup_ms and state_bytes (N -> value),
rss_kb_per_trial.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from orchestrator.sweep.options import SweepOptions

if TYPE_CHECKING:  # the process that only starts one process per N imports neither torch nor Ray
    from catalog.config import TrialConfig
    from trainers.reports import EpochReport, TaskReport, TrialResult

TASKS = 5
SECONDS_ENV = "ZFSWEEP_BENCH_TRIAL_SECONDS"  # set before Ray starts: the workers inherit it
ROOT = Path(__file__).resolve().parents[1]


def stand_in_trial(config: TrialConfig, *, resume: dict[str, Any] | None = None,
                   on_task_end: Callable[[TaskReport], None] | None = None,
                   on_epoch_end: Callable[[EpochReport], None] | None = None) -> TrialResult:
    """A trial that sleeps its share of the stand-in's seconds per task and computes nothing (nor imports
    the trainer: what a worker costs to start is Ray's and the checkpoints', not a model's)."""
    from trainers.reports import TaskReport, TrialResult

    done = int(resume["done"]) if resume else 0
    for task in range(done, TASKS):
        time.sleep(float(os.environ[SECONDS_ENV]) / TASKS)
        if on_task_end is not None:
            on_task_end(TaskReport(task, 100.0, [100.0], {"done": task + 1}))
    return TrialResult(avg_acc=100.0, last_acc=100.0, forgetting=0.0, acc=[100.0] * TASKS, peak_memory_gb=0.0,
                       epoch_seconds=0.0, forward_passes=0, wall_seconds=0.0, trainable_params=0)


def _state_bytes(storage: Path) -> int:
    """Bytes under the storage path, the per-trial checkpoints aside: Ray's experiment folders."""
    total = 0
    for folder, subfolders, files in os.walk(storage):
        subfolders[:] = [name for name in subfolders if name != "zfsweep-checkpoints"]
        for name in files:
            try:
                total += os.path.getsize(os.path.join(folder, name))
            except OSError:
                pass  # removed meanwhile (a finished trial's error file)
    return total


class _Stamped(io.StringIO):
    """The sweep's output with the time of each line: how long until the first trial ran."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        now = time.monotonic()
        self.lines += [(now, line) for line in text.splitlines() if line]
        return super().write(text)

    def startup(self, started: float) -> float:
        """Seconds from the sweep's start to its first running trial (the workers starting)."""
        return next((when - started for when, line in self.lines if " running, " in line and " 0 running, " not in line),
                    float("nan"))


def one(trials: int, slots: int, seconds: float) -> dict[str, Any]:
    """One N in this process: the sweep, its wall time, peak RSS and peak state on disk."""
    from orchestrator.commands import run_grid
    from orchestrator.sweep.tune import start_ray

    os.environ[SECONDS_ENV] = str(seconds)
    with tempfile.TemporaryDirectory(prefix="zfsweep-bench-scale-") as scratch:
        folder = Path(scratch)
        grid = folder / "scale.yaml"
        grid.write_text("name: scale\nfixed: {dataset: digits, method: aper, epochs: 1}\n"
                        f"seeds: [{', '.join(str(seed) for seed in range(trials))}]\n")
        start_ray(None, num_cpus=slots)
        storage = folder / "ray"
        peak, done = [0], threading.Event()

        def sample() -> None:
            while not done.wait(1.0):
                peak[0] = max(peak[0], _state_bytes(storage))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out = _Stamped()
        started = time.monotonic()
        ok = run_grid(str(grid), SweepOptions(storage=str(storage), retries=0),
                      tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", experiment=None, out=out, trial=stand_in_trial)
        wall = time.monotonic() - started
        done.set()
        sampler.join()
        assert ok, "every benchmark trial must finish: " + out.getvalue()[-500:]
    ideal = trials * seconds / slots
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KB
    startup = out.startup(started)
    return {"trials": trials, "wall_seconds": round(wall, 1), "ideal_seconds": round(ideal, 1),
            "overhead_ms": round((wall - ideal) / trials * 1000, 1), "peak_rss_kb": rss_kb, "state_bytes": peak[0],
            "startup_seconds": round(startup, 1),
            "after_startup_ms": round((wall - startup - ideal) / trials * 1000, 1)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", default="400,1600,6400", help="grid sizes, comma-separated")
    parser.add_argument("--slots", type=int, default=16, help="trials at once (Ray logical CPUs)")
    parser.add_argument("--seconds", type=float, default=0.1, help="duration of one stand-in trial")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a single N, in this process
    args = parser.parse_args(argv)
    sizes = sorted(int(n) for n in args.trials.split(","))
    if args.one:
        print(json.dumps(one(sizes[0], args.slots, args.seconds)))
        return 0
    rows = []
    for trials in sizes:
        command = [sys.executable, "-m", "bench", "scale", "--one", "--trials", str(trials), "--slots", str(args.slots),
                   "--seconds", str(args.seconds)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"N={trials}: exit code {done.returncode}: {done.stderr.strip()[-2000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(f"N={trials}: overhead {row['overhead_ms']} ms/trial (wall {row['wall_seconds']} s, ideal "
              f"{row['ideal_seconds']} s), driver peak RSS {row['peak_rss_kb'] / 1024:.0f} MB, "
              f"sweep state on disk {row['state_bytes'] / 1e6:.2f} MB, "
              f"{row['startup_seconds']} s to the first running trial, "
              f"{row['after_startup_ms']} ms/trial after it", flush=True)
    growth = ((rows[-1]["peak_rss_kb"] - rows[-2]["peak_rss_kb"]) / (sizes[-1] - sizes[-2])) if len(rows) > 1 else None
    if growth is not None:
        print(f"driver RSS growth between N={sizes[-2]} and N={sizes[-1]}: {growth:.2f} KB/trial")
    print(json.dumps({"overhead_ms": {str(r["trials"]): r["overhead_ms"] for r in rows},
                      "rss_kb_per_trial": None if growth is None else round(growth, 2),
                      "state_bytes": {str(r["trials"]): r["state_bytes"] for r in rows},
                      "after_startup_ms": {str(r["trials"]): r["after_startup_ms"] for r in rows},
                      "slots": args.slots, "seconds": args.seconds}))
    return 0
