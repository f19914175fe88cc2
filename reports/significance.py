"""Which entries of a column are printed in bold.

The paper bolds the best entry of each column. With several seeds "best" is uncertain, so
zfsweep bolds every entry that is not significantly worse than the best:

- the best entry is the one with the best mean (highest Avg and Last, lowest Fgt);
- an entry is bold when its mean, rounded to the printed decimals, equals the best's rounded
  mean (ties are all bold, as in the paper, and this is the whole rule when either entry has a
  single seed, since there is no spread to test);
- when both the entry and the best have at least two seeds, it is also bold when Welch's
  two-sided t-test (unequal variances) cannot tell the two apart at the 5 % level (p >= 0.05);
- when that marks every entry of the column (all equal after rounding, a single entry, or no
  entry distinguishable from the best), nothing is bold: bold would mark noise.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

from reports.cells import Cell

ALPHA = 0.05


def best_index(cells: Sequence[Cell | None], higher_is_better: bool) -> int | None:
    """Position of the entry with the best mean; None when the column is empty."""
    means = [(cell.mean, i) for i, cell in enumerate(cells) if cell is not None]
    if not means:
        return None
    sign = -1.0 if higher_is_better else 1.0
    return min(means, key=lambda pair: (sign * pair[0], pair[1]))[1]


def welch_p(a: Cell, b: Cell) -> float:
    """Two-sided p-value of Welch's t-test; NaN when it is undefined (both spreads zero)."""
    if a.n < 2 or b.n < 2 or (a.std == 0 and b.std == 0):
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        # Near-identical seeds make scipy warn about precision; the p-value is still usable.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a.values, b.values, equal_var=False)
    return float(result.pvalue)


def bold_marks(
    cells: Sequence[Cell | None], higher_is_better: bool, decimals: int
) -> list[bool]:
    """One flag per entry: bold or not, by the rule in the module docstring."""
    best = best_index(cells, higher_is_better)
    if best is None:
        return [False] * len(cells)
    top = cells[best]
    assert top is not None
    shown = f"{top.mean:.{decimals}f}"
    marks = []
    for cell in cells:
        if cell is None:
            marks.append(False)
            continue
        tied = f"{cell.mean:.{decimals}f}" == shown
        # NaN (zero spread on both sides, means apart) compares False: the gap is real.
        marks.append(tied or welch_p(cell, top) >= ALPHA)
    present = [mark for mark, cell in zip(marks, cells) if cell is not None]
    return [False] * len(cells) if all(present) else marks
