"""The cells of a searched grid, and the trials a search adds to them.

A grid with a `search:` block (orchestrator/grid/search.py) still expands to its own trials: the
presets, one per seed, which `zfsweep report` sets beside the tuned numbers. Those trials are
grouped into cells by the block's `per` keys; within a cell they may differ only by seed (else the
search would not know which of them to vary). Trials that train nothing (`epochs: 0`, the
untrained reference) belong to no cell. A cell's search draws trials that are its first-seed trial
with the sampled values and a held-out validation share; its best values are then rerun on every
seed of the cell with the full training data. Every such trial is a TrialSpec like any other, its
own config hash, tagged with its cell and phase (catalog/records.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

from catalog.config import validate
from catalog.records import CELL_TAG, PHASE_TAG, SEARCH_TAG, SEARCHED_TAG
from orchestrator.grid.errors import GridError
from orchestrator.grid.expand import Grid, TrialSpec, config_hash
from orchestrator.grid.search import SearchBlock

SIGNIFICANT = 4  # sampled floats are kept to 4 significant digits: readable names, no false precision


@dataclass(frozen=True)
class Cell:
    """One search: its label, its id (the samples that belong together), its grid trials by seed."""

    label: str
    search_id: str
    trials: tuple[TrialSpec, ...]
    block: SearchBlock

    @property
    def base(self) -> TrialSpec:
        """The first-seed trial, the one the samples vary."""
        return self.trials[0]

    @property
    def tasks(self) -> int:
        return int(self.base.config.tasks or 1)


def _trains(spec: TrialSpec) -> bool:
    return spec.config.epochs != 0


def _label(spec: TrialSpec, per: tuple[str, ...]) -> str:
    return "/".join(str(getattr(spec.config, key)) for key in per)


def _stated(grid: Grid) -> set[str]:
    """The settings the grid file varies itself (axes, include entries)."""
    source = grid.source
    return set() if source is None else {*source.axes, *(key for entry in source.include for key in entry)}


def search_cells(grid: Grid) -> tuple[Cell, ...]:
    """The cells of a grid with a `search:` block, in grid order; () without one.

    GridError (one line) where trials of one cell differ in more than their seed.
    """
    block = grid.source.search if grid.source is not None else None
    if block is None:
        return ()
    groups: dict[str, list[TrialSpec]] = {}
    for spec in grid.trials:
        if _trains(spec):
            groups.setdefault(_label(spec, block.per), []).append(spec)
    cells = []
    for label, trials in groups.items():
        first = {k: v for k, v in trials[0].config.to_dict().items() if k != "seed"}
        for other in trials[1:]:
            differ = sorted(k for k, v in other.config.to_dict().items() if k != "seed" and first[k] != v)
            if differ:
                named = [key for key in differ if key in _stated(grid)]  # a preset follows from those
                raise GridError(grid.path, "search.per", f"trials of cell {label} differ in {', '.join(differ)}; "
                                                         f"add {(named or differ)[0]} to search.per (or make it fixed)")
        digest = hashlib.sha256(f"{trials[0].config_hash}:{block.fingerprint()}".encode()).hexdigest()[:16]
        cells.append(Cell(label, digest, tuple(trials), block))
    return tuple(cells)


def tag_presets(grid: Grid, cells: tuple[Cell, ...]) -> Grid:
    """The grid with each cell's own trials tagged as that cell's presets."""
    labels = {spec.config_hash: cell.label for cell in cells for spec in cell.trials}
    trials = tuple(dataclasses.replace(spec, tags=((CELL_TAG, labels[spec.config_hash]), (PHASE_TAG, "preset")))
                   if spec.config_hash in labels else spec for spec in grid.trials)
    return dataclasses.replace(grid, trials=trials)


def rounded(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: float(f"{value:.{SIGNIFICANT}g}") if isinstance(value, float) else value
            for key, value in values.items()}


def _with(spec: TrialSpec, values: Mapping[str, Any], tags: tuple[tuple[str, str], ...]) -> TrialSpec:
    """`spec` with `values`; its label (the run name) starts with what the search varied, then the phase."""
    config = dataclasses.replace(spec.config, **values)
    validate(config)
    shown = " ".join(f"{key}={getattr(config, key)}" for key in values if key != "validation")
    label = f"{shown} {dict(tags)[PHASE_TAG]} {spec.label}".strip()
    return dataclasses.replace(spec, config=config, config_hash=config_hash(config), tags=tags, label=label)


def sampled_spec(cell: Cell, values: Mapping[str, Any]) -> TrialSpec:
    """A search sample: the cell's first-seed trial with `values`, trained without its held-out share."""
    tags = ((CELL_TAG, cell.label), (PHASE_TAG, "search"), (SEARCH_TAG, cell.search_id),
            (SEARCHED_TAG, ",".join(cell.block.keys)))
    return _with(cell.base, {**values, "validation": cell.block.validation}, tags)


def tuned_specs(cell: Cell, values: Mapping[str, Any]) -> list[TrialSpec]:
    """The cell's best values on every seed of the cell, on the full training data, scored on test."""
    tags = ((CELL_TAG, cell.label), (PHASE_TAG, "tuned"))
    return [_with(spec, values, tags) for spec in cell.trials]
