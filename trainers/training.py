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
from typing import Callable

import torch
from torch.utils.data import DataLoader

from catalog.config import FIRST_ORDER_PHASE, OPTIMIZER_KNOBS, TrialConfig
from catalog.optimizers import ZEROTH_ORDER
from trainers.methods import Method
from trainers.optim import OPTIMIZERS, Strategy, create_optimizer, create_with_fo_head, fo_counterpart
from trainers.optim.fo_head import FirstOrderHead
from trainers.precision import with_precision

# The trial's knobs an optimizer takes; the seed is passed apart (train_task's `seed`).
OPTIMIZER_SETTINGS = tuple(name for name in OPTIMIZER_KNOBS if name != "seed")


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
    settings = {key: value for key, value in settings.items() if value is not None}  # None: the optimizer's default
    if "seed" in accepted:
        settings["seed"] = seed
    return settings


def train_task(method: Method, config: TrialConfig, loader: DataLoader, device: torch.device,
               seed: int, on_epoch_end: Callable[[float], None] | None = None) -> TaskStats:
    """Train `method` on the current task's batches; raises FloatingPointError on divergence.
    `on_epoch_end` gets each epoch's mean loss as the epoch ends (NaN for an epoch without a batch)."""
    stats = TaskStats()
    for name, epochs in phases(config):
        optimizer = build_optimizer(name, method, config, seed)
        schedules = [torch.optim.lr_scheduler.CosineAnnealingLR(torch_optimizer, T_max=epochs)
                     for torch_optimizer, schedule in _scheduled(optimizer, name, config) if schedule == "cosine"]
        for _ in range(epochs):
            started = time.perf_counter()
            losses: list[float] = []
            for images, labels in loader:
                images, labels = images.to(device), labels.to(device)
                loss = optimizer.step(with_precision(lambda: method.loss(images, labels), config.precision, device))
                if not math.isfinite(loss):
                    raise FloatingPointError(f"non-finite training loss {loss} with {name}")
                stats.last_loss = loss
                losses.append(loss)
            stats.epoch_seconds.append(time.perf_counter() - started)
            stats.epoch_losses.append(sum(losses) / len(losses) if losses else math.nan)
            if on_epoch_end is not None:
                on_epoch_end(stats.epoch_losses[-1])
            for schedule in schedules:
                schedule.step()
        stats.forward_passes += optimizer.forward_passes
    return stats


def build_optimizer(name: str, method: Method, config: TrialConfig, seed: int) -> Strategy | FirstOrderHead:
    """Optimizer `name` for this phase; with `fo_head`, a zeroth-order one leaves the head to first-order SGD
    at the fo_* settings (preset: the method's first-order preset)."""
    settings = optimizer_settings(name, config, seed)
    if not (config.fo_head and OPTIMIZERS[name].family == ZEROTH_ORDER):
        return create_optimizer(name, method, **settings)
    fo = {key: getattr(config, f"fo_{key}") for key in ("lr", "momentum", "weight_decay")}
    if None in fo.values():
        raise ValueError("fo_head needs a resolved config: fo_lr, fo_momentum and fo_weight_decay set (presets)")
    head = getattr(method, "head", None)  # EASE's and APER's training head (a CosineHead)
    if not isinstance(head, torch.nn.Module):
        raise ValueError(f"fo_head: method '{config.method}' has no head training in this task")
    return create_with_fo_head(name, method, head, fo["lr"], fo["momentum"], fo["weight_decay"], **settings)


def _scheduled(optimizer: Strategy | FirstOrderHead, name: str,
               config: TrialConfig) -> list[tuple[torch.optim.Optimizer, object]]:
    """Each torch optimizer of the phase with its schedule (the head's: fo_schedule, else the trial's)."""
    pairs: list[tuple[torch.optim.Optimizer, object]] = [(optimizer.optimizer, phase_setting(config, "schedule", name))]
    if isinstance(optimizer, FirstOrderHead):
        pairs.append((optimizer.head_optimizer, config.fo_schedule or config.schedule))
    return pairs
