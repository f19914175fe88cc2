"""Beyond the paper: the later zeroth-order estimators beside ZO-SGD, as a reports.table.Table.

The estimators are Sparse-MeZO (NeurIPS 2025), LOZO (ICLR 2025), SubZero (ICCV 2025), HiZOO
(ICLR 2025) and ZO-Muon (arXiv 2602.17155), trained as ZeroFlow (arXiv 2501.01045) trains ZO-SGD
(catalog/optimizers.py). Rows are (method, q, head, optimizer): the head trained
zeroth-order as in the paper (ZO) or first-order (FO, ``fo_head``), and an estimator with a stated
setting of its own (say HiZOO's ``hessian_smooth``) on a row of its own. Columns are Avg / Last /
Fgt per data set and ΔAvg, the row's Avg minus ZO-SGD's with the same method, q and head.

A run counts when it trained (``epochs`` > 0), no enhancement (historical, sparsity, hybrid) is on,
and it is a run of one of the five estimators, of ZO-SGD with a first-order head, or of plain
ZO-SGD where one of those exists for the same method, q and data set (the reference; Table 1
keeps the others). Runs from any grid count (grids/beyond.yaml, grids/beyond-digits.yaml, the
paper's grids); cells pick one config as every table does (reports.cells), and the paper's
tables never take these runs (select.plain).
"""

from __future__ import annotations

import pandas as pd

from catalog.optimizers import BEYOND_OPTIMIZERS, LABELS
from reports.cells import Cell, cells, prepare
from reports.select import (ACCURACY, BEYOND_SETTINGS, METHOD_LABELS, dataset_label, head_first_order, is_in,
                            off, present_datasets, unset, untrained)
from reports.table import EMPTY_NOTE, SPREAD_NOTE, Builder, Column, Table, provenance
from reports.tables import Skipped

REFERENCE = "zo-sgd"
BEYOND_LABELS: dict[str, str] = {name: LABELS[name] for name in (REFERENCE, *BEYOND_OPTIMIZERS)}
KEYS = ("method", "q", "_head", "optimizer", "_variant", "dataset")
HEADS = ("ZO", "FO")


def beyond_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs the table takes (module docstring), with ``_head`` (ZO/FO) and ``_variant`` columns."""
    mask = is_in(runs, "optimizer", BEYOND_LABELS) & off(runs) & ~untrained(runs) & runs["dataset"].notna()
    selected = runs[mask]
    selected = selected.assign(q=selected["q"].fillna(1), _variant=_variants(selected),
                               _head=head_first_order(selected).map({False: "ZO", True: "FO"}))
    beyond = (selected["optimizer"] != REFERENCE) | (selected["_head"] == "FO")
    blocks = pd.MultiIndex.from_frame(selected.loc[beyond, ["method", "q", "dataset"]])
    reference = pd.MultiIndex.from_frame(selected[["method", "q", "dataset"]]).isin(blocks)
    return selected[beyond.to_numpy() | reference]


def _variants(runs: pd.DataFrame) -> pd.Series:
    """'key=value, ...' of the estimator settings a run states, '' for registered defaults."""
    stated = [(key, runs[key].astype("string"), ~unset(runs, key)) for key in BEYOND_SETTINGS if key in runs]
    return pd.Series([", ".join(f"{key}={values.iat[i]}" for key, values, on in stated if on.iat[i])
                      for i in range(len(runs))], index=runs.index, dtype="string")


def beyond(runs: pd.DataFrame, prefer: str | None = None) -> Table:
    """The table of the estimators beyond the paper beside ZO-SGD; Skipped when no run qualifies."""
    selected = beyond_runs(runs)
    if selected.empty:
        raise Skipped("beyond", f"no FINISHED run of {', '.join(LABELS[name] for name in BEYOND_OPTIMIZERS)} or "
                      f"{LABELS[REFERENCE]} with a first-order head (fo_head), with no enhancement")
    chosen, notes = prepare(selected, KEYS, "beyond", prefer)
    maps = {metric: cells(chosen, KEYS, metric) for metric, _, _ in ACCURACY}
    if not any(maps.values()):
        raise Skipped("beyond", f"its {len(selected)} runs logged no accuracy")
    datasets = present_datasets(chosen)
    build = Builder(tuple(Column(dataset_label(d), label, signed=label == "ΔAvg")
                          for d in datasets for label in [*(label for _, label, _ in ACCURACY), "ΔAvg"]))
    for row in _rows(chosen):
        method, q, head, optimizer, variant = row
        entries: list[Cell | None] = []
        for dataset in datasets:
            entries += [maps[metric].get((*row, dataset)) for metric, _, _ in ACCURACY]
            entries.append(_delta(maps["avg_acc"], row, dataset))
        label = BEYOND_LABELS[optimizer] + (f" ({variant})" if variant else "")
        build.add((METHOD_LABELS.get(method, method), str(q), head, label), entries)
    caption = ("Avg / Last / Fgt (%) of the zeroth-order estimators beyond ZeroFlow beside ZO-SGD, with no "
               "enhancement. Head ZO: trained zeroth-order, as in the paper; FO: trained first-order "
               "(fo_head). ΔAvg: Avg minus that of ZO-SGD with the same method, q and head (-- where "
               "that has no run). " + provenance(chosen, prefer, notes) + SPREAD_NOTE + EMPTY_NOTE)
    return build.table("beyond", "Beyond the paper: later zeroth-order estimators beside ZO-SGD",
                       ("Method", "q", "Head", "Optimizer"), caption, notes)


Row = tuple[str, int, str, str, str]  # method, q, head, optimizer, variant


def _rows(runs: pd.DataFrame) -> list[Row]:
    """Rows present in table order: method, q, head, then ZO-SGD and the estimators, defaults first."""
    present = {(m, int(q), h, o, v) for m, q, h, o, v in runs[list(KEYS[:5])].itertuples(index=False)}
    methods, optimizers = list(METHOD_LABELS), list(BEYOND_LABELS)
    return sorted(present, key=lambda r: (methods.index(r[0]) if r[0] in methods else len(methods), r[0],
                                          r[1], HEADS.index(r[2]), optimizers.index(r[3]), r[4]))


def _delta(avg: dict[tuple[object, ...], Cell], row: Row, dataset: str) -> Cell | None:
    """The row's mean Avg minus the reference's, as a one-value cell; +0.00 on the reference row."""
    own = avg.get((*row, dataset))
    reference = avg.get((row[0], row[1], row[2], REFERENCE, "", dataset))
    return None if own is None or reference is None else Cell((own.mean - reference.mean,))
