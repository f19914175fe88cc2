"""HiZOO (Zhao et al., "Second-order fine-tuning without pain for LLMs: a Hessian informed
zeroth-order optimizer", ICLR 2025; Yanjun-Zhao/HiZOO): `zo-hizoo`.

A diagonal Hessian estimate H (one entry per trainable entry, starting at 1 every task) shapes
the perturbations: with Σ = H⁻¹ and u ~ N(0, I), each query evaluates L(θ ± ε Σ^{1/2} u), and the
step also evaluates L(θ): 2q + 1 forwards. The estimate is c · Σ^{1/2} u with
c = (L₊ − L₋) / 2ε, whose expectation is the preconditioned gradient Σ ∇L. The curvature along
the query, |L₊ + L₋ − 2 L(θ)| / 2ε², updates the estimate as an exponential average with
smoothing α (`hessian_smooth`):
    H ← (1 − α) H + α · mean_i(|L₊ + L₋ − 2L|_i / 2ε² · H ⊙ u_i²)
H stays positive. `hizoo_hessian: old` (`corrected`): the update direction uses the Σ the
perturbation used, so its expectation is Σ ∇L. `new` (`released`, Yanjun-Zhao/HiZOO
`zo_Hessian_step_update`): H is updated first and the estimate divided by the new one,
c · u / √H_new, which biases it away from Σ ∇L by O(α) (with the default α = 1e-8 the two agree to
about 1e-8). The release applies it plainly, θ ← θ − η(ĝ + λθ) on every tensor, weight decay 0 by
default, and spends a fourth forward logging L after the step, which zfsweep does not (it changes
no parameter). Returns L(θ), which it evaluates anyway.

On adapters: H has one entry per adapter weight and bias (and per head entry unless the head
trains first-order), so the state is one extra copy of the trainable parameters, the same for
every tensor shape; it is per task, like the optimizer.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from trainers.optim.base import Closure
from trainers.optim.directions import Directions
from trainers.optim.zeroth_order import ZerothOrder


class HessianScaled(Directions):
    """Directions Σ^{1/2} u = u / √H, with the diagonal estimate H they are scaled by."""

    def __init__(self, params: list[nn.Parameter], seed: int) -> None:
        self.hessian: list[torch.Tensor] = []
        super().__init__(params, seed)

    def start_task(self) -> None:
        super().start_task()
        self.hessian = [torch.ones_like(p, memory_format=torch.preserve_format).detach() for p in self.params]

    def gaussian(self, seed: int) -> Iterator[torch.Tensor]:
        """The unscaled u of the query with `seed`."""
        yield from super().perturbations(seed)

    def perturbations(self, seed: int) -> Iterator[torch.Tensor]:
        for u, h in zip(self.gaussian(seed), self.hessian):
            yield u.div_(h.sqrt())

    def update_hessian(self, curvatures: list[tuple[int, float]], smooth: float) -> list[torch.Tensor]:
        """H ← H ⊙ ((1 − α) + (α/q) Σ_i k_i u_i²) for the queries' (seed, curvature k_i); returns the
        factors, H_new / H_old."""
        factors = [torch.full_like(h, 1.0 - smooth) for h in self.hessian]
        weight = smooth / len(curvatures)
        for seed, curvature in curvatures:
            for factor, u in zip(factors, self.gaussian(seed)):
                factor.add_(u.square_(), alpha=weight * curvature)
        for h, factor in zip(self.hessian, factors):
            h.mul_(factor)
        return factors


class HiZoo(ZerothOrder):
    """SPSA along Σ^{1/2} u, Σ the inverse of a diagonal Hessian average; three forwards per query."""

    directions: HessianScaled
    direction_symbol: str = "Σ½u"

    def make_directions(self) -> Directions:
        return HessianScaled(self.params, self.settings.seed)

    def reference_loss(self, closure: Closure) -> float | None:
        self._curvatures: list[tuple[int, float]] = []
        return self._forward(closure, "θ")

    def observe_query(self, seed: int, plus: float, minus: float, reference: float | None) -> None:
        assert reference is not None
        self._curvatures.append((seed, abs(plus + minus - 2 * reference) / (2 * self.settings.eps**2)))

    def shape_estimate(self) -> None:
        factors = self.directions.update_hessian(self._curvatures, self.settings.hessian_smooth)
        if self.settings.hizoo_hessian == "new":  # c·u/√H_old → c·u/√H_new, as H_new = H_old ⊙ factor
            for p, factor in zip(self.params, factors):
                p.grad.div_(factor.sqrt_())
