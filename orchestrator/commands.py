"""What the commands do, as plain functions; cli.py only parses flags and maps errors to exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, TextIO

from orchestrator.grid.cells import Cell, search_cells, tag_presets
from orchestrator.grid.checks import asks_ray, check_trials, find_problems
from orchestrator.grid.expand import Grid, TrialSpec
from orchestrator.grid.expand import load_grid as expand_grid
from orchestrator.grid.schema import check_name
from orchestrator.plan.plan import Plan, plan, quick_http_failures
from orchestrator.sweep.options import SweepOptions
from orchestrator.sweep.progress import Counts, LiveLine, SweepProgress, eta

if TYPE_CHECKING:  # MLflow, Ray and torch load only in the commands that use them (a fast CLI)
    from orchestrator.store.tracking import RunState, Tracker
    from orchestrator.sweep.dispatch import Workers
    from orchestrator.sweep.trainable import TrialFunction


Overrides = Optional[Mapping[str, Any]]  # `--set KEY=VALUE` settings (orchestrator/grid/overrides.py)


def load_grid(path: str, overrides: Overrides = None) -> Grid:
    """The expanded grid; a searched grid's trials tagged with their cells, its cells checked (exit 2)."""
    grid = expand_grid(path, overrides)
    cells = search_cells(grid)
    return tag_presets(grid, cells) if cells else grid


def dry_run_grid(work: Plan, out: TextIO, *, tracking_uri: str, address: str | None, as_json: bool = False,
                 verbose: bool = False, gpus: float | None = None) -> None:
    """The plan (orchestrator/plan/dryrun.py): the up-front check's findings as notes, the cost, the counts."""
    from orchestrator.plan.dryrun import print_json, print_plan

    if as_json:
        print_json(work, out)
        return
    problems = tuple(str(problem) for problem in find_problems(work.grid, work.pending, address))
    print_plan(work, out, tracking_uri=tracking_uri, verbose=verbose, problems=problems, gpus=gpus, address=address)


def dry_run(path: str, *, tracking_uri: str, experiment: str | None, address: str | None, as_json: bool,
            verbose: bool, gpus: float | None, out: TextIO | None = None, overrides: Overrides = None) -> None:
    """`zfsweep run GRID --dry-run`: reads the grid and the store, writes nothing."""
    grid = load_grid(path, overrides)
    work = plan(grid, tracking_uri, check_name(grid.path, "--experiment", experiment or grid.name))
    dry_run_grid(work, out or sys.stdout, tracking_uri=tracking_uri, address=address, as_json=as_json,
                 verbose=verbose, gpus=gpus)
    cells = search_cells(grid)
    if cells and not as_json:
        (out or sys.stdout).write(search_line(cells) + "\n")


def search_line(cells: tuple[Cell, ...]) -> str:
    """What a searched grid adds to its own trials, in one line."""
    block, seeds = cells[0].block, len(cells[0].trials)
    return (f"search: {len(cells)} cells x {block.samples} samples of {', '.join(block.keys)} "
            f"({block.algorithm}, scheduler {block.scheduler}, {block.validation:.0%} of each class's training "
            f"images held out), then each cell's best on {seeds} seed{'s' if seeds > 1 else ''}: up to "
            f"{len(cells) * (block.samples + seeds)} more trials (samples already finished are not drawn again)")


def run_grid(path: str, options: SweepOptions = SweepOptions(), *, tracking_uri: str, experiment: str | None,
             out: TextIO | None = None, trial: TrialFunction | None = None, overrides: Overrides = None,
             resume_command: str = "") -> bool:
    """Expand, skip finished trials, run the rest; True when every trial of the grid is FINISHED.

    `trial` replaces trainers.trial.run_trial (the benchmark's sleeping trial, the tests' faults), which only
    the workers import.
    A sweep stopped by Ctrl-C ends with one line giving `resume_command` (the CLI's own command line).
    Ray is started here unless this process is connected already. Only one driver runs an
    experiment at a time (orchestrator/store/lease.py: a second raises LeaseRefused), one lease for
    the whole sweep (orchestrator/sweep/driver.py).
    """
    out = out or sys.stdout
    grid = load_grid(path, overrides)
    work = plan(grid, tracking_uri, check_name(grid.path, "--experiment", experiment or grid.name))
    total, name, to_run = len(grid.trials), work.experiment, len(work.pending)
    workers: Workers | None = None
    try:
        # Where the check joins Ray anyway, the first workers start during it; a local instance starts only
        # under the lease (`_run_pending`), so a mistake or a refused lease is told at once.
        if work.pending and asks_ray(options.address):
            workers = _first_workers(work.pending, options, name, trial)
        check_trials(grid, work.pending, options.address)  # settings, devices, resources, weights, data: exit 2 here
        if not to_run and (grid.source is None or grid.source.search is None):
            out.write(f"{total} trials: {total} finished, 0 failed, 0 not run\n")
            return True
        from orchestrator.store.lease import Lease
        from orchestrator.store.tracking import Tracker

        quick_http_failures()
        del work  # the sweep plans again under the lease; no second map of every run is kept meanwhile
        tracker = Tracker(tracking_uri, name)  # the driver creates the experiment before any trial
        with Lease(tracking_uri, tracker.experiment_id):
            # as the previous driver left it; passed on, not kept here, so the sweep can let it go
            done = _run_pending(plan(grid, tracking_uri, name), tracker, out, options, trial, resume_command, workers)
            cells = search_cells(grid)
            if not cells:
                return done
            from orchestrator.search.run import search_and_tune
            from trainers.trial import run_trial

            def rerun(best: Grid) -> bool:
                return _run_pending(plan(best, tracking_uri, name), tracker, out, options, trial, resume_command,
                                    describe=False)

            return search_and_tune(grid, cells, tracker, out, options=options, name=name, trial=trial or run_trial,
                                   rerun=rerun, stopped_line=resume_line(resume_command)) and done
    finally:
        if workers is not None:
            workers.close()  # those no sweep took (a check failed, the lease was refused, nothing left to run)


def _first_workers(pending: list[TrialSpec], options: SweepOptions, name: str, trial: TrialFunction | None) -> Workers:
    """Ray joined and the first workers of `pending` starting: they take seconds, in processes of their own,
    while this one checks the trials (timm's import), opens the store and takes the lease."""
    from orchestrator.sweep.dispatch import first_workers
    from orchestrator.sweep.tune import checkpoint_root, start_ray

    start_ray(options.address)
    return first_workers(pending, trial, checkpoint_root(Path(options.storage).resolve(), name), os.getcwd(),
                         options.max_concurrent)


def resume_line(command: str) -> str:
    """The last line of a stopped sweep: what to run to go on (every trial resumes from its last task)."""
    return f"stopped; to resume, run: {command}" if command else "stopped; to resume, run the same command again"


def _run_pending(work: Plan, tracker: Tracker, out: TextIO, options: SweepOptions, trial: TrialFunction | None,
                 resume_command: str, workers: Workers | None = None, describe: bool = True) -> bool:
    """Run the plan's pending trials, on `workers` (started already, let go at the end) and more."""
    from orchestrator.sweep.driver import run_pending  # Ray is heavy: import it only to run
    from orchestrator.sweep.tune import checkpoint_root, start_ray

    total = len(work.grid.trials)
    if not work.pending:
        if workers is not None:
            workers.close()  # the search that may follow needs their CPUs
        out.write(f"{total} trials: {total} finished, 0 failed, 0 not run\n")
        return True
    _describe(tracker, work.grid, note=describe)
    _remove_stale_checkpoints(checkpoint_root(Path(options.storage).resolve(), work.experiment), work)
    out.write(f"{work.experiment}: {len(work.pending)} of {total} trials to run, tracking at {tracker.tracking_uri}\n")
    start_ray(options.address)
    pending_runs = {s.config_hash: work.runs[s.config_hash] for s in work.pending if s.config_hash in work.runs}
    progress = _progress(work)
    finished_before, pending, experiment = work.finished, work.pending, work.experiment
    del work  # the plan's map of every run: the sweep keeps only the pending trials' earlier runs
    outcome = run_pending(pending, tracker, pending_runs, progress, LiveLine(out), options=options,
                          name=experiment, trial=trial, workers=workers)
    done = finished_before + outcome.finished
    missing = total - done - len(outcome.failed)
    out.write(f"{total} trials: {done} finished, {len(outcome.failed)} failed, {missing} not run\n")
    if outcome.stopped:
        out.write(resume_line(resume_command) + "\n")
    return done == total


def _describe(tracker: Tracker, grid: Grid, note: bool = True) -> None:
    """Experiment note and landing view (unless `note` is False: a searched grid's reruns keep the grid's),
    the code version (runs are named by their trials' labels)."""
    from orchestrator.store.runlog import code_version, describe_experiment, grid_axes

    if note:
        description = grid.source.description if grid.source is not None else ""
        describe_experiment(tracker.client, tracker.experiment_id, grid.path, description, grid_axes(grid.trials))
    tracker.code_version = code_version()


def _progress(work: Plan) -> SweepProgress:
    """Counts at the start of the sweep: earlier runs' GPU-hours and mean duration included."""
    grid_runs = [work.runs[s.config_hash] for s in work.grid.trials if s.config_hash in work.runs]
    return SweepProgress(total=len(work.grid.trials), finished=work.finished,
                         prior_mean_seconds=_mean_wall_seconds(grid_runs),
                         settled_hours=sum(run.gpu_hours for run in grid_runs))


def _mean_wall_seconds(runs: Iterable[RunState]) -> float | None:
    """Mean duration of the FINISHED runs that logged one: the basis of the ETA."""
    walls = [r.wall_seconds for r in runs if r.status == "FINISHED" and r.wall_seconds]
    return sum(walls) / len(walls) if walls else None


def _remove_stale_checkpoints(root: Path, work: Plan) -> None:
    """Checkpoints of trials that FINISHED (a driver was killed between recording and clean-up)."""
    from orchestrator.sweep.checkpoints import CheckpointStore

    store = CheckpointStore(root)
    finished = {digest for digest, run in work.runs.items() if run.status == "FINISHED"}
    for digest in store.digests() & finished:
        store.remove(digest)


def status_counts(path: str, tracking_uri: str, experiment: str | None, overrides: Overrides = None) -> Counts:
    """finished / running / interrupted / failed / pending trials of a grid, GPU-hours and ETA, from MLflow.

    A run is running only while a driver holds the experiment's lease; runs left RUNNING by a
    driver that is gone, and runs stopped by Ctrl-C (KILLED), are interrupted: the next
    `zfsweep run` resumes them.
    """
    grid = load_grid(path, overrides)
    work = plan(grid, tracking_uri, experiment or grid.name)
    runs = [work.runs[s.config_hash] for s in grid.trials if s.config_hash in work.runs]
    finished = [r for r in runs if r.status == "FINISHED"]
    started = sum(r.status in ("RUNNING", "SCHEDULED") for r in runs)
    running = started if started and _driver_alive(tracking_uri, work.experiment) else 0
    interrupted = started - running + sum(r.status == "KILLED" for r in runs)
    failed = sum(r.status == "FAILED" for r in runs)
    remaining = len(grid.trials) - len(finished) - failed
    return Counts(len(grid.trials), len(finished), running, failed, sum(r.gpu_hours for r in runs),
                  eta(remaining, _mean_wall_seconds(finished), running), interrupted)


def search_status(path: str, tracking_uri: str, experiment: str | None, overrides: Overrides = None) -> str | None:
    """A searched grid's search in one line (samples finished, stopped early); None for other grids."""
    grid = load_grid(path, overrides)
    cells = search_cells(grid)
    if not cells:
        return None
    from orchestrator.search.run import history
    from orchestrator.store.tracking import Tracker

    tracker = Tracker.existing(tracking_uri, experiment or grid.name)
    finished = history(tracker, cells) if tracker is not None else {}
    done = [min(len(finished.get(c.search_id, [])), c.block.samples) for c in cells]
    stopped = sum(s.stopped_early for samples in finished.values() for s in samples)
    wanted = sum(c.block.samples for c in cells)
    return (f"search: {sum(done)} of {wanted} samples finished ({stopped} stopped early by ASHA), "
            f"{sum(d == c.block.samples for d, c in zip(done, cells))} of {len(cells)} cells complete")


def _driver_alive(tracking_uri: str, experiment: str) -> bool:
    from orchestrator.store.lease import live_holders
    from orchestrator.store.tracking import Tracker

    tracker = Tracker.existing(tracking_uri, experiment)
    return tracker is not None and bool(live_holders(tracking_uri, tracker.experiment_id))


def failed_trials(path: str, tracking_uri: str, experiment: str | None, overrides: Overrides = None) -> list[str]:
    """One line per FAILED trial of the grid: config hash, label and the reason it failed."""
    from catalog.records import ERROR_TAG
    from orchestrator.store.tracking import Tracker

    grid = load_grid(path, overrides)
    tracker = Tracker.existing(tracking_uri, experiment or grid.name)
    if tracker is None:
        return []
    runs = tracker.runs_by_hash()
    lines = []
    for spec in grid.trials:
        run = runs.get(spec.config_hash)
        if run is not None and run.status == "FAILED":
            reason = tracker.client.get_run(run.run_id).data.tags.get(ERROR_TAG, "no reason recorded")
            lines.append(f"{spec.config_hash}  {spec.label}: {reason}")
    return lines
