"""What earlier drivers of a search left in MLflow: each finished sample's values and validation score.

A search run again must not repeat a finished sample: the searcher is told these first
(orchestrator/search/tuner.py) and draws only the samples still owed. Read with MLflow's search
API, filtered by the search's tag (catalog/records.py): a search holds tens of runs, not thousands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from mlflow.tracking import MlflowClient

from catalog.config import KNOBS
from catalog.records import EARLY_STOP_TAG, HASH_TAG, SEARCH_TAG, VALIDATION_METRIC


@dataclass(frozen=True)
class Sample:
    """One finished sample of a search."""

    config_hash: str
    values: dict[str, Any]  # the searched settings
    score: float | None  # its validation score (at the task it was stopped after, if stopped early)
    stopped_early: bool


def param_value(key: str, text: str) -> Any:
    """A logged param (text) back as the setting's type."""
    kind = KNOBS[key].kind
    if kind is bool:
        return text == "True"
    if kind in (int, float):
        return kind(float(text)) if kind is int else float(text)
    return text


def finished_samples(client: MlflowClient, experiment_id: str, search_id: str, keys: Iterable[str]) -> list[Sample]:
    """The FINISHED runs of one search, oldest first."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{SEARCH_TAG}` = '{search_id}' "
                                                             "and attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time ASC"], max_results=5000)
    samples = []
    for run in runs:
        params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
        values = {key: param_value(key, params[key]) for key in keys if key in params}
        samples.append(Sample(tags.get(HASH_TAG, ""), values, metrics.get(VALIDATION_METRIC),
                              tags.get(EARLY_STOP_TAG) == "true"))
    return samples
