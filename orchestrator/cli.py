"""The `zfsweep` command line: thin click commands over orchestrator.commands, trainers and reports.

Bad input (grid, config value, missing data or weights) ends with one line on stderr and exit
code 2, before anything is written. Heavy libraries (torch, Ray, MLflow, timm, pandas) are
imported inside the commands that need them: `--help`, `list` and grid errors answer at once.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable

import click

from catalog.config import KNOBS
from catalog.errors import InputError
from catalog.names import DATASET_NAMES, METHOD_NAMES
from orchestrator.cmdline import command_line
from orchestrator.grid.overrides import parse_overrides
from orchestrator.sweep.options import SweepOptions
from orchestrator.store.uri import creatable_store, require_store, resolve_tracking_uri
from trainers.pretrain_settings import THREADS as PRETRAIN_THREADS
from trainers.pretrain_settings import PretrainSettings

SWEEP = SweepOptions()  # `zfsweep run` defaults, declared in orchestrator/sweep/options.py
SET_OPTION = click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
                          help="one setting for every trial, replacing the grid's (e.g. profile=corrected); "
                               "repeatable")
PRETRAIN = PretrainSettings()  # `zfsweep pretrain` defaults: the bundled weights' settings
TRACKING_HELP = "MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///./mlflow.db)"

# Why a sweep stopped early on purpose (another driver holds the experiment; the store stayed unreachable).
# Such an error can only come from a loaded module, so these are looked up, not imported.
_STOP_ERRORS = (("orchestrator.store.lease", "LeaseRefused"), ("orchestrator.store.outbox", "TrackingUnreachable"))


def _loaded(errors: tuple[tuple[str, str], ...]) -> tuple[type[Exception], ...]:
    return tuple(getattr(sys.modules[module], name) for module, name in errors if module in sys.modules)


class _Commands(click.Group):
    """The one place errors become exit codes: bad input (catalog.errors.InputError) one line on
    stderr (a grid file's errors come all at once, one line each) and exit code 2, a sweep stopped
    on purpose (another driver holds the experiment, the tracking store does not answer) one line
    and exit code 3."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as error:
            for line in str(error).splitlines():
                click.echo(f"error: {line}", err=True)
            sys.exit(2)
        except Exception as stop:
            if not isinstance(stop, _loaded(_STOP_ERRORS)):
                raise
            click.echo(f"error: {stop}", err=True)
            sys.exit(3)


@click.group(cls=_Commands)
@click.version_option(package_name="zfsweep", prog_name="zfsweep", message="%(prog)s %(version)s")
def main() -> None:
    """Sweeps of the ZeroFlow benchmark on Ray Tune, recorded in MLflow."""


@main.command()
@click.argument("grid")
@click.option("--tracking-uri", help=TRACKING_HELP)
@click.option("--address", help="Ray cluster address to join, e.g. HEAD_IP:6379 (default: start a local instance)")
@click.option("--experiment", help="MLflow experiment (default: the grid's name)")
@click.option("--dry-run", is_flag=True, help="print the plan, the up-front check's findings and the cost; run nothing")
@click.option("--json", "as_json", is_flag=True, help="with --dry-run: one JSON object per trial (hash, status, config, resources)")
@click.option("--verbose", is_flag=True, help="with --dry-run: one line per trial, also for big grids")
@click.option("--gpus", type=click.FloatRange(min=0), help="with --dry-run: GPUs for the wall-time estimate "
              "(default: this machine's, or the cluster's with --address)")
@click.option("--max-concurrent", type=click.IntRange(min=1), help="at most this many trials at once")
@click.option("--retries", type=click.IntRange(min=0), default=SWEEP.retries, show_default=True,
              help="retries of a failed trial, each from its last finished task")
@click.option("--storage-path", default=SWEEP.storage, show_default=True,
              help="checkpoints, error files, a search's Tune folder; shared storage on a multi-node cluster")
@SET_OPTION
@click.option("--outage-limit", type=click.FloatRange(min=0), default=SWEEP.outage_limit, show_default=True,
              help="seconds to keep trials running while the tracking store is unreachable (0: stop at once)")
def run(grid: str, tracking_uri: str | None, address: str | None, experiment: str | None, dry_run: bool,
        as_json: bool, verbose: bool, gpus: float | None, max_concurrent: int | None, retries: int,
        storage_path: str, settings: tuple[str, ...], outage_limit: float) -> None:
    """Run every trial of GRID that has not FINISHED yet."""
    from orchestrator import commands

    uri = creatable_store(resolve_tracking_uri(tracking_uri))  # `run` alone may create a store
    overrides = parse_overrides(settings)
    if dry_run:
        commands.dry_run(grid, tracking_uri=uri, experiment=experiment, address=address, as_json=as_json,
                         verbose=verbose, gpus=gpus, overrides=overrides)
        sys.exit(0)
    options = SweepOptions(storage=storage_path, retries=retries, max_concurrent=max_concurrent,
                           outage_limit=outage_limit, address=address)
    again = command_line(click.get_current_context())  # what resumes the sweep if it is stopped
    try:
        ok = commands.run_grid(grid, options, tracking_uri=uri, experiment=experiment, overrides=overrides,
                               resume_command=again)
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside Ray Tune's own handling
        click.echo(commands.resume_line(again))
        sys.exit(130)
    sys.exit(0 if ok else 1)


# `zfsweep slurm` and `zfsweep kube` (orchestrator/launch/): they copy `run`'s options, hence after it.
from orchestrator.launch.commands import launch_commands  # noqa: E402

for _launcher in launch_commands(run):
    main.add_command(_launcher)

# `zfsweep trial` without --dataset runs the embedded default data set, as `make demo` does.
TRIAL_DEFAULTS = {"dataset": "glyphs"}


def _config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One --flag per knob (batch_size -> --batch-size), with what it allows; unset flags keep presets."""
    types = {int: click.INT, float: click.FLOAT, str: click.STRING, bool: click.BOOL}
    for name, knob in reversed(list(KNOBS.items())):
        default = TRIAL_DEFAULTS.get(name, knob.default)
        shown = f"default: {default if default is not None else 'paper preset'}"
        allowed = f"one of {knob.rule.allowed}" if knob.rule.choices else knob.rule.allowed if knob.rule.checked else ""
        command = click.option("--" + name.replace("_", "-"), name, type=types[knob.kind], default=None,
                               help=f"{allowed} ({shown})" if allowed else shown)(command)
    return command


@main.command()
@_config_options
@click.option("--json", "as_json", is_flag=True, help="print the result as one JSON object")
@click.option("--dry-run", is_flag=True, help="build model and data split, print config and trainable_params")
def trial(as_json: bool, dry_run: bool, **settings: Any) -> None:
    """Run one trial in this process (no Ray, no MLflow); one line on stderr per finished task."""
    from catalog.config import make_config

    given = {k: v for k, v in settings.items() if v is not None}
    config = make_config({**TRIAL_DEFAULTS, **given})  # bad flags: one line before torch loads
    from trainers.trial import describe_trial, run_trial

    if dry_run:
        out = describe_trial(config)
    else:
        from trainers.presets import resolve

        tasks = int(resolve(config).tasks or 0)
        out = run_trial(config, on_task_end=_task_line(tasks, time.perf_counter())).to_dict()
    click.echo(json.dumps(out) if as_json else "\n".join(f"{k}: {v}" for k, v in out.items()))


def _task_line(tasks: int, started: float) -> Callable[[Any], None]:
    """on_task_end for `zfsweep trial`: one line per finished task (the TaskReport of trainers/trial.py)."""
    def report(task: Any) -> None:
        click.echo(f"task {task.task + 1} of {tasks}: accuracy {task.accuracy:.2f} "
                   f"({time.perf_counter() - started:.0f} s)", err=True)

    return report


@main.command()
@click.option("--tracking-uri", help=TRACKING_HELP)
@click.option("--experiment", "experiments", multiple=True, help="only these experiments (default: all)")
@click.option("--out", type=click.Path(file_okay=False), default="results", show_default=True)
@click.option("--compare", type=click.Choice(["paper"]), help="add the published numbers and the differences")
@click.option("--compare-profile", type=click.Choice(["released", "corrected", "all"]), default="released",
              show_default=True, help="which runs --compare paper sets beside the paper's numbers")
@click.option("--prefer", type=click.Choice(["most-seeds", "newest"]),
              help="when a cell holds runs of several configs, keep one by this rule (default: exit 2)")
@click.option("--grid", "grids", multiple=True, type=click.Path(dir_okay=False),
              help="list this grid's trials that have no FINISHED run in report.html")
def report(tracking_uri: str | None, experiments: tuple[str, ...], out: str, compare: str | None,
           compare_profile: str, prefer: str | None, grids: tuple[str, ...]) -> None:
    """Tables 1-4, figures, report.html and runs.parquet from the FINISHED runs."""
    from pathlib import Path

    from reports.build import write_report
    from reports.runs import load_runs

    from orchestrator.grid.expand import load_grid

    loaded = [load_grid(path) for path in grids]  # a bad grid: exit 2 before the store is opened
    uri = require_store(resolve_tracking_uri(tracking_uri))
    runs = load_runs(uri, list(experiments) or None)
    if runs.attrs["missing_experiments"]:  # a typo must not replace an earlier report with an empty one
        from reports.runs import experiment_names

        missing = ", ".join(f"'{name}'" for name in runs.attrs["missing_experiments"])
        click.echo(f"error: no experiment {missing} in {uri}; have: {', '.join(experiment_names(uri)) or '(none)'}",
                   err=True)
        sys.exit(2)
    if loaded:
        from orchestrator.plan.missing import missing_trials

        runs.attrs["missing_trials"] = missing_trials(loaded, runs)
    lines = write_report(runs, Path(out), compare_paper=compare == "paper", prefer=prefer,
                         compare_profile=compare_profile)
    for line in lines:
        click.echo(line)


@main.command()
@click.argument("grid")
@click.option("--tracking-uri", help=TRACKING_HELP)
@click.option("--experiment", help="MLflow experiment (default: the grid's name)")
@click.option("--failed", "list_failed", is_flag=True, help="also list each FAILED trial with its reason")
@SET_OPTION
def status(grid: str, tracking_uri: str | None, experiment: str | None, list_failed: bool,
           settings: tuple[str, ...]) -> None:
    """Finished / running / interrupted / failed / pending trials of GRID, GPU-hours and ETA, from MLflow."""
    from orchestrator.commands import failed_trials, search_status, status_counts

    uri = require_store(resolve_tracking_uri(tracking_uri))
    overrides = parse_overrides(settings)
    counts = status_counts(grid, uri, experiment, overrides)
    click.echo(counts.line())
    searched = search_status(grid, uri, experiment, overrides)
    if searched:
        click.echo(searched)
    if list_failed:
        for line in failed_trials(grid, uri, experiment, overrides):
            click.echo(line)


@main.command(name="list")
@click.argument("what", type=click.Choice(["optimizers", "methods", "datasets", "experiments"]))
@click.option("--tracking-uri", help=f"with experiments: {TRACKING_HELP}")
def list_names(what: str, tracking_uri: str | None) -> None:
    """One name per line (experiments: those of the tracking store)."""
    if what == "experiments":
        uri = require_store(resolve_tracking_uri(tracking_uri))
        from reports.runs import experiment_names

        click.echo("\n".join(experiment_names(uri)))
        return
    from catalog.optimizers import optimizer_names

    names = {"optimizers": optimizer_names(), "methods": METHOD_NAMES, "datasets": DATASET_NAMES}[what]
    click.echo("\n".join(names))


@main.command()
@click.option("--seed", type=int, default=PRETRAIN.seed, show_default=True,
              help="rendering, initialisation and batch order")
@click.option("--epochs", type=click.IntRange(min=1), default=PRETRAIN.epochs, show_default=True)
@click.option("--per-class", type=click.IntRange(min=1), default=PRETRAIN.per_class, show_default=True,
              help="training images per letter")
@click.option("--classes", type=click.IntRange(min=0), default=PRETRAIN.classes, show_default=True,
              help="use only the first N letters of the pool (0: all), for a quick run")
@click.option("--batch-size", type=click.IntRange(min=1), default=PRETRAIN.batch_size, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0.0, min_open=True), default=PRETRAIN.lr, show_default=True,
              help="AdamW peak learning rate")
@click.option("--threads", type=click.IntRange(min=1), default=PRETRAIN_THREADS, show_default=True,
              help="torch CPU threads")
@click.option("--out", type=click.Path(file_okay=False), help="output folder (default: the bundled weights folder)")
def pretrain(seed: int, epochs: int, per_class: int, classes: int, batch_size: int, lr: float, threads: int,
             out: str | None) -> None:
    """Pretrain the tiny glyph ViT on the letters of `glyphs`; write its weights and manifest."""
    from pathlib import Path

    import torch

    from trainers.pretrain import WEIGHTS_DIR
    from trainers.pretrain import pretrain as run_pretrain

    torch.set_num_threads(threads)
    command = (f"zfsweep pretrain --seed {seed} --epochs {epochs} --per-class {per_class} --classes {classes} "
               f"--batch-size {batch_size} --lr {lr:g} --threads {threads}")
    settings = PretrainSettings(seed=seed, epochs=epochs, per_class=per_class, classes=classes,
                                batch_size=batch_size, lr=lr)
    run_pretrain(settings, Path(out) if out else WEIGHTS_DIR, command, log=click.echo)


@main.command()
@click.option("--tracking-uri", help=TRACKING_HELP)
@click.option("--experiment", help="print the runs-table URL of this experiment only (default: every one)")
@click.option("--host", default="127.0.0.1", show_default=True, help="interface to listen on (this machine only by default)")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
def ui(tracking_uri: str | None, experiment: str | None, host: str, port: int) -> None:
    """The MLflow UI for the same tracking store; prints the URL of each experiment's runs table."""
    uri = require_store(resolve_tracking_uri(tracking_uri))  # the UI would create a missing one
    if uri.startswith(("http://", "https://")):
        click.echo(f"{uri} is a tracking server: its UI is at that address")
        return
    from orchestrator.store.uiserver import browse_url, listen_problem, serve_ui

    problem = listen_problem(host, port)  # MLflow's server would log the error and still exit 0
    if problem:
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    from orchestrator.store.runsview import home_url, runs_pages

    pages = runs_pages(uri, browse_url(host, port), experiment)  # an unknown name: exit 2 here
    lines = [f"runs of {name}: {url}" for name, url in pages] or [f"no experiment yet: {home_url(browse_url(host, port))}"]
    lines.append("Ctrl-C stops the UI")
    sys.exit(serve_ui(uri, host, port, lines, click.echo))  # Ctrl-C or SIGTERM also stops the UI's workers
