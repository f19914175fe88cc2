"""First-order head (`fo_head`): the classifier head trains by backprop while the adapters train
zeroth-order, the split ZO-FC (WACV 2026; uncc-efficient-ai/ZOFC) proposes for continual learning.

The head is a few thousand parameters at the end of the network: its exact gradient costs one
small backward through the head alone, while the backbone (the expensive part, and the one whose
activations backprop would have to store) stays forward-only. No extra forward is needed: the
zeroth-order strategy runs its forwards with grad enabled while only the head's parameters
require grad, so autograd records the head and the loss and nothing in the backbone; each
forward's loss is backpropagated into the head's `.grad`, and the head's gradient is the mean
over the step's forwards (at θ ± εz: ∇_head L(θ) up to O(ε²); HiZOO's L(θ) and Conserve's
candidates included). A torch SGD over the head (its own lr, momentum, weight decay) then steps.

Cost: the backbone builds no graph, so memory stays at inference level plus the head's graph
(batch × features). The head is left out of the zeroth-order strategy's trainable set, so its
perturbation no longer adds noise to the finite difference.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from catalog.optimizers import OptimizerSpec
from trainers.optim.base import Closure
from trainers.optim.zeroth_order import ZerothOrder


@contextmanager
def frozen(params: list[nn.Parameter]) -> Iterator[None]:
    """requires_grad off for `params` inside the block, restored after."""
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


class FirstOrderHead:
    """A zeroth-order strategy for everything but the head, plus first-order SGD for the head."""

    def __init__(self, strategy: ZerothOrder, head: list[nn.Parameter], lr: float, momentum: float,
                 weight_decay: float) -> None:
        if not head:
            raise ValueError("fo_head: the method's head has no trainable parameter")
        self.strategy = strategy
        self.head = head
        self.head_optimizer = torch.optim.SGD(head, lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.optimizer = strategy.optimizer  # the zeroth-order base optimizer, for LR schedules
        strategy.forward_context = torch.enable_grad

    @property
    def forward_passes(self) -> int:
        return self.strategy.forward_passes

    @property
    def spec(self) -> OptimizerSpec:
        return self.strategy.spec

    def start_task(self) -> None:
        self.strategy.start_task()

    def step(self, closure: Closure) -> float:
        """One zeroth-order step of the adapters and one first-order step of the head."""
        forwards = 0

        def backprop_head() -> torch.Tensor:
            nonlocal forwards
            loss = closure()
            loss.backward()
            forwards += 1
            return loss.detach()

        self.head_optimizer.zero_grad(set_to_none=True)
        try:
            with frozen(self.strategy.params):
                value = self.strategy.step(backprop_head)
            for p in self.head:
                if p.grad is not None:
                    p.grad.div_(forwards)
            self.head_optimizer.step()
        finally:
            self.head_optimizer.zero_grad(set_to_none=True)
        return value
