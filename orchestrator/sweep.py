"""Ray Tune wiring: the trainable around `run_trial`, per-task checkpoints, retries, and the
driver-side callback that records every trial in MLflow and prints progress.

Trials report after every task with a checkpoint, so a retried trial (Ray's FailureConfig)
continues from its last finished task. MLflow is written only here, in the driver.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import ray
from ray import tune

from orchestrator.grid import TrialSpec
from orchestrator.tracking import RunState, Tracker
from trainers.checkpoint import load_state, save_state
from trainers.config import TrialConfig
from trainers.trial import TaskReport, run_trial

PROJECT_ROOT = Path(__file__).resolve().parents[1]
Echo = Callable[[str], None]


def run_trainable(params: dict[str, Any]) -> None:
    """The Ray Tune function trainable: one trial, resumed from its checkpoint when retried."""
    config = TrialConfig(**params["spec"]["config"])
    resume = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            resume = load_state(Path(folder))

    def on_task_end(report: TaskReport) -> None:
        with tempfile.TemporaryDirectory() as folder:
            save_state(report.state, Path(folder))
            tune.report({"task": report.task, "acc": report.accuracy, "done": False},
                        checkpoint=tune.Checkpoint.from_directory(folder))

    result = run_trial(config, resume=resume, on_task_end=on_task_end).to_dict()
    result.pop("acc")
    tune.report({**result, "done": True})


@dataclass
class SweepOutcome:
    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _error_line(trial: Any) -> str:
    path = getattr(trial, "error_file", None)
    if path and os.path.exists(path):
        lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()
    return "trial failed (no error message recorded)"


class Recorder(tune.Callback):
    """Writes each trial's MLflow run as Tune reports it, and prints a line as each trial ends."""

    def __init__(self, tracker: Tracker, specs: dict[str, TrialSpec], runs: dict[str, RunState],
                 gpus_per_trial: float, echo: Echo) -> None:
        self.tracker, self.specs, self.runs, self.echo = tracker, specs, runs, echo
        self.gpus_per_trial = gpus_per_trial
        self.run_ids: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self.outcome = SweepOutcome()

    def _spec(self, trial: Any) -> TrialSpec:
        return self.specs[trial.config["spec"]["hash"]]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id not in self.run_ids:
            spec = self._spec(trial)
            self.run_ids[trial.trial_id] = self.tracker.start(spec, self.runs.get(spec.config_hash))
            self.started[trial.trial_id] = time.time()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        run_id = self.run_ids[trial.trial_id]
        if not result.get("done"):
            self.tracker.log_task(run_id, int(result["task"]), float(result["acc"]))
            return
        hours = (time.time() - self.started[trial.trial_id]) / 3600.0
        self.tracker.finish(run_id, result, extra=[("gpu_hours", hours * self.gpus_per_trial)])
        label = self._spec(trial).label
        self.outcome.finished.append(label)
        self.echo(f"finished {label}: Avg {result['avg_acc']:.2f} Last {result['last_acc']:.2f} "
                  f"Fgt {result['forgetting']:.2f} ({result['wall_seconds']:.0f} s)")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.echo(f"retrying {self._spec(trial).label} from its last finished task: {_error_line(trial)}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        reason = _error_line(trial)
        label = self._spec(trial).label
        if trial.trial_id in self.run_ids:
            self.tracker.fail(self.run_ids[trial.trial_id], reason)
        self.outcome.failed.append(label)
        self.echo(f"FAILED {label}: {reason}")


def start_ray(address: str | None) -> None:
    """Join `address`, or start a local Ray instance that can import this project."""
    # The legacy reporter honours verbose=0; the new one still prints its tables.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
    ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}})


def trial_resources() -> dict[str, float]:
    gpus = float(ray.cluster_resources().get("GPU", 0.0))
    return {"cpu": 1.0, "gpu": 1.0 if gpus else 0.0}


def run_sweep(specs: list[TrialSpec], tracker: Tracker, *, storage: Path, name: str,
              max_concurrent: int | None, max_failures: int, echo: Echo) -> SweepOutcome:
    """Run `specs` on the connected Ray instance; returns which trials finished and which failed."""
    resources = trial_resources()
    recorder = Recorder(tracker, {s.config_hash: s for s in specs}, tracker.runs_by_hash(), resources["gpu"], echo)
    space = [{"hash": s.config_hash, "config": s.config.to_dict()} for s in specs]
    tuner = tune.Tuner(
        tune.with_resources(run_trainable, resources),
        param_space={"spec": tune.grid_search(space)},
        tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent),
        run_config=tune.RunConfig(
            name=name, storage_path=str(storage), verbose=0, callbacks=[recorder],
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
    )
    tuner.fit()
    return recorder.outcome
