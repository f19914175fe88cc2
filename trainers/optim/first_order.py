"""First-order strategies (fo-sgd, fo-adam): the backprop baseline every ZeroFlow table compares to.

The closure runs in train mode with grad enabled; this class, not the method, calls backward(),
so `step(closure)` stays the only seam between methods and optimizers.
"""

from __future__ import annotations

import torch

from trainers.optim.base import Closure, Strategy, finite_loss, training_mode


class FirstOrder(Strategy):
    """Backprop gradient applied by torch SGD or Adam; one forward (plus backward) per step."""

    def step(self, closure: Closure) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        with training_mode(self.model, True), torch.enable_grad():
            loss = closure()
            self.forward_passes += 1
            value = finite_loss(loss, f"{self.spec.name} step")
            loss.backward()
        self.optimizer.step()
        # Free the gradients between steps so they do not count toward a later phase's memory.
        self.optimizer.zero_grad(set_to_none=True)
        return value
