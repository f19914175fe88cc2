"""What the driver logs beyond the paper's metrics, so a run can be read without re-running it.

ZeroFlow (arXiv 2501.01045) reports Avg / Last / Fgt, memory and time; to read a run later one
also needs its task x task accuracy matrix, its training-loss curve, the device it ran on (Table
2's memory and time mean nothing without it) and the code that produced it. This module logs those
from the driver (trials never talk to MLflow, see orchestrator/store/tracking.py) and describes the
experiment so the MLflow UI opens on it. Runs are named by their trials' labels
(orchestrator/grid/labels.py: the settings that vary across the grid).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from catalog.records import COMMIT_TAG, DEVICE_NAME_TAG, DEVICE_TAG, NOTE_TAG
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


def detail_metrics(result: Mapping[str, Any], now_ms: int) -> list[Metric]:
    """Accuracy after each task, the task x task matrix, and the loss of every epoch (step = epoch)."""
    metrics = [Metric(f"task_acc/{t}", round(float(a), 4), now_ms, 0) for t, a in enumerate(result.get("acc", []))]
    for t, row in enumerate(result.get("task_matrix", [])):
        metrics += [Metric(f"task_matrix/{t}/{j}", round(float(a), 4), now_ms, 0) for j, a in enumerate(row)]
    metrics += [Metric("train_loss", float(loss), now_ms, epoch)
                for epoch, loss in enumerate(result.get("epoch_losses", [])) if loss == loss]  # NaN: no batch
    return metrics


def log_details(client: MlflowClient, run_id: str, result: Mapping[str, Any], commit: str | None,
                metrics: Iterable[Metric] = ()) -> None:
    """`metrics` (the result's own), everything detail_metrics gives, the device and code version tags,
    in one log_batch (more only past MLflow's 1000 values a batch), then the matrix artifact."""
    tags = [RunTag(tag, str(result[key])) for tag, key in ((DEVICE_TAG, "device"), (DEVICE_NAME_TAG, "device_name"))
            if key in result]
    if commit:
        tags.append(RunTag(COMMIT_TAG, commit))
    values = [*metrics, *detail_metrics(result, int(time.time() * 1000))]
    first = BATCH - len(tags)
    client.log_batch(run_id, metrics=values[:first], tags=tags)
    for start in range(first, len(values), BATCH):
        client.log_batch(run_id, metrics=values[start:start + BATCH])
    if result.get("task_matrix"):
        try:
            client.log_dict(run_id, {"acc": result.get("acc", []), "task_matrix": result["task_matrix"]},
                            MATRIX_ARTIFACT)
        except (OSError, MlflowException):
            pass  # an unreachable artifact store must not cost the result; the metrics hold the matrix
