"""One trial in a Ray worker process: `run_trial` around its checkpoints, its events sent to the driver.

A grid's trials run on zfsweep's Ray Core workers (orchestrator/sweep/dispatch.py), a searched
grid's samples on Ray Tune (`make_trainable`); both run `run_reporting`. It imports neither MLflow
nor, outside Tune's wrapper, Ray (the driver does all the writing). Each trial resumes from its
hash-keyed checkpoint when it has one (orchestrator/sweep/checkpoints.py; an unreadable one is set
aside and named in the first report), saves one after every task, and reports to the driver:
"epoch" (its loss, as each epoch ends), "task" (per-task accuracy), then "done" (the result),
"diverged" or "invalid"; the first report also says which task the trial resumed after
(-1: none). A diverging zeroth-order trial (the trainer raises FloatingPointError on a NaN or
infinite loss) would diverge again on every retry, so it ends at once with a "diverged" report
instead of raising into the retries; bad input that only shows inside a trial (an InputError the
up-front check could not foresee: a setting, the data, the weights) ends at once as "invalid".
Either way the run is FAILED with its line.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from catalog.config import TrialConfig
from catalog.errors import InputError, one_line
from orchestrator.sweep.checkpoints import CheckpointStore

if TYPE_CHECKING:  # a worker imports the trainer only if its trial function needs it
    from trainers.reports import EpochReport, TaskReport, TrialResult


class TrialFunction(Protocol):
    """`trainers.trial.run_trial`'s signature; the benchmark passes a stand-in that sleeps."""

    def __call__(self, config: TrialConfig, *, resume: dict[str, Any] | None = None,
                 on_task_end: Callable[[TaskReport], None] | None = None,
                 on_epoch_end: Callable[[EpochReport], None] | None = None) -> TrialResult: ...


def trial_params(digest: str, config: dict[str, Any], resources: dict[str, float]) -> dict[str, Any]:
    """What Ray Tune hands the trainable (one grid_search entry): only what differs between trials."""
    return {"hash": digest, "config": config, "resources": resources}


def _config(spec: dict[str, Any], workdir: str) -> TrialConfig:
    """The trial's config, a relative data_root read from the driver's working directory.

    Ray runs a trial inside its own trial folder, and the hash must not depend on where the data
    lies, so the path is made absolute here rather than in the grid.
    """
    config = TrialConfig(**spec["config"])
    if os.path.isabs(config.data_root):
        return config
    return dataclasses.replace(config, data_root=os.path.join(workdir, config.data_root))


def run_reporting(trial: TrialFunction, params: dict[str, Any], checkpoints: Path, workdir: str,
                  report: Callable[[dict[str, Any]], None]) -> None:
    """Run `trial` on the config in params["spec"] and pass each event to `report`: its checkpoints
    under `checkpoints`, a relative data_root read from `workdir`. An exception other than divergence
    and bad input propagates (the caller retries the trial from its last checkpoint)."""
    spec = params["spec"]
    store = CheckpointStore(checkpoints)
    digest = spec["hash"]
    tasks = spec["config"].get("tasks")
    restored = store.restore(digest, tasks=int(tasks) if isinstance(tasks, int) else None)
    saved = restored.saved
    # The resume point rides on the first report (with Tune, every report waits for the driver's next call).
    first: dict[str, Any] = {"resumed_after": saved.task if saved else -1}
    if restored.set_aside:
        path, reason = restored.set_aside[0]
        first.update(set_aside=str(path), set_aside_reason=reason)

    def send(values: dict[str, Any]) -> None:
        report({**values, **first})
        first.clear()

    def on_task_end(task: TaskReport) -> None:
        store.save(digest, task.task, task.state)
        score = {"val_avg": task.val_avg} if task.val_avg is not None else {}
        send({"kind": "task", "task": task.task, "tasks_done": task.task + 1, "acc": task.accuracy, **score})

    def on_epoch_end(epoch: EpochReport) -> None:
        if epoch.loss == epoch.loss:  # NaN: an epoch without a batch, nothing to plot
            send({"kind": "epoch", "epoch": epoch.epoch, "loss": epoch.loss})

    try:
        result = trial(_config(spec, workdir), resume=saved.state if saved else None,
                       on_task_end=on_task_end, on_epoch_end=on_epoch_end)
    except FloatingPointError as error:
        send({"kind": "diverged", "reason": f"FloatingPointError: {error}"})
        return
    except InputError as error:  # fails the same way on every attempt: retrying cannot help
        send({"kind": "invalid", "reason": one_line(error, 300)})
        return
    send({"kind": "done", **result.to_dict()})


def make_trainable(trial: TrialFunction, checkpoints: Path, workdir: str) -> Callable[[dict[str, Any]], None]:
    """The Ray Tune function trainable of `run_reporting` (a searched grid runs on Tune)."""
    from ray import tune

    root = str(checkpoints)

    def trainable(params: dict[str, Any]) -> None:
        run_reporting(trial, params, Path(root), workdir, tune.report)

    return trainable
