"""Shared by the low-rank estimators beyond the paper (LOZO, SubZero, ZO-Muon): matrix views,
random orthonormal bases, and a direction generator that perturbs matrices in a structured way.

Every trainable tensor with two or more dimensions is viewed as a matrix of shape[0] rows (the
layer's outputs) by the rest, as the released LOZO, SubZero and ZO-Muon code do; for the
AdaptFormer adapters that is each down- and up-projection (bottleneck × width and width ×
bottleneck) and the cosine head's weight. One-dimensional tensors (the adapters' biases, the
head's scale) have no low-rank structure: they get the plain Gaussian z of MeZO, from the same
per-query seed, as all three papers' code does. Bases come from a private generator and are
redrawn every `period` steps (and at the first step of every task); z-like factors are
regenerated from the query seed, never stored. The global RNG is never touched.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, Iterator

import torch
from torch import nn

from trainers.optim.directions import Directions

Basis = Any  # what one matrix's structured perturbation needs (tensors, scales)


def matrix_shape(param: torch.Tensor) -> tuple[int, int] | None:
    """(rows, columns) of the matrix view of a tensor with >= 2 dimensions; None for vectors."""
    if param.dim() < 2:
        return None
    rows = int(param.shape[0])
    return rows, param.numel() // rows


def most_square(entries: int) -> tuple[int, int]:
    """(a, b), a <= b, a · b = entries, b − a smallest: zimingyy/SubZero's `reshape_matrix`."""
    rows = max(d for d in range(1, math.isqrt(entries) + 1) if entries % d == 0)
    return rows, entries // rows


def orthonormal_columns(rows: int, cols: int, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """A Haar-random rows × cols matrix with orthonormal columns (QR of a Gaussian, signs fixed)."""
    gaussian = torch.randn(rows, cols, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    return (q * signs).to(device=like.device, dtype=like.dtype)


def gaussian(rows: int, cols: int, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(rows, cols, generator=generator, device=like.device, dtype=like.dtype)


class FactoredDirections(Directions):
    """Structured perturbations for matrices, plain z for vectors; bases refreshed every `period` steps."""

    def __init__(self, params: list[nn.Parameter], seed: int, rank: int, period: int) -> None:
        self.rank = rank
        self.period = period
        self.steps = 0
        self.bases: list[Basis | None] = []
        super().__init__(params, seed)
        self._basis_rng = torch.Generator().manual_seed(self.next_seed())

    def start_task(self) -> None:
        super().start_task()
        self.steps = 0
        self.bases = [None] * len(self.params)

    def begin_step(self) -> None:
        if self.steps % self.period == 0:
            self.bases = [self.draw_basis(*shape, p) if (shape := self.view_shape(p)) else None for p in self.params]
        self.steps += 1

    def view_shape(self, param: torch.Tensor) -> tuple[int, int] | None:
        """The matrix a tensor's structured perturbation is built in (None: a vector, plain z)."""
        return matrix_shape(param)

    @abstractmethod
    def draw_basis(self, rows: int, cols: int, param: nn.Parameter) -> Basis:
        """The matrix's basis for the next `period` steps, drawn from `self._basis_rng`."""

    @abstractmethod
    def structured(self, basis: Basis, rows: int, cols: int, sampler: torch.Generator,
                   param: nn.Parameter) -> torch.Tensor:
        """The rows × cols perturbation of one query, its random factor drawn from `sampler`."""

    def update_scale(self, basis: Basis) -> float:
        """Factor between a matrix's perturbation and its update direction (1: the same)."""
        return 1.0

    def perturbations(self, seed: int) -> Iterator[torch.Tensor]:
        for sampler in self._samplers.values():
            sampler.manual_seed(seed)
        for param, basis in zip(self.params, self.bases):
            sampler = self._samplers[param.device]
            shape = self.view_shape(param)
            if basis is None or shape is None:
                yield torch.randn(param.shape, generator=sampler, device=param.device, dtype=param.dtype)
            else:
                yield self.structured(basis, *shape, sampler, param).view(param.shape)

    def updates(self, seed: int) -> Iterator[torch.Tensor]:
        for basis, z in zip(self.bases, self.perturbations(seed)):
            yield z if basis is None else z.mul_(self.update_scale(basis))
