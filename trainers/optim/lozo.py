"""LOZO (Chen et al., "Enhancing zeroth-order fine-tuning for language models with low-rank
structures", ICLR 2025; optsuite/LOZO): `zo-lozo`.

Each weight matrix W (m × n) is perturbed along U Vᵀ with U (m × r) and V (n × r) Gaussian: U is
fresh every query, V is kept for `period` steps (the paper's ν). One shared finite difference
c = (L(θ+εZ) − L(θ−εZ)) / 2ε gives the estimate c · U Vᵀ / r per matrix (`lozo_scale:
inverse-rank`, the `corrected` form). For a fixed V its expectation is ∇W · V Vᵀ / r (the gradient
projected on V's column space, scaled), and since E[V Vᵀ] = r·I over the draws of V it is
unbiased. optsuite/LOZO's `lowrank_zo_update` divides by nothing (`lozo_scale: unit`, the
`released` form): its matrix estimate has expectation r·∇W, so at lr η it moves the matrices as
the unbiased form does at r·η. Settings: `rank` r, `period` ν, `lozo_scale`.

On adapters: the down- and up-projections are the matrices; their biases (and the cosine head's
scale) are vectors and get MeZO's plain z, unscaled, in both forms (optsuite/LOZO scales them by
nothing either; OPTML-Group/ZO-Muon's LLM port divides the shared difference, so vectors too, by r,
its ViT port divides nothing). `corrected` applies the estimate with ZO-SGD's SGD with momentum;
`released` steps plainly, as optsuite/LOZO does, with MeZO's weight-decay rule (`decay_rule:
no-bias`). LOZO-M's factored momentum is not implemented.
"""

from __future__ import annotations

import torch
from torch import nn

from trainers.optim.directions import Directions
from trainers.optim.lowrank import FactoredDirections, gaussian
from trainers.optim.zeroth_order import ZerothOrder


class LowRankDirections(FactoredDirections):
    """U Vᵀ per matrix: V (n × r) is the basis kept for `period` steps, U drawn per query."""

    def __init__(self, params: list[nn.Parameter], seed: int, rank: int, period: int, inverse_rank: bool) -> None:
        self.inverse_rank = inverse_rank
        super().__init__(params, seed, rank, period)

    def draw_basis(self, rows: int, cols: int, param: nn.Parameter) -> torch.Tensor:
        return torch.randn(cols, self.rank, generator=self._basis_rng, dtype=torch.float64).to(
            device=param.device, dtype=param.dtype)

    def structured(self, basis: torch.Tensor, rows: int, cols: int, sampler: torch.Generator,
                   param: nn.Parameter) -> torch.Tensor:
        return gaussian(rows, self.rank, sampler, param) @ basis.T

    def update_scale(self, basis: torch.Tensor) -> float:
        return 1.0 / self.rank if self.inverse_rank else 1.0


class Lozo(ZerothOrder):
    """Two-point SPSA along low-rank perturbations, the matrices' estimate scaled by 1/r or by 1."""

    def make_directions(self) -> Directions:
        settings = self.settings
        return LowRankDirections(self.params, settings.seed, settings.rank, settings.period,
                                 settings.lozo_scale == "inverse-rank")
