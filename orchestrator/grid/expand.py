"""Grid expansion: GridFile -> validated Grid of TrialSpecs, each with a stable config hash.

Trials are the cartesian product of the axes (and of each `include` sub-grid, and the seeds);
`when` rules then add settings to the trials they match, `exclude` rules drop trials, and every
remaining trial is validated, resolved (presets filled in) and hashed before anything starts.
Grids such as full.yaml hold tens of thousands of trials (20,824 expand in ~0.6 s), so every
value the file states is checked once, up front (make_config on that value alone), each trial
only gets the cheap cross-setting check, and presets are looked up once per (profile, method,
optimizer, dataset); tests/test_grid.py checks that the result equals make_config + resolve on every trial.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping

from catalog.config import KNOBS, ConfigError, TrialConfig, make_config, validate
from orchestrator.grid.labels import trial_labels
from orchestrator.grid.overrides import apply_overrides
from orchestrator.grid.resources import TrialResources, trial_resources
from orchestrator.grid.schema import GridError, GridFile, Match, ResourceRequest, parse_grid, raise_all
from trainers.presets import preset

# Settings that change where and how fast a trial runs, not what it computes: not hashed.
EXECUTION_KEYS = ("device", "num_workers")
HASHED_KEYS = tuple(f.name for f in fields(TrialConfig) if f.name not in EXECUTION_KEYS)
DEFAULTS = {f.name: f.default for f in fields(TrialConfig)}

__all__ = ["Grid", "GridError", "TrialSpec", "config_hash", "expand", "load_grid"]


@dataclass(frozen=True)
class TrialSpec:
    """One trial of a grid: its resolved config, the hash that identifies it, its resources, and its
    label among the grid's trials (orchestrator/grid/labels.py: also its MLflow run name)."""

    grid: str
    config: TrialConfig
    config_hash: str
    resources: TrialResources
    label: str = field(default="", compare=False)
    tags: tuple[tuple[str, str], ...] = ()  # extra MLflow tags (a searched grid's cell and phase)


@dataclass(frozen=True)
class Grid:
    name: str
    path: str
    trials: tuple[TrialSpec, ...]
    source: GridFile | None = None  # the parsed file: error messages name where a value came from


def config_hash(config: TrialConfig) -> str:
    """sha256 of the resolved config's canonical JSON (execution-only keys left out)."""
    return _hash_values({key: getattr(config, key) for key in HASHED_KEYS})


def _matches(match: Match, settings: Mapping[str, Any]) -> bool:
    for key, allowed in match.items():  # a plain loop: this runs for every trial and rule
        if settings.get(key, DEFAULTS[key]) not in allowed:
            return False
    return True


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def hashed_setting(key: str, value: Any) -> bool:
    """False for a knob declared `unhashed_neutral` (the estimator forms) while unset or neutral: such a
    trial computes what it did before the knob existed, so it keeps its hash."""
    return KNOBS[key].hashed(value)


def _hash_values(values: Mapping[str, Any]) -> str:
    canonical = _ENCODER.encode({key: values[key] for key in HASHED_KEYS if hashed_setting(key, values[key])})
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@lru_cache(maxsize=1024)
def _presets(profile: str, method: str, optimizer: str, dataset: str) -> tuple[tuple[str, Any], ...]:
    """trainers.presets.preset for one (profile, method, optimizer, dataset), the fields it depends on."""
    return tuple(preset(TrialConfig(profile=profile, method=method, optimizer=optimizer, dataset=dataset)).items())


@lru_cache(maxsize=1024)
def _preset_map(profile: str, method: str, optimizer: str, dataset: str) -> Mapping[str, Any]:
    return dict(_presets(profile, method, optimizer, dataset))


def _coerced(path: str, key: str, value: Any, source: str) -> Any:
    """`value` coerced to the setting's type; GridError naming `source` if no trial could use it."""
    try:
        return getattr(make_config({key: value}), key)
    except ConfigError as error:
        raise GridError(path, source, error.message) from error


def value_errors(grid: GridFile) -> list[GridError]:
    """Every value the file states, each alone: all the errors at once (the first of each key)."""
    stated = [(f"fixed.{key}", key, (value,)) for key, value in grid.fixed.items()]
    stated += [(f"{rule.location}.set.{key}", key, (value,)) for rule in grid.when for key, value in rule.settings.items()]
    stated += [(f"axes.{key}", key, values) for key, values in grid.axes.items()]
    stated += [("seeds", "seed", grid.seeds)] if grid.seeds is not None else []
    stated += [(f"include[{i}].{key}", key, values) for i, entry in enumerate(grid.include) for key, values in entry.items()]
    errors = []
    for source, key, values in stated:
        for value in values:
            try:
                _coerced(grid.path, key, value, source)
            except GridError as error:
                errors.append(error)
                break
    return errors


class _Expander:
    """Builds the TrialSpecs of one GridFile; every setting value is checked once, up front."""

    def __init__(self, grid: GridFile) -> None:
        self.grid = grid
        raise_all(value_errors(grid))
        self.fixed = {key: self.value(key, value, f"fixed.{key}") for key, value in grid.fixed.items()}
        self.rules = [(rule, {key: self.value(key, value, f"{rule.location}.set.{key}")
                              for key, value in rule.settings.items()}) for rule in grid.when]

    def value(self, key: str, value: Any, source: str) -> Any:
        return _coerced(self.grid.path, key, value, source)

    def always_named(self) -> set[str]:
        """The settings every label names: the grid's axes and its seeds."""
        return {*self.grid.axes, *(("seed",) if self.grid.seeds is not None else ())}

    def usual(self, config: TrialConfig, key: str) -> Any:
        """What a reader takes `key` to be unless told: the grid's `fixed:` value, else the default or preset."""
        if key in self.fixed:
            return self.fixed[key]
        if DEFAULTS[key] is not None:
            return DEFAULTS[key]
        return _preset_map(config.profile, config.method, config.optimizer, config.dataset).get(key)

    def blocks(self) -> Iterator[tuple[dict[str, list[Any]], dict[str, str]]]:
        """(coerced axes, where each axis comes from) of the main grid and of each include entry."""
        seeds = {"seed": self.grid.seeds} if self.grid.seeds is not None else {}
        main = {**self.grid.axes, **seeds}
        sources = {**{key: f"axes.{key}" for key in self.grid.axes}, **{key: "seeds" for key in seeds}}
        blocks = [(main, sources)] if self.grid.axes or not self.grid.include else []
        for i, entry in enumerate(self.grid.include):
            blocks.append(({**main, **entry}, {**sources, **{key: f"include[{i}].{key}" for key in entry}}))
        for axes, where in blocks:
            yield {key: [self.value(key, v, where[key]) for v in values] for key, values in axes.items()}, where

    def apply_rules(self, settings: dict[str, Any]) -> tuple[dict[str, Any], ResourceRequest]:
        request = self.grid.resources
        for rule, values in self.rules:
            if _matches(rule.match, settings):
                settings = {**settings, **values}
                request = _merged(request, rule.resources)
        return settings, request

    def source(self, key: str, base: dict[str, Any], axis_sources: dict[str, str]) -> str:
        """Which part of the grid file gave this trial's `key` (for error messages)."""
        where = axis_sources.get(key, f"fixed.{key}")
        settings = base
        for rule, values in self.rules:
            if _matches(rule.match, settings):
                settings = {**settings, **values}
                where = f"{rule.location}.set.{key}" if key in values else where
        return where

    def trial(self, settings: dict[str, Any], base: dict[str, Any], axis_sources: dict[str, str]) -> dict[str, Any]:
        """The trial's resolved values: validated, presets filled in where the grid left None."""
        try:
            validate(TrialConfig(**settings))
        except ConfigError as error:
            trial = ", ".join(f"{k}={v}" for k, v in base.items() if k in axis_sources)
            raise GridError(self.grid.path, self.source(error.key, base, axis_sources),
                            f"{error.message} (trial {trial}; an `exclude` rule can drop such trials)") from error
        values = {**DEFAULTS, **settings}
        for key, value in _presets(values["profile"], values["method"], values["optimizer"], values["dataset"]):
            if values[key] is None:
                values[key] = value
        return values

    def specs(self) -> Iterator[TrialSpec]:
        for axes, axis_sources in self.blocks():
            keys = list(axes)
            for combination in itertools.product(*(axes[key] for key in keys)):
                base = {**self.fixed, **dict(zip(keys, combination))}
                settings, request = self.apply_rules(base)
                if any(_matches(rule, settings) for rule in self.grid.exclude):
                    continue
                values = self.trial(settings, base, axis_sources)
                config = TrialConfig(**values)
                yield TrialSpec(self.grid.name, config, _hash_values(values), trial_resources(config, request))


@lru_cache(maxsize=1024)
def _merged(base: ResourceRequest, rule: ResourceRequest) -> ResourceRequest:
    return base.merged(rule)


def expand(grid: GridFile) -> tuple[TrialSpec, ...]:
    """Every trial of the grid, validated, resolved and labelled, in grid order, duplicates removed."""
    expander = _Expander(grid)
    trials: dict[str, TrialSpec] = {}
    for spec in expander.specs():
        trials.setdefault(spec.config_hash, spec)
    specs = list(trials.values())
    labels = trial_labels([spec.config for spec in specs], expander.always_named(), expander.usual, EXECUTION_KEYS)
    return tuple(TrialSpec(s.grid, s.config, s.config_hash, s.resources, label) for s, label in zip(specs, labels))


def load_grid(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Grid:
    """Read, validate and expand a grid file, with `--set` overrides (orchestrator/grid/overrides.py)."""
    errors: list[GridError] = []
    grid = apply_overrides(parse_grid(Path(path), errors), overrides or {})
    raise_all(errors + value_errors(grid) if errors else [])  # without structural errors, expand() checks values
    return Grid(grid.name, grid.path, expand(grid), grid)
