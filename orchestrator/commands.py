"""What the commands do, as plain functions; cli.py only parses flags and maps errors to exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from orchestrator.grid import Grid, TrialSpec, load_grid
from orchestrator.tracking import Tracker
from trainers.data import check_available

Echo = Callable[[str], None]
RAY_STORAGE = "ray_results"


def check_data(grid: Grid) -> None:
    """Every data set the grid needs is on disk (raises DataError naming the first that is not)."""
    for dataset, root in sorted({(t.config.dataset, t.config.data_root) for t in grid.trials}):
        check_available(dataset, root)


def plan(grid: Grid, tracking_uri: str, experiment: str) -> tuple[list[TrialSpec], int]:
    """(trials still to run, number already FINISHED), read without creating anything."""
    tracker = Tracker.existing(tracking_uri, experiment)
    finished = tracker.finished_hashes() if tracker else set()
    pending = [spec for spec in grid.trials if spec.config_hash not in finished]
    return pending, len(grid.trials) - len(pending)


def run_grid(path: str, *, tracking_uri: str, experiment: str | None, address: str | None,
             dry_run: bool, max_concurrent: int | None, max_failures: int, echo: Echo) -> bool:
    """Expand, skip finished trials, run the rest; True when every trial of the grid is FINISHED."""
    grid = load_grid(path)
    check_data(grid)
    experiment = experiment or grid.name
    pending, finished = plan(grid, tracking_uri, experiment)
    if dry_run:
        for spec in pending:
            echo(f"to run  {spec.config_hash}  {spec.label}")
        echo(f"{len(grid.trials)} trials: {finished} finished, {len(pending)} to run")
        return True
    if not pending:
        echo(f"{len(grid.trials)} trials: {finished} finished, 0 to run")
        return True
    from orchestrator.sweep import run_sweep, start_ray  # Ray is heavy: import it only to run

    tracker = Tracker(tracking_uri, experiment)  # the driver creates the experiment before any trial
    echo(f"{experiment}: {len(pending)} of {len(grid.trials)} trials to run, tracking at {tracking_uri}")
    start_ray(address)
    outcome = run_sweep(pending, tracker, storage=Path(RAY_STORAGE).resolve(), name=experiment,
                        max_concurrent=max_concurrent, max_failures=max_failures, echo=echo)
    done = finished + len(outcome.finished)
    missing = len(grid.trials) - done - len(outcome.failed)
    echo(f"{len(grid.trials)} trials: {done} finished, {len(outcome.failed)} failed, {missing} not run")
    return done == len(grid.trials)


def status_counts(path: str, tracking_uri: str, experiment: str | None) -> dict[str, int]:
    """finished / running / failed / missing counts of a grid's trials, from MLflow alone."""
    grid = load_grid(path)
    tracker = Tracker.existing(tracking_uri, experiment or grid.name)
    runs = tracker.runs_by_hash() if tracker else {}
    counts = {"finished": 0, "running": 0, "failed": 0, "missing": 0}
    names = {"FINISHED": "finished", "RUNNING": "running", "SCHEDULED": "running"}
    for spec in grid.trials:
        run = runs.get(spec.config_hash)
        counts["missing" if run is None else names.get(run.status, "failed")] += 1
    return counts
