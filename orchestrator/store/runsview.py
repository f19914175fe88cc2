"""Where the MLflow UI should open for zfsweep: an experiment's runs table, its columns ticked.

MLflow 3's UI (3.17 here) starts on a GenAI overview, and an experiment's runs table shows no
metric until a person ticks its columns. What its web app offers, read from its JavaScript
bundle (mlflow/server/js/build):
- the route `#/experiments/<id>/runs` opens the runs table itself;
- `workflowType=machine_learning` in the URL switches the side bar from GenAI (traces, judges,
  prompts) to model training (runs, models). Without it the browser's stored choice, GenAI by
  default, also decides the experiment's kind: the `mlflow.experimentKind` tag is not read then;
- a "shared view", an experiment tag `mlflow.sharedViewState.<key>` holding the runs table's
  state as JSON (`selectedColumns`), is applied when the URL carries `viewStateShareKey=<key>`;
  the UI then says it shows a shared view (ticking columns there changes nothing stored).
No server option or other tag picks the columns. So every experiment zfsweep creates gets the
kind tag and that view, and `zfsweep ui` prints each experiment's URL with both parameters.
"""

from __future__ import annotations

import json
from typing import Sequence

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from catalog.errors import InputError
from catalog.records import KIND, KIND_TAG, VIEW_KEY, VIEW_TAG_PREFIX

VIEW_TAG = VIEW_TAG_PREFIX + VIEW_KEY
# The metrics a reader compares first (catalog/records.py: RESULT_METRICS, DRIVER_METRICS).
SHOWN_METRICS = ("avg_acc", "last_acc", "forgetting", "wall_seconds", "gpu_hours")
TRAINING = "workflowType=machine_learning"  # the UI's model-training side bar, not the GenAI one


def column(kind: str, key: str) -> str:
    """The runs table's name for a column: kind `params`, `metrics`, `tags` or `attributes`."""
    return f"{kind}.`{key}`"


def view_state(params: Sequence[str]) -> str:
    """The saved view: the settings that vary across the grid, then the result metrics, as columns."""
    columns = [column("params", key) for key in params] + [column("metrics", key) for key in SHOWN_METRICS]
    return json.dumps({"selectedColumns": columns}, separators=(",", ":"))


def set_landing(client: MlflowClient, experiment_id: str, params: Sequence[str] = ()) -> None:
    """Open `#/experiments/<id>` on the runs table (not the GenAI traces) and save the view runs_url opens."""
    client.set_experiment_tag(experiment_id, KIND_TAG, KIND)
    client.set_experiment_tag(experiment_id, VIEW_TAG, view_state(params))


def runs_url(base: str, experiment_id: str, with_view: bool = True) -> str:
    """The URL of the experiment's runs table on the UI at `base`, with zfsweep's columns if it has the view."""
    url = f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{TRAINING}"
    return f"{url}&viewStateShareKey={VIEW_KEY}" if with_view else url


def home_url(base: str) -> str:
    """The UI's experiment list, with the model-training side bar."""
    return f"{base.rstrip('/')}/#/experiments?{TRAINING}"


def runs_pages(tracking_uri: str, base: str, wanted: str | None = None) -> list[tuple[str, str]]:
    """(experiment name, runs_url) for every active experiment of the store, or only `wanted`.

    MLflow's "Default" experiment, which zfsweep never writes to, is left out unless asked for;
    InputError (one line) when `wanted` is not in the store.
    """
    found = MlflowClient(tracking_uri).search_experiments(view_type=ViewType.ACTIVE_ONLY)
    experiments = sorted((e for e in found if e.experiment_id != "0" or e.name == wanted), key=lambda e: e.name)
    if wanted is not None:
        chosen = [e for e in experiments if e.name == wanted]
        if not chosen:
            names = ", ".join(e.name for e in experiments if e.experiment_id != "0") or "(none)"
            raise InputError(f"no experiment '{wanted}' in {tracking_uri}; have: {names}")
        experiments = chosen
    return [(e.name, runs_url(base, e.experiment_id, VIEW_TAG in e.tags)) for e in experiments]
