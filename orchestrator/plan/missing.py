"""`zfsweep report --grid GRID`: the trials of a grid that have no FINISHED run, for report.html.

The store knows the runs that started (reports.runs.load_runs lists those that failed or never
finished); only the grid knows the trials that never started. A trial is matched to its run by the
config hash the driver tags every run with (catalog/records.py HASH_TAG). The CLI reads the grids
before the store, so a bad grid stops the report (exit 2) before anything is touched.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from orchestrator.grid.expand import Grid


def missing_trials(grids: Iterable[Grid], runs: pd.DataFrame) -> list[str]:
    """One line per trial of the grids with no FINISHED run in `runs` (the unfinished ones say so)."""
    finished = set(runs["config_hash"].dropna().astype(str)) if "config_hash" in runs else set()
    unfinished = set(runs.attrs.get("unfinished_hashes", ()))
    lines = []
    for grid in grids:
        for spec in grid.trials:
            if spec.config_hash not in finished:
                state = "started, not finished" if spec.config_hash in unfinished else "no run"
                lines.append(f"{grid.name}: {spec.label} ({state})")
    return lines
