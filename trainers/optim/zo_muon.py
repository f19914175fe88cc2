"""ZO-Muon (arXiv 2602.17155; OPTML-Group/ZO-Muon, MIT): `zo-muon`.

Each weight matrix W (m × n) gets a Haar-random column-orthonormal P (m × r), refreshed every
`period` steps; every query perturbs W along P u with u (r × n) Gaussian. With the shared finite
differences c_i of q queries, the subspace estimate R = (1/q) Σ c_i u_i (r × n) has expectation
Pᵀ ∇W, so P R is the known projection P Pᵀ ∇W in expectation. ZO-Muon then orthogonalises R by
`ns_steps` Newton–Schulz iterations (Muon's quintic, coefficients 3.4445, −4.7750, 2.0315,
which push R's singular values towards 1) and the update direction is P · NS(R): every direction
of the subspace moves by about the same amount, whatever the noise did to the estimate's scale.
The ZO-Muon ViT runs use rank 64, period 100, 16 queries and lr 1e-2 (its registered defaults,
q excepted: q is the trial's setting, 1 unless a grid states it).

On adapters: the down- and up-projections are the matrices; vectors (their biases, the cosine
head's scale) get MeZO's plain z and the raw estimate, as in the released code. Newton–Schulz runs
in float32 (float64 for float64 tensors; the released code uses bfloat16).

Released vs corrected (issue 23; OPTML-Group/ZO-Muon `LowDimOptimizer` with `--multiple_sample`,
as its ViT runs use it):
- `muon_sided: one` (`released`): L(θ) once, then one point per query, c_i = (L(θ+εPu_i) − L(θ))/ε:
  1 + q forwards, returns L(θ). `two` (`corrected`): two-point queries, 2q forwards, whose
  difference has O(ε²) bias instead of O(ε) for the same direction.
- `muon_vector_lr` 1e-4 (`released`): the release steps 1-D tensors at a fixed 1e-4 whatever the
  trial's lr; unset (`corrected`): the trial's lr.
- the release steps plainly (no momentum, weight decay 0, MeZO's no-bias rule); `corrected` applies
  the direction with ZO-SGD's torch SGD, heavy-ball momentum on the orthogonalised direction (Muon
  proper orthogonalises the momentum instead; neither form here does that).
"""

from __future__ import annotations

import torch
from torch import nn

from trainers.optim.base import Closure
from trainers.optim.directions import Directions
from trainers.optim.lowrank import FactoredDirections, gaussian, matrix_shape, orthonormal_columns
from trainers.optim.zeroth_order import ZerothOrder

QUINTIC = (3.4445, -4.7750, 2.0315)


def newton_schulz(matrix: torch.Tensor, steps: int) -> torch.Tensor:
    """Approximately U Vᵀ of `matrix`'s SVD (singular values pushed into about [0.7, 1.2])."""
    a, b, c = QUINTIC
    x = matrix.to(torch.promote_types(matrix.dtype, torch.float32))
    x = x / (x.norm() + 1e-7)  # spectral norm <= Frobenius norm <= 1: inside the iteration's basin
    wide = x.shape[0] <= x.shape[1]
    if not wide:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x if wide else x.T).to(matrix.dtype)


class ProjectedDirections(FactoredDirections):
    """P u per matrix: P (m × r, orthonormal columns) kept for `period` steps, u drawn per query."""

    def draw_basis(self, rows: int, cols: int, param: nn.Parameter) -> torch.Tensor:
        return orthonormal_columns(rows, min(self.rank, rows), self._basis_rng, param)

    def structured(self, basis: torch.Tensor, rows: int, cols: int, sampler: torch.Generator,
                   param: nn.Parameter) -> torch.Tensor:
        return basis @ gaussian(basis.shape[1], cols, sampler, param)


class ZoMuon(ZerothOrder):
    """Subspace SPSA; each matrix's estimate P R becomes P · NS(R) before the base optimizer steps."""

    directions: ProjectedDirections

    def make_directions(self) -> Directions:
        return ProjectedDirections(self.params, self.settings.seed, self.settings.rank, self.settings.period)

    def one_sided(self) -> bool:
        return self.settings.muon_sided == "one"

    def reference_loss(self, closure: Closure) -> float | None:
        """L(θ) for the one-sided queries (`muon_sided: one`); none for two-point ones."""
        return self._forward(closure, "θ") if self.one_sided() else None

    def shape_estimate(self) -> None:
        for param, basis in zip(self.params, self.directions.bases):
            shape = matrix_shape(param)
            if basis is None or shape is None:
                continue
            estimate = param.grad.view(shape)
            reduced = basis.T @ estimate  # R: the basis is orthonormal, so Pᵀ (P R) = R
            estimate.copy_(basis @ newton_schulz(reduced, self.settings.ns_steps))
