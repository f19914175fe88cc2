"""LOZO (Chen et al., "Enhancing zeroth-order fine-tuning for language models with low-rank
structures", ICLR 2025; optsuite/LOZO): `zo-lozo`.

Each weight matrix W (m × n) is perturbed along U Vᵀ with U (m × r) and V (n × r) Gaussian: U is
fresh every query, V is kept for `period` steps (the paper's ν). One shared finite difference
c = (L(θ+εZ) − L(θ−εZ)) / 2ε gives the estimate c · U Vᵀ / r per matrix. For a fixed V its
expectation is ∇W · V Vᵀ / r (the gradient projected on V's column space, scaled), and since
E[V Vᵀ] = r·I over the draws of V it is unbiased. Settings: `rank` r, `period` ν.

On adapters: the down- and up-projections are the matrices; their biases (and the cosine head's
scale) are vectors and get MeZO's plain z, unscaled, so every tensor's estimate is unbiased (the
released code also divides the vectors' estimate by r). ZO-SGD's SGD with momentum applies the
estimate; LOZO-M's factored momentum (which stores an m × r momentum instead of m × n) is not
implemented: momentum, when asked for, is torch SGD's full-size buffer.
"""

from __future__ import annotations

import torch
from torch import nn

from trainers.optim.directions import Directions
from trainers.optim.lowrank import FactoredDirections, gaussian
from trainers.optim.zeroth_order import ZerothOrder


class LowRankDirections(FactoredDirections):
    """U Vᵀ per matrix: V (n × r) is the basis kept for `period` steps, U drawn per query."""

    def draw_basis(self, rows: int, cols: int, param: nn.Parameter) -> torch.Tensor:
        return torch.randn(cols, self.rank, generator=self._basis_rng, dtype=torch.float64).to(
            device=param.device, dtype=param.dtype)

    def structured(self, basis: torch.Tensor, rows: int, cols: int, sampler: torch.Generator,
                   param: nn.Parameter) -> torch.Tensor:
        return gaussian(rows, self.rank, sampler, param) @ basis.T

    def update_scale(self, basis: torch.Tensor) -> float:
        return 1.0 / self.rank


class Lozo(ZerothOrder):
    """Two-point SPSA along low-rank perturbations, estimate scaled by 1/r."""

    def make_directions(self) -> Directions:
        return LowRankDirections(self.params, self.settings.seed, self.settings.rank, self.settings.period)
