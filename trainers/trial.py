"""One trial: a class-incremental run of one method with one optimizer, as a plain function.

`run_trial(config)` resolves the presets, builds the data split and the model, then trains and
evaluates task by task. After every task it hands a `TaskReport` with a checkpoint state to
`on_task_end`; passing that state back as `resume` continues after that task with the same
result as an uninterrupted run (every task reseeds its own randomness from the trial seed). A
trial with `validation` > 0 trains without its held-out images and is also scored on them after
every task; the search (orchestrator/search/) reads that score, never the test accuracy.
After every epoch it hands an `EpochReport` (the epoch's mean training loss) to `on_epoch_end`,
so a caller can follow the loss while the trial runs.
"""

from __future__ import annotations

import itertools
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader

from catalog.config import TrialConfig
from trainers.backbone import AdapterViT, build_backbone
from trainers.data import Benchmark, build_benchmark
from trainers.data.inputs import Batches, Inputs
from trainers.evaluation import evaluate
from trainers.methods import Method, build_method
from trainers.metrics import summarize
from trainers.precision import precision_context
from trainers.presets import resolve
from trainers.reports import EpochCallback, EpochReport, TaskReport, TrialResult
from trainers.resources import PeakMemory, pick_device
from trainers.training import train_task


@dataclass
class Progress:
    """The running record of a trial; it is the checkpoint, together with the method's state."""

    accuracy: list[float] = field(default_factory=list)
    task_matrix: list[list[float]] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    forward_passes: int = 0
    peak_memory_gb: float = 0.0
    wall_seconds: float = 0.0
    trainable_params: int = 0
    validation: list[float] = field(default_factory=list)


def task_seed(seed: int, task: int) -> int:
    return seed * 1000 + task


def build_model(config: TrialConfig, num_classes: int, device: torch.device) -> Method:
    """Backbone and method; random backbone weights are drawn from the trial seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        backbone = AdapterViT(build_backbone(str(config.backbone), str(config.weights), image_size=config.image_size))
    return build_method(config, backbone, num_classes).to(device)


def load_data(config: TrialConfig) -> Benchmark:
    return build_benchmark(config.dataset, config.data_root, seed=config.seed, tasks=int(config.tasks),
                           image_size=int(config.image_size), validation=config.validation)


def _train_loader(benchmark: Benchmark, config: TrialConfig, task: int, train_transform: bool,
                  inputs: Inputs | None = None) -> Batches:
    """The task's training images: device-side batches when `inputs` has caches, else a per-image DataLoader."""
    if inputs is not None and inputs.stores is not None:
        return inputs.train_batches(benchmark, task, train=train_transform, seed=task_seed(config.seed, task))
    images = benchmark.train if train_transform else benchmark.train.with_transform(benchmark.test.transform)
    return DataLoader(images.take(benchmark.training(benchmark.task_classes(task))), batch_size=int(config.batch_size),
                      shuffle=train_transform, num_workers=config.num_workers,
                      generator=torch.Generator().manual_seed(task_seed(config.seed, task)))


def _epoch_reporter(on_epoch_end: EpochCallback | None, task: int, first: int) -> Callable[[float], None] | None:
    """train_task's per-epoch callback: the loss with its task and epoch index (from `first`)."""
    if on_epoch_end is None:
        return None
    epochs = itertools.count(first)

    def report(loss: float) -> None:
        on_epoch_end(EpochReport(task, next(epochs), loss))

    return report


def _run_task(method: Method, benchmark: Benchmark, config: TrialConfig, task: int, device: torch.device,
              progress: Progress, inputs: Inputs, on_epoch_end: EpochCallback | None = None) -> None:
    classes = benchmark.task_classes(task)
    # Dropout draws from the global RNG; seeding it per task makes a resumed trial exact.
    torch.manual_seed(task_seed(config.seed, task))
    if method.begin_task(task, classes):
        progress.trainable_params = progress.trainable_params or method.trainable_parameters()
        stats = train_task(method, config, _train_loader(benchmark, config, task, True, inputs), device,
                           task_seed(config.seed, task), _epoch_reporter(on_epoch_end, task, len(progress.epoch_losses)))
        progress.epoch_seconds.extend(stats.epoch_seconds)
        progress.epoch_losses.extend(stats.epoch_losses)
        progress.forward_passes += stats.forward_passes
    with precision_context(config.precision, device):
        method.end_task(task, classes, _train_loader(benchmark, config, task, False, inputs))
        accuracy, per_task = evaluate(method, benchmark, task, int(config.batch_size), device, config.num_workers,
                                      inputs.test_batches(benchmark, task))
        if benchmark.held_out.size:
            progress.validation.append(_validate(method, benchmark, config, task, device, inputs))
    progress.accuracy.append(accuracy)
    progress.task_matrix.append(per_task)


def _validate(method: Method, benchmark: Benchmark, config: TrialConfig, task: int, device: torch.device,
              inputs: Inputs) -> float:
    """Accuracy on the held-out training images of every class seen so far (test transform)."""
    batches = inputs.validation_batches(benchmark, task)
    if batches is None:
        images = benchmark.train.with_transform(benchmark.test.transform)
        batches = DataLoader(images.take(benchmark.validation(benchmark.seen_classes(task))),
                             batch_size=int(config.batch_size), num_workers=config.num_workers)
    return evaluate(method, benchmark, task, int(config.batch_size), device, batches=batches)[0]


def run_trial(config: TrialConfig, *, resume: dict[str, Any] | None = None,
              on_task_end: Callable[[TaskReport], None] | None = None,
              on_epoch_end: EpochCallback | None = None) -> TrialResult:
    """Run (or continue, from a TaskReport's `state`) one trial and return its result."""
    config = resolve(config)
    started = time.perf_counter()
    device = pick_device(config.device)
    benchmark = load_data(config)
    inputs = Inputs.for_trial(config, device)
    method = build_model(config, benchmark.num_classes, device)
    progress = Progress()
    if resume is not None:
        method.restore(resume["method"])
        progress = Progress(**resume["progress"])
    with torch.random.fork_rng(devices=[]):
        for task in range(len(progress.accuracy), benchmark.tasks):
            with PeakMemory(device) as memory:
                _run_task(method, benchmark, config, task, device, progress, inputs, on_epoch_end)
            progress.peak_memory_gb = max(progress.peak_memory_gb, memory.gigabytes)
            progress.wall_seconds += time.perf_counter() - started
            started = time.perf_counter()
            if on_task_end is not None:
                state = {"method": method.checkpoint_state(), "progress": asdict(progress)}
                on_task_end(TaskReport(task, progress.accuracy[-1], progress.task_matrix[-1], state,
                                       list(progress.validation)))
    return _result(progress, device)


def device_name(device: torch.device) -> str:
    """The GPU model on CUDA (what Table 2's memory and time depend on), else the processor."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:  # Linux names the CPU model here; platform.processor() only says "x86_64"
        with open("/proc/cpuinfo") as info:
            models = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    except OSError:
        models = []
    return models[0] if models else platform.processor() or platform.machine()


def _result(progress: Progress, device: torch.device) -> TrialResult:
    metrics = summarize(progress.accuracy, progress.task_matrix)
    epochs = progress.epoch_seconds
    return TrialResult(
        avg_acc=metrics.avg_acc, last_acc=metrics.last_acc, forgetting=metrics.forgetting,
        acc=list(progress.accuracy), peak_memory_gb=progress.peak_memory_gb,
        epoch_seconds=sum(epochs) / len(epochs) if epochs else 0.0,
        forward_passes=progress.forward_passes, wall_seconds=progress.wall_seconds,
        trainable_params=progress.trainable_params,
        task_matrix=[list(row) for row in progress.task_matrix], epoch_losses=list(progress.epoch_losses),
        device=device.type, device_name=device_name(device), val_acc=list(progress.validation),
        val_avg=sum(progress.validation) / len(progress.validation) if progress.validation else None)


def describe_trial(config: TrialConfig) -> dict[str, Any]:
    """The resolved config, the data split and `trainable_params` of the real model; trains nothing."""
    config = resolve(config)
    benchmark = load_data(config)
    method = build_model(config, benchmark.num_classes, torch.device("cpu"))
    method.begin_task(0, benchmark.task_classes(0))
    return {**config.to_dict(), "num_classes": benchmark.num_classes, "train_images": len(benchmark.train),
            "test_images": len(benchmark.test), "trainable_params": method.trainable_parameters()}
