"""What a sweep will cost before it starts: GPU-hours and wall time of the trials still to run.

A trial trains `epochs` epochs in every task that trains (APER and first-task EASE: task 0 only),
so its time is trained_epochs x seconds per epoch. Seconds per epoch come from
1. measured: the mean `epoch_seconds` of FINISHED runs in the tracking store (any experiment)
   with the same method, optimizer family (trainers/presets.py), dataset, batch size, image size,
   forwards per step (catalog/optimizers.py's count: 2q for SPSA, 2q + 1 for HiZOO, 1 + q for
   ZO-Muon's released one-sided queries) and device (the run's `zfsweep.device` tag,
   catalog/records.py: a CPU epoch does not cost a GPU epoch; runs without the tag are not used); else
2. the paper's Table 2 (ZeroFlow, arXiv 2501.01045: EASE, ViT-B/16, per-epoch seconds on CIFAR-100,
   CUB, ImageNet-A, OmniBenchmark), scaled by the image's token count over ViT-B/16's 197, by the
   forwards per step between the q = 1 and q = 4 columns (2 and 8 forwards), and, for data sets
   the table lacks, by training images relative to CIFAR-100. The row follows the optimizer
   table's flags (catalog/optimizers.py): first-order, Forward-Grad, Conserve, else ZO-SGD's row
   interpolated by forwards per step, so HiZOO's third forward and ZO-Muon's one-sided queries
   are costed as they run.
Two figures, as neither is known to hold: unshared, one trial per GPU (trial-hours; wall time
trial-hours over the GPUs), and packed at the grid's GPU fractions (GPU-hours = trial hours x
fraction; wall time GPU-hours over the GPUs). Packing is unmeasured: trials sharing a GPU are costed
as if each ran alone at the measured (or published) speed, so the packed figure is a lower bound.
Either wall time is at least the longest trial. With no GPU (a CPU-only machine and no --gpus) the
trials run on CPU: the line gives CPU trial-hours and the wall time on this machine's CPUs at each
trial's CPU share, and no GPU-hours.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from catalog.config import TrialConfig
from catalog.names import DATASETS
from catalog.optimizers import FIRST_ORDER, FORWARD_GRAD, OPTIMIZERS
from catalog.paper import DATASETS as TABLE2_DATASETS
from catalog.paper import TABLE2
from catalog.records import DEVICE_TAG
from orchestrator.grid.expand import TrialSpec
from orchestrator.store.uri import missing_sqlite_store

CIFAR_TRAIN_IMAGES = DATASETS["cifar100"].train_images or 50_000
TABLE2_TOKENS = 197
MEASURED_KEYS = ("method", "optimizer", "dataset", "batch_size", "image_size", "q")  # params; then the device


def _table2(optimizer: str, q: int = 1) -> tuple[float, ...]:
    """Table 2's per-epoch seconds of one row (EASE on ViT-B/16 at 224 px), per dataset."""
    return TABLE2[(optimizer, q)][1]


def trained_epochs(config: TrialConfig) -> int:
    tasks = int(config.tasks or 1)
    first_task_only = config.method == "aper" or config.ease_adapters == "first-task"
    return int(config.epochs or 1) * (1 if first_task_only else tasks)


def forwards_per_step(values: dict[str, Any]) -> int:
    """Closure evaluations per step of a run's (or a config's) optimizer (catalog/optimizers.py)."""
    spec = OPTIMIZERS[str(values["optimizer"])]
    return spec.forwards_per_step(int(float(values.get("q") or 1)), str(values.get("muon_sided")) == "one")


def measured_key(values: dict[str, Any], device: str) -> tuple[str, ...]:
    """The key of a run's (or a config's) settings that decide its epoch time, on `device` (cpu or cuda);
    strings, as MLflow stores params (q enters as the forwards per step it costs; a name the table
    lacks keeps its own)."""
    optimizer = str(values["optimizer"])
    spec = OPTIMIZERS.get(optimizer)
    family = spec.preset_family if spec else optimizer
    forwards = forwards_per_step(values) if spec else values["q"]
    return (*(family if key == "optimizer" else str(forwards) if key == "q" else str(values[key])
              for key in MEASURED_KEYS), device)


def planned_device(config: TrialConfig, gpu_fraction: float, gpus: float) -> str:
    """Where the trial will train: its `device`, or for auto, cuda when it asks for a GPU and there is one."""
    if config.device != "auto":
        return config.device
    return "cuda" if gpus > 0 and gpu_fraction > 0 else "cpu"


def table2_epoch_seconds(config: TrialConfig) -> float:
    """Table 2's per-epoch time for this config, scaled as the module docstring says."""
    dataset = config.dataset if config.dataset in TABLE2_DATASETS else "cifar100"
    column = TABLE2_DATASETS.index(dataset)
    spec = OPTIMIZERS[config.optimizer]
    if spec.family == FIRST_ORDER:
        seconds = _table2("fo-sgd")[column]
    elif spec.family == FORWARD_GRAD:
        seconds = _table2("forward-grad")[column]
    elif spec.conserve:
        seconds = _table2("zo-sgd-conserve")[column]
    else:  # linear in the forwards per step, through ZO-SGD's 2 (q = 1) and 8 (q = 4)
        one, four = _table2("zo-sgd", 1)[column], _table2("zo-sgd", 4)[column]
        seconds = one + (four - one) * (forwards_per_step(config.to_dict()) - 2) / 6
    if config.hybrid > 0:  # the first-order share of the epochs runs at the first-order speed
        seconds = config.hybrid * _table2("fo-sgd")[column] + (1 - config.hybrid) * seconds
    tokens = (int(config.image_size or 224) // 16) ** 2 + 1
    seconds *= tokens / TABLE2_TOKENS
    if config.dataset not in TABLE2_DATASETS:
        seconds *= (DATASETS[config.dataset].train_images or CIFAR_TRAIN_IMAGES) / CIFAR_TRAIN_IMAGES
    return seconds


@dataclass(frozen=True)
class Estimate:
    trials: int
    seconds: float  # sum of trial times: trial-seconds, unshared
    gpu_hours: float  # packed: trial hours x the trial's GPU fraction
    measured: int  # trials costed from the store's runs
    table2: int  # trials costed from Table 2
    longest: float = 0.0  # the longest trial, seconds: no schedule ends before it
    cpu_seconds: float = 0.0  # trial seconds x the trial's CPUs: what CPU-only trials share

    def line(self, gpus: float, cpus: float = 1.0) -> str:
        basis = (f"measured epoch times for {self.measured} trials, the paper's Table 2 scaled for {self.table2}"
                 if self.measured and self.table2 else
                 "measured epoch times of finished runs" if self.measured else
                 "the paper's Table 2 scaled (no finished runs of these settings in the store)")
        longest = f"longest trial ~{_duration(self.longest)}"
        if gpus > 0:
            unshared = _duration(max(self.longest, self.seconds / gpus))
            packed = _duration(max(self.longest, self.gpu_hours * 3600 / gpus))
            return (f"estimate: {self.trials} trials, ~{self.seconds / 3600:.1f} trial-hours unshared (one trial "
                    f"per GPU: ~{unshared} wall on {gpus:g} GPUs); packed at the grid's GPU fractions "
                    f"~{self.gpu_hours:.1f} GPU-hours, ~{packed} wall (packing is unmeasured: a lower bound); "
                    f"{longest}; from {basis}")
        wall = _duration(max(self.longest, self.cpu_seconds / max(cpus, 1.0)))
        caveat = "; Table 2 times a GPU, so CPU epochs will take longer" if self.table2 else ""
        return (f"estimate: {self.trials} trials on CPU (no GPU here; --gpus N costs N GPUs), "
                f"~{self.seconds / 3600:.1f} CPU trial-hours, ~{wall} wall on {cpus:g} CPUs; {longest}; "
                f"from {basis}{caveat}")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def measured_epoch_seconds(runs: Iterable[tuple[dict[str, str], float, str]]) -> dict[tuple[str, ...], float]:
    """Mean epoch_seconds per measured_key over (params, epoch_seconds, device tag) of FINISHED runs;
    a run without a device tag is left out (its epoch time could be either device's)."""
    sums: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for params, seconds, device in runs:
        if seconds > 0 and device and all(key in params for key in MEASURED_KEYS):
            sums[measured_key(params, device)].append(seconds)
    return {key: sum(values) / len(values) for key, values in sums.items()}


def estimate(trials: Sequence[TrialSpec], measured: dict[tuple[str, ...], float], gpus: float = 1.0) -> Estimate:
    """The cost of `trials` on a machine (or cluster) with `gpus` GPUs; 0 means they train on CPU."""
    total = gpu_hours = longest = cpu_seconds = 0.0
    from_store = 0
    for spec in trials:
        fraction = spec.resources.gpu
        device = planned_device(spec.config, fraction, gpus)
        per_epoch = measured.get(measured_key(spec.config.to_dict(), device))
        from_store += per_epoch is not None
        seconds = trained_epochs(spec.config) * (per_epoch if per_epoch is not None
                                                 else table2_epoch_seconds(spec.config))
        total += seconds
        longest = max(longest, seconds)
        gpu_hours += seconds * fraction / 3600 if device == "cuda" else 0.0
        cpu_seconds += seconds * float(getattr(spec.resources, "cpu", 1.0))
    return Estimate(len(trials), total, gpu_hours, from_store, len(trials) - from_store, longest, cpu_seconds)


def store_runs(tracking_uri: str, page: int = 5000,
               limit: int = 100_000) -> list[tuple[dict[str, str], float, str]]:
    """(params, epoch_seconds, device tag) of the FINISHED runs in the store (at most `limit`); [] for a new store."""
    if missing_sqlite_store(tracking_uri):
        return []  # opening a missing SQLite store would create it
    from orchestrator.store.runindex import finished_from_tables

    fast = finished_from_tables(tracking_uri, (*MEASURED_KEYS, "muon_sided"), "epoch_seconds", DEVICE_TAG, limit)
    if fast is not None:  # a database store: seconds, where the search API takes minutes at 20,000 runs
        return fast
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    out: list[tuple[dict[str, str], float, str]] = []
    token = None
    while ids and len(out) < limit:
        runs = client.search_runs(ids, "attributes.status = 'FINISHED'", max_results=page, page_token=token)
        out.extend((run.data.params, float(run.data.metrics.get("epoch_seconds", 0.0)),
                    run.data.tags.get(DEVICE_TAG, "")) for run in runs)
        token = runs.token
        if not token:
            break
    return out
