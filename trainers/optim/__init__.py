"""Optimizer strategies of ZeroFlow (arXiv 2501.01045): one registry, one seam.

    opt = create_optimizer("zo-sgd", model, lr=1e-4, q=4)
    loss = opt.step(lambda: method.loss(images, labels))   # the closure never calls backward()
    CosineAnnealingLR(opt.optimizer, T)                     # the torch optimizer applying the estimate

Only parameters with requires_grad when the optimizer is created train. `forward_passes` counts
closure evaluations (a Forward-Grad jvp pass counts as one). Non-finite losses raise
FloatingPointError. `start_task()` resets per-task enhancement state (historical directions,
sparsity masks); creating a new optimizer per task does the same.

The optimizer table (names, families, defaults, strategy classes) is catalog/optimizers.py,
which imports no torch; the strategies load on first use, so validating a grid or listing
optimizers stays fast (module __getattr__, PEP 562).

Beyond the paper: five later zeroth-order estimators (`zo-sparse-mezo`, `zo-lozo`, `zo-subzero`,
`zo-hizoo`, `zo-muon`; one module each, named by OptimizerSpec.strategy), and
`create_with_fo_head`, which trains a classifier head first-order beside any zeroth-order strategy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from catalog.optimizers import OPTIMIZERS, ZEROTH_ORDER, OptimizerSpec, fo_counterpart, get_spec, optimizer_names

if TYPE_CHECKING:
    from torch import nn

    from trainers.optim.base import Strategy
    from trainers.optim.fo_head import FirstOrderHead
    from trainers.optim.settings import Settings

_LAZY = {"Strategy": "trainers.optim.base", "Settings": "trainers.optim.settings",
         "FirstOrderHead": "trainers.optim.fo_head"}


def strategy_class(spec: OptimizerSpec) -> type[Strategy]:
    """The class the table names for `spec` ("module:Class")."""
    module, name = spec.strategy.split(":")
    return getattr(importlib.import_module(module), name)


def create_optimizer(name: str, model: nn.Module, **overrides: Any) -> Strategy:
    """The strategy `name` over `model`'s trainable parameters; ValueError on a bad name or setting."""
    from trainers.optim.settings import resolve_settings

    spec = get_spec(name)
    settings = resolve_settings(spec, overrides)
    return strategy_class(spec)(spec, settings, model)


def create_with_fo_head(name: str, model: nn.Module, head: nn.Module, head_lr: float, head_momentum: float,
                        head_weight_decay: float, **overrides: Any) -> FirstOrderHead:
    """Zeroth-order strategy `name` over `model`'s trainable parameters but `head`'s, which train
    first-order (trainers/optim/fo_head.py); ValueError for a strategy that is not zeroth-order."""
    from trainers.optim.fo_head import FirstOrderHead, frozen
    from trainers.optim.zeroth_order import ZerothOrder

    spec = get_spec(name)
    if spec.family != ZEROTH_ORDER:
        raise ValueError(f"fo_head: optimizer '{name}' is not zeroth-order; allowed: the zo-* strategies")
    head_params = [p for p in head.parameters() if p.requires_grad]
    with frozen(head_params):
        strategy = create_optimizer(name, model, **overrides)
    assert isinstance(strategy, ZerothOrder)
    return FirstOrderHead(strategy, head_params, head_lr, head_momentum, head_weight_decay)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OPTIMIZERS", "FirstOrderHead", "OptimizerSpec", "Settings", "Strategy", "create_optimizer",
           "create_with_fo_head", "fo_counterpart", "optimizer_names", "strategy_class"]
