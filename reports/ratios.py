"""Tables 3 and 4 of ZeroFlow (arXiv 2501.01045): EASE with ZO-SGD against one enhancement ratio.

Table 3 varies the historical-mixing ratio, Table 4 the sparsity ratio; the other enhancements
are off and the 0 % column is the plain ZO-SGD run. The paper shows ImageNet-A only; zfsweep shows
one block per dataset that has a run with the ratio above 0. Sparsity's two masks (``exact``
zeroes exactly the ratio, ``released`` the released code's Φ(s)) are different experiments, so
Table 4 has one block per dataset and mask mode, each sharing the dataset's plain run. Bold runs
along each row: the best ratio for that metric, by the rule of reports.significance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from reports.cells import Cell, cells, prepare
from reports.select import ACCURACY, dataset_label, present_datasets, ratio_runs, setting
from reports.significance import bold_marks
from reports.table import BOLD_NOTE, EMPTY_NOTE, SPREAD_NOTE, Builder, Column, Table, provenance
from reports.tables import DECIMALS, Skipped

PAPER_RATIOS: dict[str, tuple[float, ...]] = {
    "historical": (0.0, 0.2, 0.4, 0.6, 0.8),
    "sparsity": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
}
TITLES = {"historical": "Historical ratio (%)", "sparsity": "Sparsity ratio (%)"}
NAMES = {"historical": "table3", "sparsity": "table4"}


@dataclass(frozen=True)
class RatioBlock:
    """One dataset (and, for sparsity, one mask mode): cells keyed (ratio, metric)."""

    dataset: str
    mode: str | None
    cells: dict[tuple[float, str], Cell] = field(default_factory=dict)

    @property
    def label(self) -> str:
        name = dataset_label(self.dataset)
        return f"{name} ({self.mode} mask)" if self.mode else name


def ratio_blocks(
    runs: pd.DataFrame, ratio: str, prefer: str | None = None
) -> tuple[list[RatioBlock], list[str], pd.DataFrame]:
    """The blocks of Table 3 (``ratio="historical"``) or Table 4 (``"sparsity"``), notes, runs used."""
    selected = ratio_runs(runs, ratio)
    selected = selected.assign(_ratio=setting(selected, ratio).round(4))
    varied = selected[selected["_ratio"] > 0]
    blocks: list[RatioBlock] = []
    notes: list[str] = []
    used = []
    for dataset in present_datasets(varied):
        in_dataset = selected["dataset"].eq(dataset).fillna(False).astype(bool)
        for mode in _modes(varied[varied["dataset"] == dataset], ratio):
            member = in_dataset & ((selected["_ratio"] == 0) | _mode_is(selected, mode))
            scope = f"{NAMES[ratio]} {dataset}" + (f" ({mode})" if mode else "")
            chosen, block_notes = prepare(selected[member], ("_ratio",), scope, prefer)
            notes += block_notes
            used.append(chosen)
            block_cells = {
                (key[0], metric): cell
                for metric, _, _ in ACCURACY
                for key, cell in cells(chosen, ("_ratio",), metric).items()
            }
            blocks.append(RatioBlock(dataset, mode, block_cells))
    return blocks, notes, pd.concat(used) if used else selected.iloc[:0]


def _modes(varied: pd.DataFrame, ratio: str) -> list[str | None]:
    """Sparsity mask modes used by a dataset's varied runs; one unnamed block otherwise."""
    if ratio != "sparsity":
        return [None]
    return sorted(set(varied["sparsity_mode"].fillna("unspecified").astype(str)))


def _mode_is(runs: pd.DataFrame, mode: str | None) -> pd.Series:
    if mode is None:
        return pd.Series(True, index=runs.index)
    return runs["sparsity_mode"].fillna("unspecified").astype(str).eq(mode)


def ratio_table(runs: pd.DataFrame, ratio: str, prefer: str | None = None) -> Table:
    """Table 3 or Table 4; Skipped when no run varies the ratio."""
    blocks, notes, chosen = ratio_blocks(runs, ratio, prefer)
    if not blocks:
        raise Skipped(NAMES[ratio], f"no FINISHED EASE ZO-SGD run (q = 1, other enhancements off) has {ratio} > 0")
    present = {r for block in blocks for r, _ in block.cells}
    ratios = sorted(set(PAPER_RATIOS[ratio]) | present)
    build = Builder(tuple(Column(TITLES[ratio], f"{r * 100:g}") for r in ratios))
    for block in blocks:
        for metric, label, higher in ACCURACY:
            row = [block.cells.get((r, metric)) for r in ratios]
            lead = (dataset_label(block.dataset), block.mode or "unspecified") if ratio == "sparsity" else \
                (dataset_label(block.dataset),)
            build.add((*lead, label), row, bold_marks(row, higher, DECIMALS))
    caption = (
        f"EASE with ZO-SGD (q = 1) against the {ratio} ratio, other enhancements off; 0 is the "
        "plain run. " + provenance(chosen, prefer, notes) + SPREAD_NOTE + BOLD_NOTE
        + "Bold is decided along each row. " + EMPTY_NOTE)
    number = {"historical": "Table 3: historical ratio", "sparsity": "Table 4: sparsity ratio"}[ratio]
    header = ("Dataset", "Mask", "Metric") if ratio == "sparsity" else ("Dataset", "Metric")
    return build.table(NAMES[ratio], number, header, caption, notes)


def table3(runs: pd.DataFrame, prefer: str | None = None) -> Table:
    return ratio_table(runs, "historical", prefer)


def table4(runs: pd.DataFrame, prefer: str | None = None) -> Table:
    return ratio_table(runs, "sparsity", prefer)
