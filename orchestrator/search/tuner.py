"""One Tuner for every cell of a searched grid: a searcher and an ASHA scheduler per cell.

Each cell (orchestrator/grid/cells.py) is an independent search: its own Optuna sampler (Ray Tune's
OptunaSearch; TPE, or Optuna's random sampler for `algorithm: random`), warm-started with the
samples earlier drivers finished (orchestrator/search/history.py), and its own ASHA scheduler
(Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020) on the validation
score each trial reports after each task. One Tuner runs them all, so the cluster's slots are
shared between cells instead of one cell's search waiting for another's: CellSearcher and
PerCellScheduler route Tune's calls to the cell a trial belongs to. The score is the held-out
running Avg (catalog/records.py VALIDATION_METRIC); test accuracy is logged but never passed on.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Callable

import optuna
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from catalog.records import VALIDATION_METRIC
from orchestrator.grid.cells import Cell, rounded, sampled_spec
from orchestrator.grid.expand import TrialSpec
from orchestrator.grid.search import Dimension
from orchestrator.search.history import Sample
from orchestrator.sweep.recorder import Recorder
from orchestrator.sweep.trainable import TrialFunction, make_trainable, trial_params
from orchestrator.sweep.tune import cluster_slots, dirname, placement, with_gpus

MODE = "max"
TIME = "tasks_done"  # reported with every task: ASHA's clock is tasks, not Tune's iterations (a retry resets those)
REDUCTION_FACTOR = 3  # ASHA keeps the top third at each rung (tasks 1, 3, 9, ...)
SAMPLER_SEED = 1993
REDRAWS = 100  # draws of values that already ran before a cell's space counts as exhausted


def domain(dimension: Dimension) -> Any:
    """The Ray Tune domain of one searched setting."""
    low, high = (dimension.values + (None,))[:2]
    if dimension.kind == "choice":
        return tune.choice(list(dimension.values))
    if dimension.kind == "loguniform":
        return tune.lograndint(int(low), int(high) + 1) if dimension.integer else tune.loguniform(low, high)
    return tune.randint(int(low), int(high) + 1) if dimension.integer else tune.uniform(low, high)


def cell_searcher(cell: Cell, finished: list[Sample]) -> OptunaSearch:
    """A cell's Optuna searcher, told the scores of the samples that finished all their tasks."""
    seed = SAMPLER_SEED + len(finished)  # a continued search must not draw its first samples again
    sampler = (optuna.samplers.RandomSampler(seed=seed) if cell.block.algorithm == "random"
               else optuna.samplers.TPESampler(seed=seed))
    known = [s for s in finished if not s.stopped_early and s.score is not None and set(s.values) == set(cell.block.keys)]
    return OptunaSearch(space={d.key: domain(d) for d in cell.block.space}, metric=VALIDATION_METRIC, mode=MODE,
                        sampler=sampler, points_to_evaluate=[s.values for s in known] or None,
                        evaluated_rewards=[s.score for s in known] or None)


def preset_values(cell: Cell) -> dict[str, Any] | None:
    """The cell's preset values of the searched settings, if every one lies in the searched space."""
    values = {d.key: getattr(cell.base.config, d.key) for d in cell.block.space}
    for d in cell.block.space:
        value = values[d.key]
        inside = value in d.values if d.kind == "choice" else (
            value is not None and d.values[0] <= value <= d.values[1])
        if not inside:
            return None
    return values


class CellSearcher(Searcher):
    """Draws each cell's samples in turn until every cell has its `samples`; `on_sample` sees each drawn spec."""

    def __init__(self, cells: list[Cell], finished: dict[str, list[Sample]], gpus: bool,
                 on_sample: Callable[[TrialSpec], None]) -> None:
        super().__init__(metric=VALIDATION_METRIC, mode=MODE)
        self.cells = {cell.search_id: cell for cell in cells}
        self.inner = {cell.search_id: cell_searcher(cell, finished.get(cell.search_id, [])) for cell in cells}
        self.owed = {cell.search_id: max(0, cell.block.samples - len(finished.get(cell.search_id, [])))
                     for cell in cells}
        self.scores = {s.config_hash: s.score for samples in finished.values() for s in samples}
        self.gpus, self.on_sample = gpus, on_sample
        self.turn = itertools.cycle(list(self.cells))
        self.of_trial: dict[str, tuple[str, str, str]] = {}  # Tune trial id -> (search id, inner id, config hash)
        self.running: set[str] = set()  # config hashes being run
        self.draws = itertools.count()
        # The preset's own values are each new cell's first sample: the search says whether it beat them.
        self.preset_owed = {cell.search_id: not finished.get(cell.search_id) and preset_values(cell) is not None
                            for cell in cells}

    @property
    def total(self) -> int:
        return sum(self.owed.values())

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict | str | None:
        for _ in range(len(self.cells)):
            search_id = next(self.turn)
            if self.owed[search_id] > 0:
                drawn = self._draw(search_id, trial_id)
                if drawn is not None:
                    return drawn
        return Searcher.FINISHED if self.total == 0 else None

    def _draw(self, search_id: str, trial_id: str) -> dict | None:
        """A new sample of the cell; one whose config already finished is told its score and not rerun."""
        cell, inner = self.cells[search_id], self.inner[search_id]
        for _ in range(REDRAWS):
            inner_id = ""  # the preset's sample is not the sampler's: it is told as a known point once it ends
            if self.preset_owed[search_id]:
                self.preset_owed[search_id] = False
                spec = sampled_spec(cell, preset_values(cell) or {})
            else:
                inner_id = f"{search_id}-{next(self.draws)}"
                spec = sampled_spec(cell, rounded(inner.suggest(inner_id)))
            if spec.config_hash in self.running:  # the same values in flight (a small choice space)
                if inner_id:
                    inner.on_trial_complete(inner_id, None)
                return None
            if spec.config_hash in self.scores:  # drawn before and finished: its score, not a rerun
                score = self.scores[spec.config_hash]
                if inner_id:
                    inner.on_trial_complete(inner_id, {VALIDATION_METRIC: score} if score is not None else None)
                continue
            self.owed[search_id] -= 1
            self.of_trial[trial_id] = (search_id, inner_id, spec.config_hash)
            self.running.add(spec.config_hash)
            self.on_sample(spec)
            params = trial_params(spec.config_hash, spec.config.to_dict(), spec.resources.ray_request(self.gpus))
            return {"spec": {**params, "search": search_id}}
        self.owed[search_id] = 0  # a space of fewer values than samples: every one has run
        return None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        search_id, inner_id, _ = self.of_trial[trial_id]
        if VALIDATION_METRIC in result and inner_id:
            self.inner[search_id].on_trial_result(inner_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self.of_trial:
            return
        search_id, inner_id, digest = self.of_trial.pop(trial_id)
        score = (result or {}).get(VALIDATION_METRIC)
        self.running.discard(digest)
        self.scores[digest] = score
        if not inner_id:  # the preset's sample, which the sampler did not draw: told as a known point
            if score is not None and not error:
                self.inner[search_id].add_evaluated_point(preset_values(self.cells[search_id]) or {}, score)
            return
        self.inner[search_id].on_trial_complete(inner_id, {VALIDATION_METRIC: score} if score is not None else None,
                                                error=error)


class PerCellScheduler(FIFOScheduler):
    """One ASHA per cell (trials of different optimizers never compete); records whom it stopped early."""

    def __init__(self, cells: list[Cell]) -> None:
        super().__init__()
        self.asha = {cell.search_id: ASHAScheduler(time_attr=TIME, metric=VALIDATION_METRIC, mode=MODE,
                                                   max_t=cell.tasks, grace_period=1, reduction_factor=REDUCTION_FACTOR)
                     for cell in cells if cell.block.scheduler == "asha" and cell.tasks > 1}
        self.max_t = {cell.search_id: cell.tasks for cell in cells}
        self.stopped: set[str] = set()  # config hashes

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True

    def _asha(self, trial: Trial) -> ASHAScheduler | None:
        return self.asha.get(trial.config["spec"].get("search", ""))

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        if (asha := self._asha(trial)) is not None:
            asha.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        asha = self._asha(trial)
        # The last task's report is followed by the result itself, which a STOP would lose.
        if asha is None or TIME not in result or result[TIME] >= self.max_t[trial.config["spec"]["search"]]:
            return TrialScheduler.CONTINUE
        decision = asha.on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.STOP:
            self.stopped.add(trial.config["spec"]["hash"])
        return decision

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        if (asha := self._asha(trial)) is not None and VALIDATION_METRIC in result and TIME in result:
            asha.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        if (asha := self._asha(trial)) is not None:
            asha.on_trial_remove(tune_controller, trial)


def run_search_fit(cells: list[Cell], finished: dict[str, list[Sample]], recorder: Recorder, trial: TrialFunction,
                   *, storage: Path, folder: str, retries: int, max_concurrent: int | None,
                   on_sample: Callable[[TrialSpec], None]) -> CellSearcher:
    """One Tuner.fit() drawing every cell's owed samples; the searcher (what it drew) afterwards."""
    gpus = with_gpus()
    searcher = CellSearcher(cells, finished, gpus, on_sample)
    scheduler = PerCellScheduler(cells)
    recorder.stopped_early = scheduler.stopped.__contains__
    if searcher.total == 0:
        return searcher
    slots = cluster_slots([cell.base for cell in cells], gpus, max_concurrent)
    os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(slots)
    # Reports other than a task's (the resume point, a failure) carry no score: that is not an error here.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    tuner = tune.Tuner(
        tune.with_resources(make_trainable(trial, recorder.store.root, os.getcwd()), placement),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=searcher.total,
                                    max_concurrent_trials=slots, reuse_actors=True, trial_dirname_creator=dirname),
        run_config=tune.RunConfig(name=folder, storage_path=str(storage), verbose=0, callbacks=[recorder],
                                  failure_config=tune.FailureConfig(max_failures=retries)),
    )
    tuner.fit()
    return searcher
