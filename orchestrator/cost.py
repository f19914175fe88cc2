"""What a sweep will cost before it starts: GPU-hours and wall time of the trials still to run.

A trial trains `epochs` epochs in every task that trains (APER and first-task EASE: task 0 only),
so its time is trained_epochs x seconds per epoch. Seconds per epoch come from
1. measured: the mean `epoch_seconds` of FINISHED runs in the tracking store (any experiment)
   with the same method, optimizer family (trainers/presets.py), dataset, batch size, image size
   and q; else
2. the paper's Table 2 (ZeroFlow, arXiv 2501.01045: EASE, ViT-B/16, per-epoch seconds on CIFAR-100,
   CUB, ImageNet-A, OmniBenchmark), scaled by the image's token count over ViT-B/16's 197, by q
   between the q = 1 and q = 4 columns, and, for data sets the table lacks, by training images
   relative to CIFAR-100.
GPU-hours are trial seconds x the trial's GPU fraction; the wall time is GPU-hours over the GPUs
(perfect packing: a lower bound). Trials sharing a GPU are costed as if each ran alone at the
measured (or published) speed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from orchestrator.grid import TrialSpec
from reports.paper import DATASETS as TABLE2_DATASETS
from reports.paper import TABLE2
from trainers.config import TrialConfig
from trainers.presets import optimizer_family

CIFAR_TRAIN_IMAGES = 50_000
OTHER_TRAIN_IMAGES = {"digits": 1_347}  # scikit-learn's digits, the 75 % training split
TABLE2_TOKENS = 197
MEASURED_KEYS = ("method", "optimizer", "dataset", "batch_size", "image_size", "q")


def _table2(optimizer: str, q: int = 1) -> tuple[float, ...]:
    """Table 2's per-epoch seconds of one row (EASE on ViT-B/16 at 224 px), per dataset."""
    return TABLE2[(optimizer, q)][1]


def trained_epochs(config: TrialConfig) -> int:
    tasks = int(config.tasks or 1)
    first_task_only = config.method == "aper" or config.ease_adapters == "first-task"
    return int(config.epochs or 1) * (1 if first_task_only else tasks)


def measured_key(values: dict[str, Any]) -> tuple[str, ...]:
    """The key of a run's (or a config's) settings that decide its epoch time; strings, as MLflow stores params."""
    family = optimizer_family(str(values["optimizer"]))
    return tuple(family if key == "optimizer" else str(values[key]) for key in MEASURED_KEYS)


def table2_epoch_seconds(config: TrialConfig) -> float:
    """Table 2's per-epoch time for this config, scaled as the module docstring says."""
    dataset = config.dataset if config.dataset in TABLE2_DATASETS else "cifar100"
    column = TABLE2_DATASETS.index(dataset)
    if config.optimizer.startswith("fo-"):
        seconds = _table2("fo-sgd")[column]
    elif config.optimizer == "forward-grad":
        seconds = _table2("forward-grad")[column]
    elif config.optimizer.endswith("-conserve"):
        seconds = _table2("zo-sgd-conserve")[column]
    else:
        one, four = _table2("zo-sgd", 1)[column], _table2("zo-sgd", 4)[column]
        seconds = one + (four - one) * (config.q - 1) / 3
    if config.hybrid > 0:  # the first-order share of the epochs runs at the first-order speed
        seconds = config.hybrid * _table2("fo-sgd")[column] + (1 - config.hybrid) * seconds
    tokens = (int(config.image_size or 224) // 16) ** 2 + 1
    seconds *= tokens / TABLE2_TOKENS
    if config.dataset not in TABLE2_DATASETS:
        seconds *= OTHER_TRAIN_IMAGES.get(config.dataset, CIFAR_TRAIN_IMAGES) / CIFAR_TRAIN_IMAGES
    return seconds


@dataclass(frozen=True)
class Estimate:
    trials: int
    seconds: float  # sum of trial times
    gpu_hours: float
    measured: int  # trials costed from the store's runs
    table2: int  # trials costed from Table 2

    def line(self, gpus: float) -> str:
        basis = (f"measured epoch times for {self.measured} trials, the paper's Table 2 scaled for {self.table2}"
                 if self.measured and self.table2 else
                 "measured epoch times of finished runs" if self.measured else
                 "the paper's Table 2 scaled (no finished runs of these settings in the store)")
        if gpus > 0:
            wall = f"~{_duration(self.gpu_hours * 3600 / gpus)} wall on {gpus:g} GPUs"
        else:
            wall = "no GPU here: --gpus N gives the wall time on N GPUs"
        return f"estimate: {self.trials} trials, ~{self.gpu_hours:.1f} GPU-hours, {wall}; from {basis}"


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def measured_epoch_seconds(runs: Iterable[tuple[dict[str, str], float]]) -> dict[tuple[str, ...], float]:
    """Mean epoch_seconds per measured_key over (params, epoch_seconds) of FINISHED runs."""
    sums: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for params, seconds in runs:
        if seconds > 0 and all(key in params for key in MEASURED_KEYS):
            sums[measured_key(params)].append(seconds)
    return {key: sum(values) / len(values) for key, values in sums.items()}


def estimate(trials: Sequence[TrialSpec], measured: dict[tuple[str, ...], float]) -> Estimate:
    total = gpu_hours = 0.0
    from_store = 0
    for spec in trials:
        values = spec.config.to_dict()
        per_epoch = measured.get(measured_key(values))
        from_store += per_epoch is not None
        seconds = trained_epochs(spec.config) * (per_epoch if per_epoch is not None
                                                 else table2_epoch_seconds(spec.config))
        total += seconds
        gpu_hours += seconds * spec.resources.gpu / 3600
    return Estimate(len(trials), total, gpu_hours, from_store, len(trials) - from_store)


def store_runs(tracking_uri: str, page: int = 5000, limit: int = 100_000) -> list[tuple[dict[str, str], float]]:
    """(params, epoch_seconds) of the FINISHED runs in the store (at most `limit`); [] for a new store."""
    from pathlib import Path

    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[len("sqlite:///"):]).exists():
        return []  # opening a missing SQLite store would create it
    from orchestrator.runindex import finished_from_tables

    fast = finished_from_tables(tracking_uri, MEASURED_KEYS, "epoch_seconds", limit)  # a database store: seconds
    if fast is not None:
        return fast
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    out: list[tuple[dict[str, str], float]] = []
    token = None
    while ids and len(out) < limit:
        runs = client.search_runs(ids, "attributes.status = 'FINISHED'", max_results=page, page_token=token)
        out.extend((run.data.params, float(run.data.metrics.get("epoch_seconds", 0.0))) for run in runs)
        token = runs.token
        if not token:
            break
    return out
