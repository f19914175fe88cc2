"""Which runs each table and figure takes, and how names are printed.

The paper defines every table by a setting, not by the grid that produced it (ZeroFlow
Tables 1-4, Figure 5), so selection looks only at the params: a plain ZO-SGD run counts in Table 1, as the
0 % column of Tables 3 and 4, and as the q = 1 point of Figure 5, whichever experiment logged it.
A param missing from a run takes the value that means "off" (q = 1, ratios 0), as the trainers'
defaults do. The paper's tables and figures take only plain runs (``plain``): a run with a head
trained first-order (``fo_head``) or a setting of an estimator beyond the paper is left out of
them whatever its optimizer (first-order trials ignore both, but a cell must not mix them), so it
never shares a cell with the paper's runs; the beyond table (reports.beyond) shows such runs.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from catalog.config import BEYOND_SETTINGS
from catalog.names import DATASET_LABELS, DATASET_NAMES, METHOD_LABELS, PAPER_DATASETS
from catalog.optimizers import LABELS, PAPER_OPTIMIZERS

DATASETS: tuple[str, ...] = DATASET_NAMES
# Table 1's reference row: runs with `epochs: 0` trained nothing, whatever optimizer they name.
UNTRAINED = "untrained"
# The paper's nine optimizers (the ones Tables 1-4 and the figures take) and the untrained row.
OPTIMIZER_LABELS: dict[str, str] = {**{name: LABELS[name] for name in PAPER_OPTIMIZERS}, UNTRAINED: "Untrained"}
# Accuracy metrics in table order; True where higher is better.
ACCURACY: tuple[tuple[str, str, bool], ...] = (
    ("avg_acc", "Avg", True),
    ("last_acc", "Last", True),
    ("forgetting", "Fgt", False),
)
OFF: dict[str, float] = {"q": 1, "historical": 0.0, "sparsity": 0.0, "hybrid": 0.0}
ENHANCEMENTS: tuple[str, ...] = ("historical", "sparsity", "hybrid")
# Table 2's rows: (optimizer, q, label), in the paper's order.
TABLE2_ROWS: tuple[tuple[str, int, str], ...] = (
    ("fo-sgd", 1, "FO-SGD"),
    ("zo-sgd", 1, "ZO-SGD (q=1)"),
    ("zo-sgd", 4, "ZO-SGD (q=4)"),
    ("zo-sgd-sign", 1, "ZO-SGD-Sign"),
    ("zo-sgd-conserve", 1, "ZO-SGD-Conserve"),
    ("forward-grad", 1, "Forward-Grad"),
)
FIGURE5_OPTIMIZERS: tuple[str, ...] = ("zo-sgd", "zo-adam")
# The switch for a first-order head inside a ZO trial (BEYOND_SETTINGS: the settings only the
# estimators beyond the paper take; unset: the estimator's registered default).
FO_HEAD = "fo_head"
UNSET_TEXTS: frozenset[str] = frozenset({"", "none", "nan", "<na>"})


def setting(runs: pd.DataFrame, name: str) -> pd.Series:
    """A setting column with missing values read as "off"."""
    return runs[name].astype("float64").fillna(OFF[name])


def off(runs: pd.DataFrame, names: Iterable[str] = ENHANCEMENTS) -> pd.Series:
    """Mask of runs with every named enhancement switched off."""
    mask = pd.Series(True, index=runs.index)
    for name in names:
        mask &= setting(runs, name) == 0
    return mask


def unset(runs: pd.DataFrame, name: str) -> pd.Series:
    """Mask of runs that leave a param unset: no column, missing, or logged as None."""
    if name not in runs:
        return pd.Series(True, index=runs.index)
    return runs[name].astype("string").str.strip().str.lower().fillna("").isin(UNSET_TEXTS)


def head_first_order(runs: pd.DataFrame) -> pd.Series:
    """Mask of runs whose head trained first-order; unset (runs before fo_head) reads as False."""
    if FO_HEAD not in runs:
        return pd.Series(False, index=runs.index)
    return runs[FO_HEAD].astype("string").str.strip().str.lower().isin(["true", "1"]).fillna(False).astype(bool)


def plain(runs: pd.DataFrame) -> pd.Series:
    """Mask of runs in the paper's setting: zeroth-order head, no beyond-the-paper setting."""
    mask = ~head_first_order(runs)
    for name in BEYOND_SETTINGS:
        mask &= unset(runs, name)
    return mask


def is_in(runs: pd.DataFrame, name: str, values: Iterable[str]) -> pd.Series:
    """Membership that reads a missing string as "no" instead of propagating NA."""
    return runs[name].isin(list(values)).fillna(False).astype(bool)


def untrained(runs: pd.DataFrame) -> pd.Series:
    """Mask of runs with `epochs: 0`: the untrained reference, not an optimizer's result."""
    if "epochs" not in runs:
        return pd.Series(False, index=runs.index)
    return runs["epochs"].astype("float64").eq(0).fillna(False).astype(bool)


def table1_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 1: q = 1, no enhancement, plain runs of a known method and optimizer; untrained as UNTRAINED."""
    runs = runs.assign(optimizer=runs["optimizer"].where(~untrained(runs), UNTRAINED))
    mask = (setting(runs, "q") == 1) & off(runs) & plain(runs)
    mask &= is_in(runs, "method", METHOD_LABELS) & is_in(runs, "optimizer", OPTIMIZER_LABELS)
    return runs[mask & runs["dataset"].notna()]


def table2_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 2: EASE, no enhancement, a plain run of one of the six (optimizer, q) rows."""
    q = setting(runs, "q")
    row = pd.Series(False, index=runs.index)
    for optimizer, queries, _ in TABLE2_ROWS:
        row |= is_in(runs, "optimizer", [optimizer]) & (q == queries)
    mask = row & off(runs) & plain(runs) & is_in(runs, "method", ["ease"]) & runs["dataset"].notna()
    mask &= ~untrained(runs)
    return runs[mask]


def ratio_runs(runs: pd.DataFrame, ratio: str) -> pd.DataFrame:
    """Tables 3 and 4: plain EASE with ZO-SGD at q = 1, ``ratio`` free, the other enhancements off."""
    others = [name for name in ENHANCEMENTS if name != ratio]
    mask = is_in(runs, "method", ["ease"]) & is_in(runs, "optimizer", ["zo-sgd"])
    mask &= (setting(runs, "q") == 1) & off(runs, others) & plain(runs) & runs["dataset"].notna()
    mask &= ~untrained(runs)
    return runs[mask]


def figure5_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Figure 5: plain ZO-SGD and ZO-Adam at any q, no enhancement."""
    mask = is_in(runs, "optimizer", FIGURE5_OPTIMIZERS) & off(runs) & plain(runs) & ~untrained(runs)
    mask &= is_in(runs, "method", METHOD_LABELS) & runs["dataset"].notna()
    return runs[mask & runs["q"].notna()]


def order_datasets(names: Iterable[str]) -> list[str]:
    """Distinct dataset names: the known ones in the paper's order, then others by name."""
    present = {str(name) for name in names}
    known = [name for name in DATASETS if name in present]
    return known + sorted(present - set(DATASETS))


def present_datasets(runs: pd.DataFrame) -> list[str]:
    """Datasets that have runs, in order_datasets' order."""
    return order_datasets(runs["dataset"].dropna())


def dataset_label(name: str) -> str:
    return DATASET_LABELS.get(name, name)
