"""A grid's `search:` block: which settings are searched, over what, how many samples per cell.

Presets are the paper's guesses; the paper itself tuned nothing per optimizer (one ZO lr for every
ZO strategy, arXiv 2501.01045, Section 4). A grid with this block has Ray Tune search the named
settings for each cell of the `per` keys, on a held-out validation share of each task's training
images, then rerun each cell's best with the grid's seeds on the test set (orchestrator/search/):

    search:
      space: {lr: {loguniform: [1.0e-5, 1.0e-1]}}   # numeric settings: uniform, loguniform, choice
      samples: 12                                    # per cell
      per: [method, optimizer, dataset]              # one independent search per cell of these keys
      algorithm: optuna                              # or random (Optuna's TPE or random sampler)
      scheduler: asha                                # or none: early stopping after each task
      validation: 0.1                                # held-out share of each class's training images

Every mistake is a GridError naming the key (one line each, exit 2, before anything runs).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from catalog.config import KNOBS, ConfigError, make_config
from orchestrator.grid.errors import GridError, unknown
from orchestrator.grid.yamlload import clip, shorten

SEARCH_KEYS = ("space", "samples", "per", "algorithm", "scheduler", "validation")
KINDS = ("uniform", "loguniform", "choice")
ALGORITHMS = ("optuna", "random")
SCHEDULERS = ("asha", "none")
DEFAULT_PER = ("method", "optimizer", "dataset")
DEFAULT_SEEDS = (1993, 1994, 1995)  # the best of each cell is rerun with these unless the grid names seeds
NOT_SEARCHED = ("seed", "validation", "device", "num_workers")  # what a search may not vary


@dataclass(frozen=True)
class Dimension:
    """One searched setting: `uniform`/`loguniform` over [low, high], or a `choice` among values."""

    key: str
    kind: str
    values: tuple[Any, ...]

    @property
    def integer(self) -> bool:
        return KNOBS[self.key].kind is int


@dataclass(frozen=True)
class SearchBlock:
    space: tuple[Dimension, ...]
    samples: int = 8
    per: tuple[str, ...] = DEFAULT_PER
    algorithm: str = "optuna"
    scheduler: str = "asha"
    validation: float = 0.1

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.space)

    def fingerprint(self) -> str:
        """What makes two searches the same search (with the cell's base config): space and validation."""
        text = json.dumps([[d.key, d.kind, list(d.values)] for d in self.space] + [self.validation])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _allowed_value(path: str, where: str, key: str, value: Any) -> Any:
    """`value` as the setting's type, or the setting's own rule in one line."""
    try:
        return getattr(make_config({key: value}), key)
    except ConfigError as error:
        raise GridError(path, where, f"{shorten(value)}: {error.message}") from error


def _dimension(path: str, key: str, entry: Any) -> Dimension:
    where = f"search.space.{key}"
    if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in KINDS:
        raise GridError(path, where, f"must be one of {{uniform: [low, high]}}, {{loguniform: [low, high]}}, "
                                     f"{{choice: [values]}}, got {shorten(entry)}")
    kind, values = next(iter(entry.items()))
    where = f"{where}.{kind}"
    if not isinstance(values, list) or not values:
        raise GridError(path, where, "must be a non-empty list")
    if kind == "choice":
        return Dimension(key, kind, tuple(_allowed_value(path, where, key, v) for v in values))
    numeric = KNOBS[key].kind in (int, float)
    if not numeric:
        raise GridError(path, where, f"{key} is not a number; search it with {{choice: [values]}}")
    if len(values) != 2 or not all(_number(v) for v in values) or not values[0] < values[1]:
        raise GridError(path, where, f"must be [low, high], two finite numbers with low < high, got {shorten(values)}")
    if kind == "loguniform" and values[0] <= 0:
        raise GridError(path, where, f"must have low > 0 (a log scale), got {shorten(values[0])}")
    return Dimension(key, kind, tuple(_allowed_value(path, where, key, v) for v in values))


def parse_search(path: str, block: Any) -> SearchBlock:
    """The `search:` block, checked; GridError (one line) for the first mistake."""
    if not isinstance(block, dict):
        raise GridError(path, "search", "must be a mapping with keys " + ", ".join(SEARCH_KEYS))
    for key in block:
        if key not in SEARCH_KEYS:
            raise GridError(path, f"search.{clip(key)}", unknown("search key", key, SEARCH_KEYS))
    space = block.get("space")
    if not isinstance(space, dict) or not space:
        raise GridError(path, "search.space", "must name at least one setting to search, "
                                              "e.g. {lr: {loguniform: [1.0e-5, 1.0e-1]}}")
    dimensions = []
    for key, entry in space.items():
        if key not in KNOBS:
            raise GridError(path, f"search.space.{clip(key)}", unknown("setting", key, tuple(KNOBS)))
        if key in NOT_SEARCHED:
            raise GridError(path, f"search.space.{key}", f"cannot be searched; not allowed: {', '.join(NOT_SEARCHED)}")
        dimensions.append(_dimension(path, key, entry))
    samples = block.get("samples", SearchBlock.samples)
    if not (isinstance(samples, int) and not isinstance(samples, bool) and samples >= 1):
        raise GridError(path, "search.samples", f"must be an integer >= 1 (samples per cell), got {shorten(samples)}")
    per = block.get("per", list(DEFAULT_PER))
    if not isinstance(per, list) or not all(isinstance(k, str) for k in per):
        raise GridError(path, "search.per", f"must be a list of settings, got {shorten(per)}")
    for key in per:
        if key not in KNOBS:
            raise GridError(path, "search.per", unknown("setting", key, tuple(KNOBS)))
        if key == "seed" or key in space:
            raise GridError(path, "search.per", f"{key} cannot name cells: the seeds rerun each cell's best, "
                                                "a searched setting varies within its cell")
    algorithm = block.get("algorithm", SearchBlock.algorithm)
    if algorithm not in ALGORITHMS:
        raise GridError(path, "search.algorithm", unknown("algorithm", str(algorithm), ALGORITHMS))
    scheduler = "none" if block.get("scheduler", SearchBlock.scheduler) is None else block.get("scheduler", "asha")
    if scheduler not in SCHEDULERS:
        raise GridError(path, "search.scheduler", unknown("scheduler", str(scheduler), SCHEDULERS))
    validation = block.get("validation", SearchBlock.validation)
    if not _number(validation) or not 0 < validation <= 0.5:
        raise GridError(path, "search.validation", f"must be a share in (0, 0.5] of each class's training images, "
                                                   f"got {shorten(validation)}")
    return SearchBlock(tuple(dimensions), samples, tuple(per), algorithm, scheduler, float(validation))
