"""Optimizer strategies of ZeroFlow (arXiv 2501.01045): one registry, one seam.

    opt = create_optimizer("zo-sgd", model, lr=1e-4, q=4)
    loss = opt.step(lambda: method.loss(images, labels))   # the closure never calls backward()
    CosineAnnealingLR(opt.optimizer, T)                     # the torch optimizer applying the estimate

Only parameters with requires_grad when the optimizer is created train. `forward_passes` counts
closure evaluations (a Forward-Grad jvp pass counts as one). Non-finite losses raise
FloatingPointError. `start_task()` resets per-task enhancement state (historical directions,
sparsity masks); creating a new optimizer per task does the same.

The registry (names, families, defaults) imports no torch; the strategies load on first use, so
validating a grid or listing optimizers stays fast (module __getattr__, PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainers.optim.registry import (FIRST_ORDER, FORWARD_GRAD, OPTIMIZERS, ZEROTH_ORDER, OptimizerSpec,
                                     fo_counterpart, get_spec, optimizer_names)

if TYPE_CHECKING:
    from torch import nn

    from trainers.optim.base import Strategy
    from trainers.optim.settings import Settings

_LAZY = {"Strategy": "trainers.optim.base", "Settings": "trainers.optim.settings"}


def create_optimizer(name: str, model: nn.Module, **overrides: Any) -> Strategy:
    """The strategy `name` over `model`'s trainable parameters; ValueError on a bad name or setting."""
    from trainers.optim.first_order import FirstOrder
    from trainers.optim.forward_grad import ForwardGrad
    from trainers.optim.settings import resolve_settings
    from trainers.optim.zeroth_order import ZerothOrder

    strategies = {FIRST_ORDER: FirstOrder, ZEROTH_ORDER: ZerothOrder, FORWARD_GRAD: ForwardGrad}
    spec = get_spec(name)
    settings = resolve_settings(spec, overrides)
    return strategies[spec.family](spec, settings, model)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OPTIMIZERS", "OptimizerSpec", "Settings", "Strategy", "create_optimizer", "fo_counterpart",
           "optimizer_names"]
