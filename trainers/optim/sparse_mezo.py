"""Sparse-MeZO (Liu et al., "Sparse MeZO: less parameters for better performance in zeroth-order
LLM fine-tuning", NeurIPS 2025; NUS-HPC-AI-Lab/SparseMeZO): `zo-sparse-mezo`.

The paper observes that ZO noise hurts large weights more than small ones, so it perturbs and
updates only the entries whose magnitude is at most a per-layer threshold h: the mask is
m = 1[|θ| ≤ h], the points are θ ± ε (m ⊙ z), and the estimate c · (m ⊙ z) is unbiased for the
masked gradient m ⊙ ∇L. Here h is recomputed for every tensor at every step as the
`magnitude_ratio`-quantile of its current |θ| (the k-th smallest magnitude, k = ⌈ratio·n⌉), so a
fixed fraction of each tensor trains even as its weights grow; ties at h are all kept.

On adapters: each tensor (down/up projections and their biases, the head) has its own threshold.
The up-projections and all biases start at zero, so at the first step of a task every entry ties
at h = 0 and the whole tensor is perturbed; from then on its smallest-magnitude fraction is. The
masks exist only during a step (one bool per entry; the paper's memory-optimised version
recomputes them inside the forward instead).

No code is public; `profile: released` (issue 23) runs the paper's rule on MeZO's step (plain SGD,
weight decay 0, none on bias and norm tensors: `decay_rule: no-bias`), `corrected` on ZO-SGD's SGD.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trainers.optim.directions import Directions
from trainers.optim.zeroth_order import ZerothOrder


def large_entries(param: torch.Tensor, ratio: float) -> torch.Tensor:
    """True where |θ| exceeds the ratio-quantile of the tensor's magnitudes (those do not train)."""
    magnitude = param.detach().abs()
    k = max(1, math.ceil(ratio * magnitude.numel()))
    threshold = magnitude.flatten().kthvalue(k).values
    return magnitude > threshold


class MagnitudeMasked(Directions):
    """Gaussian directions zeroed, each step, outside the smallest-magnitude entries."""

    def __init__(self, params: list[nn.Parameter], seed: int, ratio: float) -> None:
        self.ratio = ratio
        super().__init__(params, seed)

    def begin_step(self) -> None:
        self.dropped = [large_entries(p, self.ratio) for p in self.params] if self.ratio < 1 else None


class SparseMeZO(ZerothOrder):
    """Two-point SPSA on the small-magnitude entries of every tensor."""

    def make_directions(self) -> Directions:
        return MagnitudeMasked(self.params, self.settings.seed, self.settings.magnitude_ratio)
