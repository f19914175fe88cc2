"""SubZero (Yu et al., "SubZero: random subspace zeroth-order optimization for memory-efficient
LLM fine-tuning", ICCV 2025; zimingyy/SubZero): `zo-subzero`.

Each weight matrix W (m × n) gets column-orthonormal U (m × r) and V (n × r), QR factors of
Gaussian matrices refreshed every `period` steps (the paper's T₀), and every query perturbs it
along s · U Z Vᵀ with Z (r × r) Gaussian and s = √(mn) / r (the released code's scale, which
gives the perturbation the norm of a full Gaussian one). One finite difference c, shared by all
layers, gives the estimate c · s · U Z Vᵀ. For fixed bases its expectation is the known projection
s² · U Uᵀ ∇W V Vᵀ; over Haar-random bases E[U Uᵀ] = (r/m)·I and E[V Vᵀ] = (r/n)·I, so it is
unbiased. r is capped at min(m, n). Settings: `rank` r, `period` T₀.

On adapters: the down- and up-projections (bottleneck 64 wide) are the matrices, so r ≤ 64; their
biases and the cosine head's scale are vectors and get MeZO's plain z, as in the released code.
`subspace_shape` (issue 23): `native` (`corrected`) builds the subspace in the layer's own rows ×
rest view (64 × 768), as the release's full-parameter path does; `square` (`released`) first
reshapes each matrix to its most-square factorisation (64 × 768 → 192 × 256), as the release's
PEFT path (`reshape_matrix`, used for LoRA, prefix and prompt tensors, as adapters are) does.
The perturbation is then s · U Z Vᵀ in that view, laid back into the tensor's shape; s keeps its
value (√(mn)/r depends only on the entry count). The release applies the estimate with torch SGD
without weight decay (momentum 0 by default): `released` steps plainly, weight decay 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trainers.optim.directions import Directions
from trainers.optim.lowrank import FactoredDirections, gaussian, matrix_shape, most_square, orthonormal_columns
from trainers.optim.zeroth_order import ZerothOrder

SubspaceBasis = tuple[torch.Tensor, torch.Tensor, float]


class SubspaceDirections(FactoredDirections):
    """s · U Z Vᵀ per matrix: (U, V, s) kept for `period` steps, Z drawn per query."""

    def __init__(self, params: list[nn.Parameter], seed: int, rank: int, period: int, square: bool) -> None:
        self.square = square
        super().__init__(params, seed, rank, period)

    def view_shape(self, param: torch.Tensor) -> tuple[int, int] | None:
        shape = matrix_shape(param)
        return most_square(param.numel()) if shape and self.square else shape

    def draw_basis(self, rows: int, cols: int, param: nn.Parameter) -> SubspaceBasis:
        rank = min(self.rank, rows, cols)
        left = orthonormal_columns(rows, rank, self._basis_rng, param)
        right = orthonormal_columns(cols, rank, self._basis_rng, param)
        return left, right, math.sqrt(rows * cols) / rank

    def structured(self, basis: SubspaceBasis, rows: int, cols: int, sampler: torch.Generator,
                   param: nn.Parameter) -> torch.Tensor:
        left, right, scale = basis
        core = gaussian(left.shape[1], left.shape[1], sampler, param)
        return (left @ core @ right.T).mul_(scale)


class SubZero(ZerothOrder):
    """Two-point SPSA in per-layer random orthonormal subspaces."""

    def make_directions(self) -> Directions:
        settings = self.settings
        return SubspaceDirections(self.params, settings.seed, settings.rank, settings.period,
                                  settings.subspace_shape == "square")
