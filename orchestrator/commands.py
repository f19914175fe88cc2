"""What the commands do, as plain functions; cli.py only parses flags and maps errors to exit codes."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, TextIO

from orchestrator.checkpoints import CheckpointStore
from orchestrator.grid import Grid, TrialSpec, load_grid
from orchestrator.progress import Counts, LiveLine, SweepProgress, eta
from orchestrator.tracking import RunState, Tracker
from trainers.data import DataError, check_available

if TYPE_CHECKING:
    from orchestrator.trainable import TrialFunction


@dataclass(frozen=True)
class Plan:
    """A grid against its MLflow experiment: which trials are FINISHED, which still have to run."""

    grid: Grid
    experiment: str
    runs: dict[str, RunState]
    pending: list[TrialSpec]

    @property
    def finished(self) -> int:
        return len(self.grid.trials) - len(self.pending)


def plan(grid: Grid, tracking_uri: str, experiment: str) -> Plan:
    """Skip-finished: the trials without a FINISHED run, read without creating anything."""
    tracker = Tracker.existing(tracking_uri, experiment)
    runs = tracker.runs_by_hash() if tracker else {}
    pending = [spec for spec in grid.trials if getattr(runs.get(spec.config_hash), "status", None) != "FINISHED"]
    return Plan(grid, experiment, runs, pending)


def _data_errors(trials: list[TrialSpec]) -> list[DataError]:
    """One error per distinct (dataset, data_root) of these trials whose files are not on disk."""
    errors = []
    for dataset, root in sorted({(t.config.dataset, t.config.data_root) for t in trials}):
        try:
            check_available(dataset, root)
        except DataError as error:
            errors.append(error)
    return errors


def check_data(trials: list[TrialSpec]) -> None:
    """Every data set these trials need is on disk (raises the DataError of the first that is not)."""
    errors = _data_errors(trials)
    if errors:
        raise errors[0]


def _print_plan(work: Plan, out: TextIO) -> None:
    for spec in work.pending:
        r = spec.resources
        out.write(f"to run  {spec.config_hash}  {spec.label}  cpu={r.cpu:g} gpu={r.gpu:g} ~{r.memory_gb:g} GB\n")
    for error in _data_errors(work.pending):
        out.write(f"note: {error} (a real run stops here)\n")
    out.write(f"{len(work.grid.trials)} trials: {work.finished} finished, {len(work.pending)} to run\n")


def run_grid(path: str, *, tracking_uri: str, experiment: str | None, address: str | None, dry_run: bool,
             max_concurrent: int | None, max_failures: int, storage: str, out: TextIO | None = None,
             trial: TrialFunction | None = None) -> bool:
    """Expand, skip finished trials, run the rest; True when every trial of the grid is FINISHED.

    `trial` replaces trainers.trial.run_trial (the benchmark's sleeping trial, the tests' faults).
    Ray is started here unless this process is connected already.
    """
    out = out or sys.stdout
    grid = load_grid(path)
    work = plan(grid, tracking_uri, experiment or grid.name)
    if dry_run:
        _print_plan(work, out)
        return True
    check_data(work.pending)
    total = len(grid.trials)
    if not work.pending:
        out.write(f"{total} trials: {total} finished, 0 failed, 0 not run\n")
        return True
    from orchestrator.sweep import checkpoint_root, run_sweep, start_ray  # Ray is heavy: import it only to run
    from trainers.trial import run_trial

    tracker = Tracker(tracking_uri, work.experiment)  # the driver creates the experiment before any trial
    _describe(tracker, grid)
    root = Path(storage).resolve()
    _remove_stale_checkpoints(checkpoint_root(root, work.experiment), work)
    out.write(f"{work.experiment}: {len(work.pending)} of {total} trials to run, tracking at {tracking_uri}\n")
    start_ray(address)
    progress = _progress(work)
    outcome = run_sweep(work.pending, tracker, work.runs, progress, LiveLine(out), storage=root,
                        name=work.experiment, max_concurrent=max_concurrent, max_failures=max_failures,
                        trial=trial or run_trial)
    done = work.finished + len(outcome.finished)
    missing = total - done - len(outcome.failed)
    out.write(f"{total} trials: {done} finished, {len(outcome.failed)} failed, {missing} not run\n")
    return done == total


def _describe(tracker: Tracker, grid: Grid) -> None:
    """Experiment note and landing view, run names from the settings that vary, the code version."""
    from orchestrator.gridfile import parse_grid
    from orchestrator.runlog import code_version, describe_experiment, grid_axes, run_names

    description = parse_grid(Path(grid.path)).description
    describe_experiment(tracker.client, tracker.experiment_id, grid.path, description, grid_axes(grid.trials))
    tracker.run_names = run_names(grid.trials)
    tracker.code_version = code_version()


def _progress(work: Plan) -> SweepProgress:
    """Counts at the start of the sweep: earlier runs' GPU-hours and mean duration included."""
    grid_runs = {s.config_hash: work.runs[s.config_hash] for s in work.grid.trials if s.config_hash in work.runs}
    return SweepProgress(total=len(work.grid.trials), finished=work.finished,
                         prior_mean_seconds=_mean_wall_seconds(grid_runs.values()),
                         gpu_hours={digest: run.gpu_hours for digest, run in grid_runs.items()})


def _mean_wall_seconds(runs: Iterable[RunState]) -> float | None:
    """Mean duration of the FINISHED runs that logged one: the basis of the ETA."""
    walls = [r.wall_seconds for r in runs if r.status == "FINISHED" and r.wall_seconds]
    return sum(walls) / len(walls) if walls else None


def _remove_stale_checkpoints(root: Path, work: Plan) -> None:
    """Checkpoints of trials that FINISHED (a driver was killed between recording and clean-up)."""
    store = CheckpointStore(root)
    finished = {digest for digest, run in work.runs.items() if run.status == "FINISHED"}
    for digest in store.digests() & finished:
        store.remove(digest)


def status_counts(path: str, tracking_uri: str, experiment: str | None) -> Counts:
    """finished / running / failed / pending trials of a grid, GPU-hours and ETA, from MLflow alone."""
    grid = load_grid(path)
    work = plan(grid, tracking_uri, experiment or grid.name)
    runs = [work.runs[s.config_hash] for s in grid.trials if s.config_hash in work.runs]
    finished = [r for r in runs if r.status == "FINISHED"]
    running = sum(r.status in ("RUNNING", "SCHEDULED") for r in runs)
    failed = sum(r.status == "FAILED" for r in runs)
    remaining = len(grid.trials) - len(finished) - failed
    return Counts(len(grid.trials), len(finished), running, failed, sum(r.gpu_hours for r in runs),
                  eta(remaining, _mean_wall_seconds(finished), running))
