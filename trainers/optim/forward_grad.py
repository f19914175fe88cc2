"""Forward-Grad (Baydin et al. 2022, "Gradients without backpropagation"), ZeroFlow's BP-free baseline.

One forward-mode AD pass (torch.func.jvp) gives L(θ) and the directional derivative ∇L·v for a
Gaussian v over the trainable tensors; the unbiased estimate (∇L·v)·v goes to `.grad` and plain
torch SGD applies it (released settings: lr 1e-3, no momentum, no weight decay; like the released
code, q is not used). A jvp pass costs about 1.5–3 plain forwards but counts as one forward pass
in `forward_passes`.

Choices, stated: v comes from this object's seeded generator (the released code reseeds the
global RNG); the closure runs in train mode, as in the released training loop, which never put
the model in eval for Forward-Grad; weight decay, when asked for, follows torch SGD and applies
to every trainable tensor (the released code skipped biases and norms; its default is 0 anyway).
Attention runs on PyTorch's math SDPA kernel inside the jvp because the fused CPU/GPU attention
kernels have no forward-mode derivative.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from catalog.optimizers import OptimizerSpec
from trainers.optim.base import Closure, Strategy, finite_loss, training_mode
from trainers.optim.directions import Directions
from trainers.optim.settings import Settings


class _CallClosure(nn.Module):
    """Holds the model as a child so torch.func.functional_call can swap in dual tensors for its
    parameters while an arbitrary closure (not the model's forward) computes the loss."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, closure: Closure) -> torch.Tensor:
        return closure()


class ForwardGrad(Strategy):
    """(∇L·v)·v from one jvp pass, applied by plain SGD."""

    def __init__(self, spec: OptimizerSpec, settings: Settings, model: nn.Module) -> None:
        super().__init__(spec, settings, model)
        self._caller = _CallClosure(model)
        names = {id(p): name for name, p in self._caller.named_parameters()}
        self._names = [names[id(p)] for p in self.params]
        self.directions = Directions(self.params, settings.seed)

    def step(self, closure: Closure) -> float:
        def loss_of(*tensors: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(self._caller, dict(zip(self._names, tensors)), (closure,))

        tangents = tuple(self.directions.perturbations(self.directions.next_seed()))
        primals = tuple(p.detach() for p in self.params)
        with training_mode(self.model, True), torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
            loss, derivative = torch.func.jvp(loss_of, primals, tangents)
        self.forward_passes += 1
        value = finite_loss(loss, f"{self.spec.name} jvp")
        slope = finite_loss(derivative, f"{self.spec.name} jvp (directional derivative)")
        for p, v in zip(self.params, tangents):
            p.grad = v.mul_(slope)  # the tangent buffer becomes the gradient: no extra copy
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return value
