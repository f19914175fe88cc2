"""Optimizer strategies of ZeroFlow (arXiv 2501.01045): one registry, one seam.

    opt = create_optimizer("zo-sgd", model, lr=1e-4, q=4)
    loss = opt.step(lambda: method.loss(images, labels))   # the closure never calls backward()
    CosineAnnealingLR(opt.optimizer, T)                     # the torch optimizer applying the estimate

Only parameters with requires_grad when the optimizer is created train. `forward_passes` counts
closure evaluations (a Forward-Grad jvp pass counts as one). Non-finite losses raise
FloatingPointError. `start_task()` resets per-task enhancement state (historical directions,
sparsity masks); creating a new optimizer per task does the same.

Beyond the paper: five later zeroth-order estimators (`zo-sparse-mezo`, `zo-lozo`, `zo-subzero`,
`zo-hizoo`, `zo-muon`; one module each, selected by OptimizerSpec.estimator), and
`create_with_fo_head`, which trains a classifier head first-order beside any zeroth-order strategy.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from trainers.optim.base import Strategy
from trainers.optim.first_order import FirstOrder
from trainers.optim.fo_head import FirstOrderHead, frozen
from trainers.optim.forward_grad import ForwardGrad
from trainers.optim.hizoo import HiZoo
from trainers.optim.lozo import Lozo
from trainers.optim.registry import (FIRST_ORDER, FORWARD_GRAD, OPTIMIZERS, ZEROTH_ORDER, OptimizerSpec,
                                     fo_counterpart, get_spec, optimizer_names)
from trainers.optim.settings import Settings, resolve_settings
from trainers.optim.sparse_mezo import SparseMeZO
from trainers.optim.subzero import SubZero
from trainers.optim.zeroth_order import ZerothOrder
from trainers.optim.zo_muon import ZoMuon

_STRATEGIES: dict[str, type[Strategy]] = {FIRST_ORDER: FirstOrder, ZEROTH_ORDER: ZerothOrder, FORWARD_GRAD: ForwardGrad}
# Zeroth-order estimators beyond the paper, by OptimizerSpec.estimator ("spsa" is ZerothOrder's).
_ESTIMATORS: dict[str, type[Strategy]] = {"sparse-mezo": SparseMeZO, "lozo": Lozo, "subzero": SubZero,
                                          "hizoo": HiZoo, "muon": ZoMuon}


def create_optimizer(name: str, model: nn.Module, **overrides: Any) -> Strategy:
    """The strategy `name` over `model`'s trainable parameters; ValueError on a bad name or setting."""
    spec = get_spec(name)
    settings = resolve_settings(spec, overrides)
    strategy = _ESTIMATORS.get(spec.estimator, _STRATEGIES[spec.family])
    return strategy(spec, settings, model)


def create_with_fo_head(name: str, model: nn.Module, head: nn.Module, head_lr: float, head_momentum: float,
                        head_weight_decay: float, **overrides: Any) -> FirstOrderHead:
    """Zeroth-order strategy `name` over `model`'s trainable parameters but `head`'s, which train
    first-order (trainers/optim/fo_head.py); ValueError for a strategy that is not zeroth-order."""
    spec = get_spec(name)
    if spec.family != ZEROTH_ORDER:
        raise ValueError(f"fo_head: optimizer '{name}' is not zeroth-order; allowed: the zo-* strategies")
    head_params = [p for p in head.parameters() if p.requires_grad]
    with frozen(head_params):
        strategy = create_optimizer(name, model, **overrides)
    assert isinstance(strategy, ZerothOrder)
    return FirstOrderHead(strategy, head_params, head_lr, head_momentum, head_weight_decay)


__all__ = ["OPTIMIZERS", "FirstOrderHead", "OptimizerSpec", "Settings", "Strategy", "create_optimizer",
           "create_with_fo_head", "fo_counterpart", "optimizer_names"]
