"""The untrained reference beside every accuracy: marks for cells below it, and which rows learned.

A class-incremental method on a frozen pretrained ViT already classifies by class means before
any step (SimpleCIL; RevisitingCIL, Zhou et al. 2023), so an accuracy is only a result of
training where it rises above that untrained reference of its data set. Two references:
- published: prototype-only SimpleCIL (catalog/paper.py UNTRAINED, the RevisitingCIL logs), for the
  paper's four data sets; mark PUBLISHED_MARK;
- zfsweep's own `epochs: 0` run of the same method and data set, where the store has one; mark
  OWN_MARK.
A cell whose Avg or Last mean is strictly below a reference gets that reference's mark; `--compare
paper` uses both, Table 1 (zfsweep's runs alone, on zfsweep's backbone, which differs from the
published reference's) only zfsweep's own. A row whose Avg and Last both stay at or below its own
untrained run's never learned anything, so its forgetting is no result either: Table 1's bold
rule (reports.tables) leaves such Fgt entries out.
"""

from __future__ import annotations

from catalog import paper
from reports.cells import Cell

PUBLISHED_MARK = "†"
OWN_MARK = "‡"
MARKED_METRICS: tuple[str, ...] = ("avg_acc", "last_acc")
OWN_NOTE = f"{OWN_MARK}: below zfsweep's own untrained (0-epoch) run of the same method and data set. "
NOTE = (f"{PUBLISHED_MARK}: below the published untrained reference of its data set ({paper.UNTRAINED_SOURCE}); "
        + OWN_NOTE)
FGT_NOTE = ("Fgt is not bolded for a row whose Avg and Last never rise above the untrained (0-epoch) run's: "
            "what never learned cannot forget. ")


def published(dataset: str, metric: str) -> float | None:
    """The published untrained Avg or Last of a data set; None where there is none."""
    if dataset not in paper.UNTRAINED or metric not in MARKED_METRICS:
        return None
    return paper.UNTRAINED[dataset][MARKED_METRICS.index(metric)]


def marks(value: float | None, dataset: str, metric: str, own: Cell | None, with_published: bool = True) -> str:
    """The marks of one accuracy `value` (a mean): below the published and/or zfsweep's own reference."""
    if value is None or metric not in MARKED_METRICS:
        return ""
    reference = published(dataset, metric) if with_published else None
    text = PUBLISHED_MARK if reference is not None and value < reference else ""
    return text + (OWN_MARK if own is not None and value < own.mean else "")


def never_learned(row: dict[str, Cell | None], own: dict[str, Cell | None]) -> bool:
    """True when the row's Avg and Last means are both at or below its own untrained run's (False without one)."""
    for metric in MARKED_METRICS:
        cell, bar = row.get(metric), own.get(metric)
        if cell is None or bar is None or cell.mean > bar.mean:
            return False
    return True
