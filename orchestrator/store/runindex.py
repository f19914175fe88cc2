"""Which config hashes an experiment holds, and in what state: the skip-finished decision.

MLflow's search API returns whole runs (every param, metric and tag), and building those objects
for 5,000 runs takes ~5 s, while the decision needs a hash, a status and two metrics per run.
For a database-backed store (sqlite:, postgresql:, mysql:, ...) this module reads those columns
straight from MLflow's tables, read-only, in one query each (~0.1 s for 5,000 runs). Should the
tables not look as expected (another MLflow schema), or for a tracking server (http:), the
search API answers instead; tests check that both answers agree. `runs_by_name` finds the
experiment in the tables too, so planning a grid against a database store needs no MLflow import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, TypeVar

import sqlalchemy
from sqlalchemy.exc import SQLAlchemyError

from catalog.records import ERROR_TAG, HASH_TAG

INDEX_METRICS = ("gpu_hours", "wall_seconds")
T = TypeVar("T")
NOT_SQL = ("http:", "https:", "file:", "databricks")


@dataclass(frozen=True)
class RunState:
    """What the driver needs of a trial's existing run."""

    run_id: str
    status: str
    gpu_hours: float = 0.0
    wall_seconds: float | None = None
    has_error: bool = False


def prefer(runs: dict[str, RunState], digest: str, state: RunState) -> None:
    """Keep one run per hash: the first one seen (newest), unless a later one is FINISHED."""
    if digest not in runs or (state.status == "FINISHED" and runs[digest].status != "FINISHED"):
        runs[digest] = state


TAGS = sqlalchemy.text(
    "SELECT r.run_uuid, r.status, t.key, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
    "WHERE r.experiment_id = :experiment AND r.lifecycle_stage = 'active' AND t.key IN (:hash_tag, :error_tag) "
    "ORDER BY r.start_time DESC, r.run_uuid")
EXPERIMENT = sqlalchemy.text(
    "SELECT experiment_id FROM experiments WHERE name = :name AND lifecycle_stage = 'active'")
METRICS = sqlalchemy.text(
    "SELECT m.run_uuid, m.key, m.value FROM latest_metrics m JOIN runs r ON r.run_uuid = m.run_uuid "
    "WHERE r.experiment_id = :experiment AND r.lifecycle_stage = 'active' AND m.key IN (:gpu, :wall)")


def _assemble(tag_rows: Iterable[Any], metric_rows: Iterable[Any]) -> dict[str, RunState]:
    metrics: dict[str, dict[str, float]] = {}
    for run_id, key, value in metric_rows:
        metrics.setdefault(run_id, {})[key] = float(value)
    order: list[tuple[str, str]] = []
    digests: dict[str, str] = {}
    errors: set[str] = set()
    for run_id, status, key, value in tag_rows:
        if key == HASH_TAG:
            digests[run_id] = value
            order.append((run_id, status))
        else:
            errors.add(run_id)
    runs: dict[str, RunState] = {}
    for run_id, status in order:
        values = metrics.get(run_id, {})
        prefer(runs, digests[run_id], RunState(run_id, status, values.get("gpu_hours", 0.0),
                                               values.get("wall_seconds"), run_id in errors))
    return runs


def runs_from_tables(tracking_uri: str, experiment_id: str) -> dict[str, RunState] | None:
    """The index read from MLflow's tables, or None where that is not possible."""
    return _from_tables(tracking_uri, lambda connection: int(experiment_id))


def runs_by_name(tracking_uri: str, experiment: str) -> dict[str, RunState] | None:
    """The index of the experiment named `experiment` ({} if there is none), or None where the tables
    cannot answer (then MLflow's API does)."""
    def experiment_id(connection: Any) -> int | None:
        row = connection.execute(EXPERIMENT, {"name": experiment}).first()
        return None if row is None else int(row[0])

    return _from_tables(tracking_uri, experiment_id)


FINISHED_PARAMS = sqlalchemy.text(
    "SELECT r.run_uuid, p.key, p.value FROM runs r JOIN params p ON p.run_uuid = r.run_uuid "
    "WHERE r.status = 'FINISHED' AND r.lifecycle_stage = 'active' AND p.key IN :keys").bindparams(
    sqlalchemy.bindparam("keys", expanding=True))
FINISHED_METRIC = sqlalchemy.text(
    "SELECT r.run_uuid, m.value FROM runs r JOIN latest_metrics m ON m.run_uuid = r.run_uuid "
    "WHERE r.status = 'FINISHED' AND r.lifecycle_stage = 'active' AND m.key = :metric")
FINISHED_TAG = sqlalchemy.text(
    "SELECT r.run_uuid, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
    "WHERE r.status = 'FINISHED' AND r.lifecycle_stage = 'active' AND t.key = :tag")


def finished_from_tables(tracking_uri: str, keys: tuple[str, ...], metric: str, tag: str,
                         limit: int) -> list[tuple[dict[str, str], float, str]] | None:
    """(those params, that metric, that tag or "") of up to `limit` FINISHED runs of every experiment,
    from the tables; None where they cannot answer (the cost estimate then asks MLflow's search API)."""
    def read(connection: Any) -> tuple[list[Any], dict[str, float], dict[str, str]]:
        return (connection.execute(FINISHED_PARAMS, {"keys": list(keys)}).all(),
                dict(connection.execute(FINISHED_METRIC, {"metric": metric}).all()),
                dict(connection.execute(FINISHED_TAG, {"tag": tag}).all()))

    answer = _query(tracking_uri, read)
    if answer is None:
        return None
    params, metrics, tags = answer
    by_run: dict[str, dict[str, str]] = {}
    for run_id, key, value in params:
        by_run.setdefault(run_id, {})[key] = value
    return [(values, float(metrics.get(run_id, 0.0)), str(tags.get(run_id, "")))
            for run_id, values in list(by_run.items())[:limit]]


def _query(tracking_uri: str, read: Callable[[Any], T]) -> T | None:
    """`read(connection)` on a database store's own tables; None where they cannot answer (not a
    database URI, no driver, a schema that differs: the callers then ask MLflow's API)."""
    if tracking_uri.startswith(NOT_SQL) or "://" not in tracking_uri:
        return None
    try:
        engine = sqlalchemy.create_engine(tracking_uri)
    except (SQLAlchemyError, ImportError, ValueError):
        return None
    try:
        with engine.connect() as connection:
            return read(connection)
    except (SQLAlchemyError, ValueError):
        return None
    finally:
        engine.dispose()


def _from_tables(tracking_uri: str, find: Callable[[Any], int | None]) -> dict[str, RunState] | None:
    def read(connection: Any) -> dict[str, RunState]:
        found = find(connection)
        if found is None:
            return {}
        ids = {"experiment": found}
        tags = connection.execute(TAGS, {**ids, "hash_tag": HASH_TAG, "error_tag": ERROR_TAG}).all()
        metrics = connection.execute(METRICS, {**ids, "gpu": INDEX_METRICS[0], "wall": INDEX_METRICS[1]}).all()
        return _assemble(tags, metrics)

    return _query(tracking_uri, read)
