"""The Ray Tune function trainable: a few lines around `run_trial`, run in Ray worker processes.

It imports Ray Tune and trainers only (no MLflow: the driver does all the writing). Each trial
resumes from its hash-keyed checkpoint when it has one (orchestrator/checkpoints.py), saves one
after every task, and reports to the driver: "start" (with the task it resumes after), "task"
(per-task accuracy), then "done" (the result) or "diverged". A diverging zeroth-order trial
(the trainer raises FloatingPointError on a NaN or infinite loss) would diverge again on every
retry, so it ends at once with a "diverged" report instead of raising into Ray's retries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

from ray import tune

from orchestrator.checkpoints import CheckpointStore
from trainers.config import TrialConfig
from trainers.trial import TaskReport, TrialResult


class TrialFunction(Protocol):
    """`trainers.trial.run_trial`'s signature; the benchmark passes a stand-in that sleeps."""

    def __call__(self, config: TrialConfig, *, resume: dict[str, Any] | None = None,
                 on_task_end: Callable[[TaskReport], None] | None = None) -> TrialResult: ...


def trial_params(digest: str, config: dict[str, Any], checkpoints: Path, resources: dict[str, float]) -> dict[str, Any]:
    """What Ray Tune hands the trainable (one grid_search entry)."""
    return {"hash": digest, "config": config, "checkpoints": str(checkpoints), "resources": resources}


def make_trainable(trial: TrialFunction) -> Callable[[dict[str, Any]], None]:
    """A function trainable that runs `trial` on the config in params["spec"]."""

    def trainable(params: dict[str, Any]) -> None:
        spec = params["spec"]
        store = CheckpointStore(Path(spec["checkpoints"]))
        digest = spec["hash"]
        saved = store.load(digest)
        tune.report({"kind": "start", "after_task": saved.task if saved else -1})

        def on_task_end(report: TaskReport) -> None:
            store.save(digest, report.task, report.state)
            tune.report({"kind": "task", "task": report.task, "acc": report.accuracy})

        try:
            result = trial(TrialConfig(**spec["config"]), resume=saved.state if saved else None,
                           on_task_end=on_task_end)
        except FloatingPointError as error:
            tune.report({"kind": "diverged", "reason": f"FloatingPointError: {error}"})
            return
        tune.report({"kind": "done", **result.to_dict()})

    return trainable
