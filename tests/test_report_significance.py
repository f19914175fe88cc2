"""The bold rule: best mean, ties after rounding, and Welch's t-test between seeded entries."""

from __future__ import annotations

import math

import pytest

from reports.cells import Cell
from reports.significance import best_index, bold_marks, welch_p


def test_single_seeds_bold_only_ties_after_rounding() -> None:
    cells = [Cell((91.234,)), Cell((91.231,)), Cell((91.22,)), None]
    assert bold_marks(cells, higher_is_better=True, decimals=2) == [True, True, False, False]


def test_lower_is_better_picks_the_minimum() -> None:
    cells = [Cell((7.33,)), Cell((7.32,)), Cell((7.32,))]
    assert best_index(cells, higher_is_better=False) == 1
    assert bold_marks(cells, higher_is_better=False, decimals=2) == [False, True, True]


def test_overlapping_seeds_are_bold_and_separated_ones_are_not() -> None:
    best = Cell((80.0, 81.0, 79.0))
    close = Cell((79.5, 80.2, 79.9))
    far = Cell((70.0, 71.0, 69.0))
    assert welch_p(close, best) > 0.05 > welch_p(far, best)
    assert bold_marks([best, close, far], True, 2) == [True, True, False]


def _t_pdf(x: float, df: float) -> float:
    norm = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    return norm * (1 + x * x / df) ** (-(df + 1) / 2)


def test_welch_p_matches_the_textbook_formula() -> None:
    a, b = Cell((1.0, 2.0, 3.0, 4.0)), Cell((2.0, 4.0, 6.0))
    va, vb = (5 / 3) / 4, 4.0 / 3  # sample variance over n
    t = abs(a.mean - b.mean) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)
    # Two-sided p = 1 - 2 * integral of the t density from 0 to |t| (Simpson's rule).
    steps = 2000
    h = t / steps
    weights = [1 if i in (0, steps) else 4 if i % 2 else 2 for i in range(steps + 1)]
    area = h / 3 * sum(w * _t_pdf(i * h, df) for i, w in enumerate(weights))
    assert welch_p(a, b) == pytest.approx(1 - 2 * area, abs=1e-6)


def test_a_lone_seed_is_never_tested_only_compared_after_rounding() -> None:
    best, lone = Cell((80.0, 90.0)), Cell((84.99,))
    assert math.isnan(welch_p(lone, best))
    assert bold_marks([best, lone], True, 2) == [True, False]


def test_zero_spread_on_both_sides_with_a_gap_is_not_bold() -> None:
    assert bold_marks([Cell((80.0, 80.0)), Cell((79.0, 79.0))], True, 2) == [True, False]


def test_an_empty_column_has_no_bold() -> None:
    assert bold_marks([None, None], True, 2) == [False, False]
