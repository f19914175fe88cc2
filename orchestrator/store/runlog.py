"""What the driver logs beyond the paper's metrics, so a run can be read without re-running it.

ZeroFlow (arXiv 2501.01045) reports Avg / Last / Fgt, memory and time; to read a run later one
also needs its task x task accuracy matrix, its training-loss curve, the device it ran on (Table
2's memory and time mean nothing without it) and the code that produced it. This module logs those
from the driver (trials never talk to MLflow, see orchestrator/store/tracking.py) and describes the
experiment so the MLflow UI opens on it. The matrix is one table artifact, not a metric per cell:
the UI draws a chart per metric, and the 15 to 55 cells of a 5- or 10-task run buried the loss
curve. Runs are named by their trials' labels (orchestrator/grid/labels.py).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, Collection, Iterable, Mapping, Sequence

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_ARTIFACTS
from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

from catalog.records import COMMIT_TAG, DEVICE_NAME_TAG, DEVICE_TAG, MATRIX_TAG, NOTE_TAG
from orchestrator.grid.expand import EXECUTION_KEYS, TrialSpec
from orchestrator.grid.labels import NAME_FIRST, naming_keys, varying_keys
from orchestrator.store.runsview import set_landing

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MATRIX_ARTIFACT = "task_matrix.json"
BATCH = 1000  # values one MLflow log_batch takes (metrics, params and tags together)


def code_version(root: Path = PROJECT_ROOT) -> str | None:
    """The checkout's git commit, with "-dirty" when tracked files changed; None outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if changed else commit


def grid_axes(specs: Iterable[TrialSpec]) -> list[str]:
    """The settings a reader should know vary: method/optimizer/dataset, then those labels name."""
    configs = [spec.config for spec in specs]
    varying = varying_keys(configs, EXECUTION_KEYS)
    return [key for key in varying if key in NAME_FIRST] + naming_keys(configs, EXECUTION_KEYS, varying)


def describe_experiment(client: MlflowClient, experiment_id: str, grid_path: str, description: str,
                        varying: list[str]) -> None:
    """The grid's description as the experiment's note; the runs table as its landing page, with the
    settings that vary and the result metrics as columns (orchestrator/store/runsview.py)."""
    lines = [description.strip() or f"Trials of {Path(grid_path).name}.", "",
             f"Grid file: {grid_path}", f"Settings that vary: {', '.join(varying) or 'none'}"]
    client.set_experiment_tag(experiment_id, NOTE_TAG, "\n".join(lines))
    set_landing(client, experiment_id, varying)


def detail_metrics(result: Mapping[str, Any], now_ms: int, logged_epochs: Collection[int] = ()) -> list[Metric]:
    """Accuracy after each task, and the loss of every epoch (step = epoch) not in `logged_epochs` (those
    the driver logged while the trial ran)."""
    metrics = [Metric(f"task_acc/{t}", round(float(a), 4), now_ms, 0) for t, a in enumerate(result.get("acc", []))]
    metrics += [Metric("train_loss", float(loss), now_ms, epoch) for epoch, loss in enumerate(result.get("epoch_losses", []))
                if loss == loss and epoch not in logged_epochs]  # NaN: an epoch without a batch
    return metrics


def matrix_table(result: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The task x task accuracy matrix as a table in MLflow's format (pandas' "split" JSON): a row per
    task t, its accuracy on all classes seen (`acc`) and on each task's classes (`task <j>`, empty past t)."""
    rows = result.get("task_matrix", [])
    accuracies = list(result.get("acc", [])) + [None] * len(rows)
    columns = ["after task", "acc", *(f"task {j}" for j in range(len(rows)))]
    data = [[t, _rounded(accuracies[t]), *(_rounded(row[j]) if j < len(row) else None for j in range(len(rows)))]
            for t, row in enumerate(rows)]
    return {"columns": columns, "data": data}


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _log_matrix(client: MlflowClient, run_id: str, result: Mapping[str, Any]) -> list[RunTag]:
    """The matrix as one table artifact, and the tag by which the UI lists it as a table (its Artifacts
    view compares a table across runs). Written whole, so a retried write replaces it (MLflow's log_table
    would append). Where the artifact store refuses, the matrix goes into a tag instead, if it fits."""
    if not result.get("task_matrix"):
        return []
    table = matrix_table(result)
    try:
        client.log_dict(run_id, table, MATRIX_ARTIFACT)
    except (OSError, MlflowException):  # an unreachable artifact store must not cost the result
        text = json.dumps(table, separators=(",", ":"))
        return [RunTag(MATRIX_TAG, text)] if len(text) <= MAX_TAG_VAL_LENGTH else []
    return [RunTag(MLFLOW_LOGGED_ARTIFACTS, json.dumps([{"path": MATRIX_ARTIFACT, "type": "table"}]))]


def log_details(client: MlflowClient, run_id: str, result: Mapping[str, Any], commit: str | None,
                metrics: Iterable[Metric] = (), logged_epochs: Collection[int] = (),
                params: Sequence[Param] = ()) -> None:
    """The matrix artifact, then `metrics` (the result's own), everything detail_metrics gives, the device and
    code version tags and `params` (a run created without them), in one log_batch (more only past MLflow's
    1000 values a batch)."""
    tags = [RunTag(tag, str(result[key])) for tag, key in ((DEVICE_TAG, "device"), (DEVICE_NAME_TAG, "device_name"))
            if key in result]
    if commit:
        tags.append(RunTag(COMMIT_TAG, commit))
    tags += _log_matrix(client, run_id, result)
    values = [*metrics, *detail_metrics(result, int(time.time() * 1000), logged_epochs)]
    first = max(0, BATCH - len(tags) - len(params))
    client.log_batch(run_id, metrics=values[:first], tags=tags, params=list(params))
    for start in range(first, len(values), BATCH):
        client.log_batch(run_id, metrics=values[start:start + BATCH])
