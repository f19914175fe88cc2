"""Grid files: YAML -> validated Grid -> list of TrialSpec, each with a stable config hash.

A grid has a `name`, `fixed` settings shared by every trial, and `axes` whose cartesian product
gives the trials. Every trial config is validated and resolved (presets filled in) here, before
anything starts, so a bad grid fails with one line naming the file, the key and what is allowed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from trainers.config import ConfigError, TrialConfig, make_config
from trainers.presets import resolve

GRID_KEYS = ("name", "description", "fixed", "axes")
# Settings that change where and how fast a trial runs, not what it computes: not hashed.
EXECUTION_KEYS = ("device", "num_workers")


class GridError(ValueError):
    """Bad grid input; the message is one line: file, key, what is allowed."""

    def __init__(self, path: str, key: str, message: str) -> None:
        super().__init__(f"{path}: '{key}': {message}")


@dataclass(frozen=True)
class TrialSpec:
    """One trial of a grid: its resolved config and the hash that identifies it in MLflow."""

    grid: str
    config: TrialConfig
    config_hash: str

    @property
    def label(self) -> str:
        c = self.config
        return f"{c.method}/{c.optimizer}/{c.dataset} q={c.q} seed={c.seed}"


@dataclass(frozen=True)
class Grid:
    name: str
    path: str
    trials: tuple[TrialSpec, ...]


def config_hash(config: TrialConfig) -> str:
    """sha256 of the resolved config's canonical JSON (execution-only keys left out)."""
    values = {k: v for k, v in config.to_dict().items() if k not in EXECUTION_KEYS}
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise GridError(str(path), "file", f"cannot be read ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise GridError(str(path), "file", f"is not valid YAML ({str(error).splitlines()[0]})") from error
    if not isinstance(data, dict):
        raise GridError(str(path), "file", f"must be a mapping with keys {', '.join(GRID_KEYS)}")
    return data


def _mapping(path: str, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise GridError(path, key, "must be a mapping of setting names to values")
    return value


def _axes(path: str, data: dict[str, Any]) -> dict[str, list[Any]]:
    axes = _mapping(path, data, "axes")
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise GridError(path, f"axes.{key}", "must be a non-empty list of values")
    return axes


def expand(path: str, name: str, fixed: dict[str, Any], axes: dict[str, list[Any]]) -> tuple[TrialSpec, ...]:
    """Every combination of axis values on top of `fixed`, validated and resolved, duplicates removed."""
    trials: dict[str, TrialSpec] = {}
    keys = list(axes)
    for combination in itertools.product(*(axes[key] for key in keys)):
        values = {**fixed, **dict(zip(keys, combination))}
        try:
            config = resolve(make_config(values))
        except ConfigError as error:
            section = f"axes.{error.key}" if error.key in axes else f"fixed.{error.key}"
            raise GridError(path, section, str(error).split(": ", 1)[1]) from error
        digest = config_hash(config)
        trials.setdefault(digest, TrialSpec(name, config, digest))
    return tuple(trials.values())


def load_grid(path: str | Path) -> Grid:
    """Read, validate and expand a grid file."""
    path = Path(path)
    data = _read_yaml(path)
    for key in data:
        if key not in GRID_KEYS:
            raise GridError(str(path), key, f"unknown grid key; allowed: {', '.join(GRID_KEYS)}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise GridError(str(path), "name", "must be a non-empty string")
    trials = expand(str(path), name, _mapping(str(path), data, "fixed"), _axes(str(path), data))
    return Grid(name, str(path), trials)
