"""MLflow -> pandas: the one place that talks to the tracking store.

Every report is a pure function of the DataFrame returned here, so the store is read once, in
pages (``search_runs`` with ``max_results``), with no per-run round trips and no metric histories
(tables need only the final values; the ``acc`` column holds the latest step's value). MLflow
stores params as strings; each knob's declared type (catalog/config.py) decides its column's type
here, and params this module does not know stay string columns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from mlflow.entities import Run, ViewType
from mlflow.tracking import MlflowClient

from catalog.config import KNOBS
from catalog.records import (CELL_TAG, COMMIT_TAG, DEVICE_NAME_TAG, DEVICE_TAG, DRIVER_METRICS, EARLY_STOP_TAG,
                             ERROR_TAG, HASH_TAG, PHASE_TAG, RESULT_METRICS, SEARCHED_TAG)

# search_runs refuses more than 50,000 per page; large pages mean few SQL queries.
PAGE_SIZE = 50_000

META_COLUMNS: tuple[str, ...] = (
    "run_id", "experiment", "config_hash", "start_time", "end_time",
    "run_device", "run_device_name", "code_version", "cell", "phase", "searched", "stopped_early",
)
# Param kinds follow the knobs' types (catalog/config.py); true/false knobs stay strings.
STRING_PARAMS: tuple[str, ...] = tuple(name for name, knob in KNOBS.items() if knob.kind is str)
INT_PARAMS: tuple[str, ...] = tuple(name for name, knob in KNOBS.items() if knob.kind is int)
FLOAT_PARAMS: tuple[str, ...] = tuple(name for name, knob in KNOBS.items() if knob.kind is float)
METRICS: tuple[str, ...] = ("acc", *RESULT_METRICS, *DRIVER_METRICS)
# A FINISHED run with one of these logged as NaN or infinite (a hand-edited or foreign run) is
# left out by name; a run that logged none of them stays (the tables that need them skip it).
ACCURACY_METRICS: tuple[str, ...] = ("avg_acc", "last_acc", "forgetting")
# Run tags read into columns: where the run ran and which code ran it (orchestrator/store/runlog.py).
TAG_COLUMNS: dict[str, str] = {
    "run_device": DEVICE_TAG,
    "run_device_name": DEVICE_NAME_TAG,
    "code_version": COMMIT_TAG,
    # A searched grid's runs (orchestrator/search/): their cell, phase, searched settings, early stop.
    "cell": CELL_TAG,
    "phase": PHASE_TAG,
    "searched": SEARCHED_TAG,
    "stopped_early": EARLY_STOP_TAG,
}


def load_runs(tracking_uri: str, experiments: Sequence[str] | None = None) -> pd.DataFrame:
    """FINISHED runs, one row per run, of the named experiments (all active ones if none named).

    Names that match no experiment are listed in ``frame.attrs["missing_experiments"]`` rather
    than raising: a report over what exists beats no report.
    """
    client = MlflowClient(tracking_uri=tracking_uri)
    names, missing = _experiment_names(client, experiments)
    runs = list(_finished_runs(client, list(names))) if names else []
    logged_metrics = {key for run in runs for key in run.data.metrics}
    records, skipped = readable_records(_run_record(run, names[run.info.experiment_id]) for run in runs)
    frame = runs_frame(records, extra_metrics=logged_metrics)
    frame.attrs["skipped_runs"] = skipped
    frame.attrs["missing_experiments"] = missing
    unfinished = _unfinished_runs(client, list(names)) if names else []
    frame.attrs["unfinished"] = [f"{run.info.run_name}: {run.info.status}" + (
        f" ({run.data.tags[ERROR_TAG]})" if ERROR_TAG in run.data.tags else "") for run in unfinished]
    frame.attrs["unfinished_hashes"] = [run.data.tags.get(HASH_TAG, "") for run in unfinished]
    return frame


def experiment_names(tracking_uri: str) -> list[str]:
    """The names of the store's active experiments, sorted (to name what exists beside a typo)."""
    found = MlflowClient(tracking_uri=tracking_uri).search_experiments(view_type=ViewType.ACTIVE_ONLY)
    return sorted(exp.name for exp in found if exp.experiment_id != "0")  # MLflow's "Default", unused here


def _unfinished_runs(client: MlflowClient, experiment_ids: list[str], limit: int = 1000) -> list[Run]:
    """The runs that did not finish (FAILED, KILLED, or still RUNNING), at most `limit`."""
    return list(client.search_runs(experiment_ids, filter_string="attributes.status != 'FINISHED'",
                                   run_view_type=ViewType.ACTIVE_ONLY, max_results=limit))


def _experiment_names(
    client: MlflowClient, wanted: Sequence[str] | None
) -> tuple[dict[str, str], list[str]]:
    """Map experiment id -> name for the experiments to read, plus the names not found."""
    if not wanted:
        found = client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
        return {exp.experiment_id: exp.name for exp in found}, []
    ids: dict[str, str] = {}
    missing: list[str] = []
    for name in dict.fromkeys(wanted):
        exp = client.get_experiment_by_name(name)
        if exp is None:
            missing.append(name)
        else:
            ids[exp.experiment_id] = exp.name
    return ids, missing


def _finished_runs(client: MlflowClient, experiment_ids: list[str]) -> Iterable[Run]:
    """Page through FINISHED runs; the status filter runs in the store, not in Python."""
    token: str | None = None
    while True:
        page = client.search_runs(
            experiment_ids,
            filter_string="attributes.status = 'FINISHED'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=PAGE_SIZE,
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


def _run_record(run: Run, experiment: str) -> dict[str, Any]:
    """Flatten one run: meta fields, then params, then metrics (metrics win a name clash)."""
    record: dict[str, Any] = {
        "run_id": run.info.run_id,
        "experiment": experiment,
        "config_hash": run.data.tags.get(HASH_TAG),
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        **{column: run.data.tags.get(tag) for column, tag in TAG_COLUMNS.items()},
    }
    record.update(run.data.params)
    record.update(run.data.metrics)
    return record


def readable_records(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The records a report can use, and one line per record it cannot (which run, what is wrong)."""
    kept: list[dict[str, Any]] = []
    skipped: list[str] = []
    for record in records:
        problem = unreadable(record)
        if problem is None:
            kept.append(record)
        else:
            skipped.append(f"skipped run {record.get('run_id')} of experiment {record.get('experiment')}: {problem}")
    return kept, skipped


def unreadable(record: dict[str, Any]) -> str | None:
    """Why a run's record cannot enter a table (a numeric param that does not parse, a NaN accuracy); None if it can."""
    for name in (*INT_PARAMS, *FLOAT_PARAMS):
        value = record.get(name)
        if value is None or (KNOBS[name].nullable and str(value) == "None"):  # unset: the preset applied
            continue
        number = _number(value)
        if number is None or (name in INT_PARAMS and not number.is_integer()):
            kind = "an integer" if name in INT_PARAMS else "a finite number"
            text = str(value) if len(str(value)) <= 40 else str(value)[:37] + "..."
            return f"param {name} = {text!r} is not {kind}"
    for name in ACCURACY_METRICS:
        value = record.get(name)
        if value is not None and _number(value) is None:
            return f"{name} is {'NaN' if _is_nan(value) else repr(value)}"
    return None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _is_nan(value: Any) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def runs_frame(
    records: Iterable[dict[str, Any]], extra_metrics: Iterable[str] = ()
) -> pd.DataFrame:
    """Typed DataFrame from flat run records; the known columns exist even when there are no runs.

    ``extra_metrics`` names metrics outside the contract so they become floats, not strings.
    Public so tests and benchmarks can build frames without a store.
    """
    frame = pd.DataFrame.from_records(list(records))
    for name in (*META_COLUMNS, *STRING_PARAMS, *INT_PARAMS, *FLOAT_PARAMS, *METRICS):
        if name not in frame.columns:
            frame[name] = None
    floats = (*FLOAT_PARAMS, *dict.fromkeys((*METRICS, *extra_metrics)))
    return _typed(frame, floats)


def _typed(frame: pd.DataFrame, floats: Sequence[str]) -> pd.DataFrame:
    """Convert MLflow's strings: nullable ints, floats, datetimes; everything else stays str."""
    out = frame.copy()
    for name in INT_PARAMS:
        # Through float first so "1.0" parses; nullable Int64 keeps a missing param missing.
        out[name] = pd.to_numeric(out[name], errors="coerce").round().astype("Int64")
    for name in floats:
        out[name] = pd.to_numeric(out[name], errors="coerce").astype("float64")
    for name in ("start_time", "end_time"):
        out[name] = pd.to_datetime(pd.to_numeric(out[name], errors="coerce"), unit="ms", utc=True)
    typed = {*INT_PARAMS, *floats, "start_time", "end_time"}
    for name in out.columns:
        if name not in typed:
            out[name] = out[name].astype("string")
    return out
