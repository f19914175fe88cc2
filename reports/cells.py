"""From the runs a table selected to one number per cell, with its seeds.

A cell of a table (say EASE, ZO-SGD, CIFAR-100) can receive runs that are not seeds of one
experiment: the same config logged again in another grid, or configs that differ in something the
table does not show (epochs, lr, backbone, profile). Averaging those would report a spread that no
seed produced, and silently keeping one would let a debugging grid replace a row, so:

1. runs are identified by their config without the seed (and without ``data_root``, a path that
   changes between machines, and the execution-only ``device`` / ``num_workers``); a config
   logged twice with one seed counts once, the latest run kept;
2. when a cell still holds several configs, that is an error (MixingError, which the CLI turns
   into exit code 2 naming the cell and the differing settings) unless the user chose a rule:
   ``most-seeds`` keeps the config with the most seeds (ties: the newest), ``newest`` the config
   of the most recently finished run. A table that applied a rule says so in its caption.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_string_dtype

from catalog.errors import InputError
from reports.runs import FLOAT_PARAMS, INT_PARAMS, META_COLUMNS

NOT_CONFIG: frozenset[str] = frozenset({*META_COLUMNS, "seed", "data_root", "device", "num_workers"})
MAX_NOTES = 5
PREFER_RULES: dict[str, tuple[str, ...]] = {"most-seeds": ("n", "last"), "newest": ("last", "n")}


class MixingError(InputError):
    """A cell would average or silently pick between configs that differ in more than the seed."""


@dataclass(frozen=True)
class Cell:
    """The values of one metric over the seeds of one config."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof 1); NaN for a single seed."""
        return float(np.std(self.values, ddof=1)) if self.n >= 2 else float("nan")


def config_columns(runs: pd.DataFrame) -> list[str]:
    """Param columns: the typed known params and every string column that is not run metadata."""
    typed = {*INT_PARAMS, *FLOAT_PARAMS}
    return [
        name
        for name in runs.columns
        if name not in NOT_CONFIG
        and not name.startswith("_")
        and (name in typed or is_string_dtype(runs[name]))
    ]


def _identity(runs: pd.DataFrame) -> pd.Series:
    """One string per run naming its config without the seed."""
    columns = config_columns(runs)
    text = runs[columns].astype("string").fillna("")
    if "sparsity_mode" in text and "sparsity" in runs:
        # The mask mode means nothing when no entry is masked.
        text.loc[runs["sparsity"].fillna(0).eq(0).to_numpy(), "sparsity_mode"] = ""
    if not columns:
        return pd.Series("", index=runs.index, dtype="string")
    return text[columns[0]].str.cat([text[name] for name in columns[1:]], sep="\x1f")


def one_per_seed(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs with a ``_config`` column, one run (the latest finished) per config and seed."""
    tagged = runs.assign(_config=_identity(runs), _seed=runs["seed"].astype("string").fillna(""))
    tagged = tagged.sort_values("end_time", kind="stable", na_position="first")
    return tagged.drop_duplicates(["_config", "_seed"], keep="last").sort_index()


def pick_configs(
    runs: pd.DataFrame, keys: Sequence[str], scope: str, prefer: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """One config per cell of ``keys``: MixingError, or ``prefer``'s rule (module docstring)."""
    if runs.empty:
        return runs, []
    groups = runs.groupby([*keys, "_config"], dropna=False, sort=False)
    counts = groups.agg(n=("_config", "size"), last=("end_time", "max")).reset_index()
    order = list(PREFER_RULES.get(prefer or "most-seeds", PREFER_RULES["most-seeds"]))
    counts = counts.sort_values(order, ascending=False, kind="stable", na_position="last")
    chosen = counts.drop_duplicates(list(keys), keep="first")
    if len(counts) > len(chosen) and prefer is None:
        raise MixingError(_mixing_line(runs, keys, scope))
    kept_index = pd.MultiIndex.from_frame(chosen[[*keys, "_config"]])
    kept = pd.MultiIndex.from_frame(runs[[*keys, "_config"]]).isin(kept_index)
    notes = _crowded_notes(runs, kept, keys, scope) if len(counts) > len(chosen) else []
    return runs[kept], notes


def _differing(group: pd.DataFrame) -> list[str]:
    return [c for c in config_columns(group) if group[c].astype("string").nunique(dropna=False) > 1]


def _mixing_line(runs: pd.DataFrame, keys: Sequence[str], scope: str) -> str:
    """The one line naming the first crowded cell, its differing settings and the way out."""
    for key, group in runs.groupby(list(keys), dropna=False, sort=False):
        if group["_config"].nunique() > 1:
            where = "/".join(str(v) for v in (key if isinstance(key, tuple) else (key,)))
            values = "; ".join(
                f"{c} = {', '.join(sorted(group[c].astype('string').fillna('(unset)').unique()))}"
                for c in _differing(group)
            )
            return (f"{scope}: cell {where} has runs of {group['_config'].nunique()} configs that differ "
                    f"in more than the seed ({values}); narrow the runs with --experiment or choose "
                    f"a rule with --prefer {'|'.join(PREFER_RULES)}")
    return f"{scope}: a cell has runs of several configs"


def _crowded_notes(
    runs: pd.DataFrame, kept: np.ndarray, keys: Sequence[str], scope: str
) -> list[str]:
    """One line per cell that held several configs, at most MAX_NOTES plus a count."""
    crowded = [
        (key, group)
        for key, group in runs.assign(_kept=kept).groupby(list(keys), dropna=False, sort=False)
        if group["_config"].nunique() > 1
    ]
    notes: list[str] = []
    for key, group in crowded[:MAX_NOTES]:
        differing = _differing(group)
        where = "/".join(str(value) for value in (key if isinstance(key, tuple) else (key,)))
        notes.append(
            f"{scope}: {where} has {group['_config'].nunique()} configs differing in "
            f"{', '.join(differing)}; kept one with {int(group['_kept'].sum())} seed(s)"
        )
    if len(crowded) > MAX_NOTES:
        notes.append(f"{scope}: {len(crowded) - MAX_NOTES} more cells held several configs")
    return notes


def cells(runs: pd.DataFrame, keys: Sequence[str], metric: str) -> dict[tuple[Any, ...], Cell]:
    """Map each key tuple to the cell of ``metric``; keys without a finite value are absent."""
    valid = runs[np.isfinite(runs[metric].to_numpy(dtype="float64"))]
    out: dict[tuple[Any, ...], Cell] = {}
    for key, group in valid.groupby(list(keys), sort=False):
        out[key if isinstance(key, tuple) else (key,)] = Cell(tuple(group[metric].tolist()))
    return out


def prepare(
    runs: pd.DataFrame, keys: Sequence[str], scope: str, prefer: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The usual pipeline: one run per config and seed, then one config per cell."""
    return pick_configs(one_per_seed(runs), keys, scope, prefer)
