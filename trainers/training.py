"""Training of one task: epochs of optimizer steps, the hybrid FO -> ZO switch and the LR schedule.

Every optimizer is driven the same way, through `step(closure)`; the closure only computes the
method's loss. The hybrid enhancement (paper section 6) trains the first `hybrid` fraction of
each task's epochs with the first-order counterpart, then switches to the zeroth-order strategy.
Each phase has its own settings and schedule: the first-order phase takes `fo_lr`,
`fo_momentum`, `fo_weight_decay` and `fo_schedule` (preset: the counterpart's first-order
preset), the zeroth-order phase the trial's `lr`, `momentum`, `weight_decay` and `schedule`.
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

OPTIMIZER_SETTINGS = ("lr", "momentum", "weight_decay", "q", "eps", "historical", "sparsity", "sparsity_mode",
                      "conserve", "adamw")
# The first-order phase of a hybrid trial reads these keys instead of the trial's own.
FIRST_ORDER_PHASE = {"lr": "fo_lr", "momentum": "fo_momentum", "weight_decay": "fo_weight_decay",
                     "schedule": "fo_schedule"}


@dataclass
class TaskStats:
    """What training one task cost, and its mean training loss per epoch."""

    epoch_seconds: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    forward_passes: int = 0
    last_loss: float = math.nan


def phases(config: TrialConfig) -> list[tuple[str, int]]:
    """(optimizer, epochs) in training order for one task."""
    epochs = int(config.epochs or 0)
    counterpart = fo_counterpart(config.optimizer)
    fo_epochs = round(config.hybrid * epochs) if counterpart != config.optimizer else 0
    planned = [(counterpart, fo_epochs), (config.optimizer, epochs - fo_epochs)]
    return [(name, count) for name, count in planned if count > 0]


def phase_setting(config: TrialConfig, key: str, name: str) -> object:
    """Setting `key` for the phase that trains with optimizer `name` (fo_* in a hybrid's FO phase)."""
    first_order_phase = name != config.optimizer
    return getattr(config, FIRST_ORDER_PHASE.get(key, key) if first_order_phase else key)


def optimizer_settings(name: str, config: TrialConfig, seed: int) -> dict[str, object]:
    """The trial's settings that optimizer `name` takes (its registered defaults name them);
    a hybrid trial's first-order phase takes the fo_* settings."""
    accepted = OPTIMIZERS[name].defaults
    settings = {key: phase_setting(config, key, name) for key in OPTIMIZER_SETTINGS if key in accepted}
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
        if phase_setting(config, "schedule", name) == "cosine":
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer.optimizer, T_max=epochs)
        for _ in range(epochs):
            started = time.perf_counter()
            losses: list[float] = []
            for images, labels in loader:
                images, labels = images.to(device), labels.to(device)
                loss = optimizer.step(lambda: method.loss(images, labels))
                if not math.isfinite(loss):
                    raise FloatingPointError(f"non-finite training loss {loss} with {name}")
                stats.last_loss = loss
                losses.append(loss)
            stats.epoch_seconds.append(time.perf_counter() - started)
            stats.epoch_losses.append(sum(losses) / len(losses) if losses else math.nan)
            if schedule is not None:
                schedule.step()
        stats.forward_passes += optimizer.forward_passes
    return stats
