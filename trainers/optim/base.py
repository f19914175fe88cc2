"""What every strategy shares: the trainable set, the torch optimizer that applies the estimate,
the forward-pass counter, training-mode bookkeeping and the fail-fast check on the loss.

A strategy only decides how `.grad` gets filled (backprop, SPSA, jvp); a stock torch SGD or Adam
then applies it, as MeZO and the released ZeroFlow code do, so a torch LR scheduler attaches to
`strategy.optimizer` unchanged.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import nn

from catalog.optimizers import OptimizerSpec
from trainers.optim.settings import Settings

Closure = Callable[[], torch.Tensor]


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that train: those with requires_grad now, in registration order."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("create_optimizer: the model has no parameter with requires_grad=True; "
                         "allowed: a model whose trainable set is not empty")
    return params


def trainable_names(model: nn.Module) -> list[str]:
    """The names of `trainable_parameters(model)`, in the same order."""
    return [name for name, p in model.named_parameters() if p.requires_grad]


# MeZO's weight-decay rule (princeton-nlp/MeZO, inherited by optsuite/LOZO and OPTML-Group/ZO-Muon):
# tensors whose name holds one of these do not decay.
NO_DECAY_MARKS = ("bias", "layer_norm", "layernorm")


def _groups(params: list[nn.Parameter], names: list[str], settings: Settings) -> list[dict[str, Any]]:
    """SGD parameter groups for `decay_rule: no-bias` (those tensors get no weight decay) and ZO-Muon's
    `muon_vector_lr` (1-D tensors step at that lr): one group per (decays, is a vector) pair."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for p, name in zip(params, names):
        decays = settings.decay_rule == "all" or not any(mark in name for mark in NO_DECAY_MARKS)
        vector = settings.muon_vector_lr is not None and p.dim() < 2
        groups.setdefault((decays, vector), []).append(p)
    return [{"params": members, "weight_decay": settings.weight_decay if decays else 0.0,
             "lr": settings.muon_vector_lr if vector else settings.lr}
            for (decays, vector), members in groups.items()]


def base_optimizer(spec: OptimizerSpec, params: list[nn.Parameter], settings: Settings,
                   names: list[str] | None = None) -> torch.optim.Optimizer:
    if spec.base == "adam":
        adam = torch.optim.AdamW if settings.adamw else torch.optim.Adam
        return adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    sgd = {"lr": settings.lr, "momentum": settings.momentum, "weight_decay": settings.weight_decay}
    if names is not None and (settings.decay_rule != "all" or settings.muon_vector_lr is not None):
        return torch.optim.SGD(_groups(params, names, settings), **sgd)
    return torch.optim.SGD(params, **sgd)


def finite_loss(loss: torch.Tensor, where: str) -> float:
    """The loss as a float; a diverging trial must fail fast rather than train on NaN."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise FloatingPointError(f"non-finite loss {value} at {where}")
    return value


@contextmanager
def training_mode(model: nn.Module, training: bool) -> Iterator[None]:
    """Run with every submodule in `training` mode, then restore each submodule's own mode."""
    previous = [(module, module.training) for module in model.modules()]
    model.train(training)
    try:
        yield
    finally:
        for module, mode in previous:
            module.training = mode


class Strategy(ABC):
    """One optimizer strategy bound to one model's trainable parameters."""

    def __init__(self, spec: OptimizerSpec, settings: Settings, model: nn.Module) -> None:
        self.spec = spec
        self.settings = settings
        self.model = model
        self.params = trainable_parameters(model)
        self.optimizer = base_optimizer(spec, self.params, settings, trainable_names(model))
        self.forward_passes = 0

    @abstractmethod
    def step(self, closure: Closure) -> float:
        """One update from the loss `closure` computes; returns the loss at the current parameters."""

    def start_task(self) -> None:
        """Reset per-task state (the enhancements'); strategies without any keep none."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name}, {self.settings})"
