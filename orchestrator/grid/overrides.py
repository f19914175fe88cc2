"""`--set KEY=VALUE`: one setting for every trial of a grid, replacing what the grid file says.

The paper grids run the `released` profile; `zfsweep run grids/table1.yaml --set profile=corrected`
runs the same trials with zfsweep's corrected settings without editing the file. A set key
replaces the grid's `fixed` value and its axis values (in the main grid, `seeds` and `include`
entries), and `when` rules no longer set it; `when` rules still match on it, `exclude` rules still apply. Values are YAML scalars
read by the grid's own loader (`1e-3` is a float), checked like any grid value.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

from catalog.config import ConfigError, config_keys, make_config
from orchestrator.grid.schema import SCALARS, GridError, GridFile
from orchestrator.grid.yamlload import YamlError, load_yaml, shorten

SOURCE = "command line"  # where a --set error comes from, in place of a grid file's path


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """{key: value} from KEY=VALUE strings; a GridError names `--set KEY` for a bad key or value."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        key = key.strip()
        if not equals or not key:
            raise GridError(SOURCE, "--set", f"expected KEY=VALUE (e.g. profile=corrected), got {shorten(pair)}")
        if key not in config_keys():
            raise GridError(SOURCE, f"--set {key}", f"unknown setting; allowed: {', '.join(config_keys())}")
        try:
            value = load_yaml(text) if text.strip() else None
        except YamlError as error:
            raise GridError(SOURCE, f"--set {key}", f"value is not a YAML scalar ({error})") from error
        if not isinstance(value, SCALARS):
            raise GridError(SOURCE, f"--set {key}", f"must be one value, got {shorten(value)}")
        try:
            make_config({key: value})
        except ConfigError as error:
            raise GridError(SOURCE, f"--set {key}", error.message) from error
        overrides[key] = value
    return overrides


def _pinned(axes: Mapping[str, tuple[Any, ...]], overrides: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Axes whose overridden keys keep a single value (so every block of the grid stays a block)."""
    return {key: (overrides[key],) if key in overrides else values for key, values in axes.items()}


def apply_overrides(grid: GridFile, overrides: Mapping[str, Any]) -> GridFile:
    """The grid with every key of `overrides` fixed to its value (module docstring)."""
    if not overrides:
        return grid
    rules = tuple(dataclasses.replace(rule, settings={k: v for k, v in rule.settings.items() if k not in overrides})
                  for rule in grid.when)
    return dataclasses.replace(
        grid, fixed={**grid.fixed, **overrides}, axes=_pinned(grid.axes, overrides),
        include=tuple(_pinned(entry, overrides) for entry in grid.include), when=rules,
        seeds=(overrides["seed"],) if "seed" in overrides and grid.seeds is not None else grid.seeds)
