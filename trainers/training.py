"""Training of one task: epochs of optimizer steps, the hybrid FO -> ZO switch and the LR schedule.

Every optimizer is driven the same way, through `step(closure)`; the closure only computes the
method's loss. The hybrid enhancement (paper section 6) trains the first `hybrid` fraction of
each task's epochs with the first-order counterpart, then switches to the zeroth-order strategy;
both phases use the trial's learning rate, and each phase has its own schedule.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader

from trainers.config import TrialConfig
from trainers.methods import Method
from trainers.optim import OPTIMIZERS, create_optimizer, fo_counterpart
from trainers.precision import with_precision

OPTIMIZER_SETTINGS = ("lr", "momentum", "weight_decay", "q", "eps", "historical", "sparsity", "sparsity_mode")


@dataclass
class TaskStats:
    """What training one task cost: seconds of each epoch and forward passes."""

    epoch_seconds: list[float] = field(default_factory=list)
    forward_passes: int = 0
    last_loss: float = math.nan


def phases(config: TrialConfig) -> list[tuple[str, int]]:
    """(optimizer, epochs) in training order for one task."""
    epochs = int(config.epochs or 0)
    counterpart = fo_counterpart(config.optimizer)
    fo_epochs = round(config.hybrid * epochs) if counterpart != config.optimizer else 0
    planned = [(counterpart, fo_epochs), (config.optimizer, epochs - fo_epochs)]
    return [(name, count) for name, count in planned if count > 0]


def optimizer_settings(name: str, config: TrialConfig, seed: int) -> dict[str, object]:
    """The trial's settings that optimizer `name` takes (its registered defaults name them)."""
    accepted = OPTIMIZERS[name].defaults
    settings = {key: getattr(config, key) for key in OPTIMIZER_SETTINGS if key in accepted}
    if "seed" in accepted:
        settings["seed"] = seed
    return settings


def train_task(method: Method, config: TrialConfig, loader: DataLoader, device: torch.device,
               seed: int) -> TaskStats:
    """Train `method` on the current task's batches; raises FloatingPointError on divergence."""
    stats = TaskStats()
    for name, epochs in phases(config):
        optimizer = create_optimizer(name, method, **optimizer_settings(name, config, seed))
        schedule = None
        if config.schedule == "cosine":
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer.optimizer, T_max=epochs)
        for _ in range(epochs):
            started = time.perf_counter()
            for images, labels in loader:
                images, labels = images.to(device), labels.to(device)
                loss = optimizer.step(with_precision(lambda: method.loss(images, labels), config.precision, device))
                if not math.isfinite(loss):
                    raise FloatingPointError(f"non-finite training loss {loss} with {name}")
                stats.last_loss = loss
            stats.epoch_seconds.append(time.perf_counter() - started)
            if schedule is not None:
                schedule.step()
        stats.forward_passes += optimizer.forward_passes
    return stats
