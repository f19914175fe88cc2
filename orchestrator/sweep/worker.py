"""The Ray actor that runs a grid's trials, one after another, for the whole sweep.

Its own module, importing only what a trial needs (orchestrator/sweep/trainable.py), because Ray
imports an actor's module in every worker process: the driver's MLflow and Ray Tune stay out of
the workers. orchestrator/sweep/dispatch.py creates one per slot and hands them trials.
"""

from __future__ import annotations

import queue
import threading
import traceback
from pathlib import Path
from typing import Any, Iterator

import ray

from orchestrator.sweep.trainable import TrialFunction, run_reporting


@ray.remote(max_restarts=0)
class TrialWorker:
    """One slot of the cluster, running one trial after another for the whole sweep."""

    def __init__(self, trial: TrialFunction | None, checkpoints: str, workdir: str) -> None:
        """`trial` None: trainers.trial.run_trial, imported here (the driver need not import the trainer)."""
        if trial is None:
            from trainers.trial import run_trial as trial
        self.trial, self.checkpoints, self.workdir = trial, Path(checkpoints), workdir

    def run(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The trial's reports as it makes them: "started", then run_reporting's, or "error" (a traceback).

        The trial runs in a thread because its reports come from callbacks deep in the trainer,
        and a generator can only yield from its own frame."""
        events: queue.Queue[dict[str, Any] | None] = queue.Queue()

        def work() -> None:
            try:
                run_reporting(self.trial, params, self.checkpoints, self.workdir, events.put)
            except BaseException:  # noqa: BLE001 - sent to the driver, which retries or fails the trial
                events.put({"kind": "error", "traceback": traceback.format_exc()})
            events.put(None)

        threading.Thread(target=work, name="trial", daemon=True).start()
        yield {"kind": "started"}
        while (event := events.get()) is not None:
            yield event
