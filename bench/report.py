"""Benchmark of ``zfsweep report``: load_runs + write_report over a 5,000-run SQLite store.

Target (issue 6): under 15 s on the 2-core dev machine. Building the store is not timed; it logs
through MlflowClient (create_run, one log_batch, set_terminated), as the orchestrator would, with
SQLite's fsync switched off for this throwaway file only. The runs cover every table and the
figure: Table 1's grid, the q sweep, both ratio sweeps (both sparsity masks), the combined
enhancements and the beyond table's estimators and first-order heads, with seeds filling the rest. ``log_runs`` is also what the tests use to write stores.

    python -m bench report [--runs N] [--keep DIR]

The last line printed is one JSON object: {"runs": ..., "seconds": ..., ...}.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import pathlib
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from catalog import paper
from catalog.names import PAPER_DATASETS
from catalog.optimizers import BEYOND_OPTIMIZERS, FIRST_ORDER, FORWARD_GRAD, OPTIMIZERS, PAPER_OPTIMIZERS
from catalog.records import DEVICE_NAME_TAG, DEVICE_TAG, GRID_TAG, HASH_TAG
from reports.runs import TAG_COLUMNS

DATASETS = (*PAPER_DATASETS, "digits")
BASE_CONFIG: dict[str, Any] = {
    "data_root": "/data", "backbone": "vit_base_patch16_224.augreg_in21k", "weights": "hub",
    "tasks": 10, "epochs": 100, "batch_size": 48, "lr": 1e-4, "q": 1, "eps": 1e-3, "seed": 1993,
    "historical": 0.0, "sparsity": 0.0, "sparsity_mode": "exact", "hybrid": 0.0,
}


@dataclass(frozen=True)
class FakeRun:
    """What a trial would log: params, final metrics, the per-task ``acc`` history, a status."""

    params: dict[str, Any]
    metrics: dict[str, float]
    acc: tuple[float, ...] = ()
    status: str = "FINISHED"
    tags: dict[str, str] = field(default_factory=dict)

    def record(
        self, run_id: str, end_time_ms: int = 0, experiment: str = "bench"
    ) -> dict[str, Any]:
        """The flat record load_runs would make of this run, for store-free tests."""
        meta = {"run_id": run_id, "experiment": experiment, "config_hash": config_hash(self.params),
                "start_time": end_time_ms, "end_time": end_time_ms,
                **{column: self.tags.get(tag) for column, tag in TAG_COLUMNS.items()}}
        return {**meta, **{k: str(v) for k, v in self.params.items()}, **self.metrics}


def config_hash(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def log_runs(client: MlflowClient, experiment_id: str, runs: Iterable[FakeRun]) -> list[str]:
    """Log each run in three calls; RUNNING runs are left open. Returns the run ids."""
    ids = []
    for run in runs:
        tags = {HASH_TAG: config_hash(run.params), GRID_TAG: "bench", **run.tags}
        created = client.create_run(experiment_id, tags=tags)
        metrics = [Metric(k, float(v), 0, 0) for k, v in run.metrics.items()]
        metrics += [Metric("acc", float(a), 0, step) for step, a in enumerate(run.acc)]
        params = [Param(k, str(v)) for k, v in run.params.items()]
        client.log_batch(created.info.run_id, metrics=metrics, params=params,
                         tags=[RunTag("kind", "fake")])
        if run.status != "RUNNING":
            client.set_terminated(created.info.run_id, run.status)
        ids.append(created.info.run_id)
    return ids


def _configs() -> Iterator[dict[str, Any]]:
    """Every setting the report draws on, once each (seed left at the base value)."""
    methods = ("ease", "aper")
    for method, optimizer, dataset in itertools.product(methods, PAPER_OPTIMIZERS, DATASETS):
        yield {**BASE_CONFIG, "method": method, "optimizer": optimizer, "dataset": dataset}
    for method, optimizer, dataset, q in itertools.product(
        methods, ("zo-sgd", "zo-adam"), DATASETS, (2, 4, 8, 16, 32)
    ):
        yield {**BASE_CONFIG, "method": method, "optimizer": optimizer, "dataset": dataset, "q": q}
    ease = {**BASE_CONFIG, "method": "ease", "optimizer": "zo-sgd"}
    for dataset, ratio in itertools.product(DATASETS, (0.2, 0.4, 0.6, 0.8)):
        yield {**ease, "dataset": dataset, "historical": ratio}
    sparsities = np.arange(1, 10) / 10
    for dataset, ratio, mode in itertools.product(DATASETS, sparsities, ("exact", "released")):
        yield {**ease, "dataset": dataset, "sparsity": float(ratio), "sparsity_mode": mode}
    for dataset in DATASETS:
        yield {**ease, "dataset": dataset, "hybrid": 0.875}
        yield {**ease, "dataset": dataset, "hybrid": 0.875, "historical": 0.2, "sparsity": 0.5}
    yield from _beyond_configs()


def _beyond_configs() -> Iterator[dict[str, Any]]:
    """grids/beyond.yaml's settings: the five estimators and ZO-SGD with a first-order head."""
    for method, dataset, q in itertools.product(("ease", "aper"), DATASETS, (1, 4)):
        base = {**BASE_CONFIG, "method": method, "dataset": dataset, "q": q}
        yield {**base, "optimizer": "zo-sgd", "fo_head": True}
        for optimizer, head in itertools.product(BEYOND_OPTIMIZERS, (False, True)):
            yield {**base, "optimizer": optimizer, "fo_head": head}
        yield {**base, "optimizer": "zo-hizoo", "hessian_smooth": 0.01}


def fake_runs(count: int, seed: int = 0) -> list[FakeRun]:
    """``count`` runs: the settings of _configs() round-robin, each repeat a new seed."""
    rng = np.random.default_rng(seed)
    configs = list(_configs())
    runs = []
    for i in range(count):
        config = {**configs[i % len(configs)], "seed": 1993 + i // len(configs)}
        level = 55.0 + 30.0 * rng.random()
        acc = tuple(np.clip(level + 10 - np.arange(10) * 1.5 + rng.normal(0, 1, 10), 0, 100))
        metrics = {
            "avg_acc": float(np.mean(acc)), "last_acc": acc[-1],
            "forgetting": 5 + 10 * rng.random(),
            "peak_memory_gb": 2.4 + 10 * rng.random(), "epoch_seconds": 5 + 100 * rng.random(),
            "forward_passes": 2e6, "wall_seconds": 3600.0, "trainable_params": 1_189_632,
        }
        runs.append(FakeRun(config, metrics, acc))
    return runs


def _forward_passes(optimizer: str, q: int) -> float:
    """Illustrative forward passes of 10,000 steps: 2q per ZO step, 2 more for Conserve."""
    steps = 10_000
    spec = OPTIMIZERS[optimizer]
    if spec.family == FIRST_ORDER:
        return float(steps)
    if spec.family == FORWARD_GRAD:
        return 2.0 * steps
    return float(steps * (2 * q + (2 if spec.conserve else 0)))


def _task_curve(avg: float, last: float, tasks: int = 10) -> dict[str, float]:
    """task_acc/<t> falling linearly to ``last`` with mean ``avg`` (what a run logs per task)."""
    first = 2 * avg - last
    return {f"task_acc/{t}": first + (last - first) * t / (tasks - 1) for t in range(tasks)}


def paper_runs(seeds: int = 1, spread: float = 0.0, profile: str = "released") -> list[FakeRun]:
    """Runs holding the paper's published numbers, on a GPU, for every table and figure.

    With ``seeds`` > 1 each config gets that many seeds whose metrics are the published value
    plus ``spread`` times a fixed draw, so the mean moves but the tables stay those of the paper's
    grids. Task curves, forward passes and a q sweep (Figure 5) are illustrative, not published.
    """
    rng = np.random.default_rng(0)
    tags = {DEVICE_TAG: "cuda", DEVICE_NAME_TAG: "NVIDIA H100 80GB HBM3"}
    base = {**BASE_CONFIG, "profile": profile}
    configs: list[tuple[dict[str, Any], dict[str, float]]] = []
    for (method, optimizer), values in paper.TABLE1_ROWS.items():
        for d, dataset in enumerate(paper.DATASETS):
            metrics = dict(zip(paper.ACCURACY_METRICS, values[3 * d:3 * d + 3]))
            metrics |= _task_curve(metrics["avg_acc"], metrics["last_acc"])
            metrics["forward_passes"] = _forward_passes(optimizer, 1)
            if method == "ease" and (optimizer, 1) in paper.TABLE2:
                memory, times = paper.TABLE2[(optimizer, 1)]
                metrics |= {"peak_memory_gb": memory, "epoch_seconds": times[d]}
            configs.append(({**base, "method": method, "optimizer": optimizer, "dataset": dataset}, metrics))
    ease_zo = {**base, "method": "ease", "optimizer": "zo-sgd", "dataset": paper.ENHANCEMENT_DATASET}
    memory, times = paper.TABLE2[("zo-sgd", 4)]
    for d, dataset in enumerate(paper.DATASETS):
        for optimizer, q in itertools.product(("zo-sgd", "zo-adam"), (2, 4, 8)):
            avg = paper.TABLE1_ROWS[("ease", optimizer)][3 * d] + 0.3 * q
            metrics = {"avg_acc": avg, "last_acc": avg - 8, "forgetting": 10.0,
                       "forward_passes": _forward_passes(optimizer, q)}
            if (optimizer, q) == ("zo-sgd", 4):
                metrics |= {"peak_memory_gb": memory, "epoch_seconds": times[d]}
            configs.append(({**ease_zo, "optimizer": optimizer, "dataset": dataset, "q": q}, metrics))
    for ratio, table in (("historical", paper.TABLE3), ("sparsity", paper.TABLE4)):
        for value, numbers in table.items():
            if value > 0:
                params = {**ease_zo, ratio: value, "sparsity_mode": "released"}
                configs.append((params, dict(zip(paper.ACCURACY_METRICS, numbers))))
    for name, params in (("ZO-SGD +hybrid", {"hybrid": 0.875}),
                         ("ZO-SGD +hybrid +historical +sparsity",
                          {"hybrid": 0.875, "historical": 0.2, "sparsity": 0.5})):
        configs.append(({**ease_zo, **params}, dict(zip(("avg_acc", "last_acc"), paper.COMBINED[name]))))
    runs = []
    for params, metrics in configs:
        for seed in range(seeds):
            noise = 0.0 if seeds == 1 else spread * float(rng.standard_normal())
            moved = {k: v + noise if k in ("avg_acc", "last_acc", "forgetting") else v for k, v in metrics.items()}
            runs.append(FakeRun({**params, "seed": 1993 + seed}, moved, tags=tags))
    return runs


def _no_fsync(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


@contextlib.contextmanager
def throwaway_sqlite() -> Iterator[None]:
    """SQLite stores opened inside skip fsync: for throwaway stores (benchmarks, tests) only,
    where durability buys nothing and costs most of the build time."""
    event.listen(Engine, "connect", _no_fsync)
    try:
        yield
    finally:
        event.remove(Engine, "connect", _no_fsync)


def build_store(directory: pathlib.Path, count: int) -> str:
    """A fresh SQLite store holding ``count`` FINISHED runs; returns its tracking URI."""
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    with throwaway_sqlite():
        client = MlflowClient(tracking_uri=uri)
        log_runs(client, client.create_experiment("bench"), fake_runs(count))
    return uri


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench report")
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--keep", type=pathlib.Path, help="write the store and report here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or pathlib.Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        uri = build_store(root, args.runs)
        built = time.perf_counter() - started
        # Imported here so the import cost is timed, as it is in the CLI.
        started = time.perf_counter()
        from reports.build import write_report
        from reports.runs import load_runs

        runs = load_runs(uri)
        loaded = time.perf_counter() - started
        lines = write_report(runs, root / "report", compare_paper=True, compare_profile="all")
        seconds = time.perf_counter() - started
    print("\n".join(lines))
    print(json.dumps({
        "runs": len(runs), "seconds": round(seconds, 2), "load_seconds": round(loaded, 2),
        "build_store_seconds": round(built, 1),
    }))
    return 0
