"""Random directions for the zeroth-order estimators, and the two direction enhancements.

Gaussian directions z ~ N(0, I), one tensor per trainable parameter, are never stored: each query
gets a seed from this object's private generator, and z is regenerated from that seed tensor by
tensor whenever it is needed again (the MeZO seed trick, Malladi et al. 2023). The global RNG is
never touched.

Enhancements of ZeroFlow section 6, both reset by `start_task`:
- historical ratio r (Table 3): the update uses h ← r·h + (1−r)·z instead of z, h starting at the
  first z of the task, updated once per query; the perturbation itself still uses z, as in the
  released code. h is stored per tensor: that state is the enhancement.
- sparsity s (Table 4): one seeded mask per task zeroes entries of z, in the perturbation and in the
  update alike. `exact` zeroes round(s·n) entries of each n-entry tensor; `released` zeroes the
  entries where a standard normal draw is below s, as the released code does, which zeroes a
  fraction Φ(s) (s = 0.5 → 69%). s = 0 means no mask in both modes (the released code would zero
  half the entries at 0.0; Table 4's 0% column is plain ZO). Masks are stored as bool tensors.
With r = 0 and s = 0 nothing is stored and the directions are plain z.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

_SEED_RANGE = 2**62


class Directions:
    """Seeded Gaussian directions over a fixed list of tensors, with optional mask and history."""

    def __init__(self, params: list[nn.Parameter], seed: int, historical: float = 0.0,
                 sparsity: float = 0.0, sparsity_mode: str = "exact") -> None:
        self.params = params
        self.historical = historical
        self.sparsity = sparsity
        self.sparsity_mode = sparsity_mode
        self._seeds = torch.Generator().manual_seed(seed)
        # The mask stream gets its own generator, seeded from the first draw, so that turning
        # sparsity on or off leaves the query seeds (and thus z) unchanged.
        self._mask_rng = torch.Generator().manual_seed(self.next_seed())
        self._samplers = {p.device: torch.Generator(device=p.device) for p in params}
        self.dropped: list[torch.Tensor] | None = None
        self.history: list[torch.Tensor] | None = None
        self.start_task()

    def start_task(self) -> None:
        """Draw this task's masks and forget the historical directions."""
        self.history = None
        self.dropped = [self._mask(p) for p in self.params] if self.sparsity > 0 else None

    def begin_step(self) -> None:
        """Called at the start of every step while the parameters hold θ (subclasses refresh state)."""

    def next_seed(self) -> int:
        return int(torch.randint(_SEED_RANGE, (1,), generator=self._seeds))

    def _mask(self, param: nn.Parameter) -> torch.Tensor:
        """True where this task's directions are zeroed."""
        n = param.numel()
        if self.sparsity_mode == "released":
            dropped = torch.randn(n, generator=self._mask_rng) < self.sparsity
        else:
            dropped = torch.zeros(n, dtype=torch.bool)
            dropped[torch.randperm(n, generator=self._mask_rng)[:round(self.sparsity * n)]] = True
        return dropped.view(param.shape).to(param.device)

    def perturbations(self, seed: int) -> Iterator[torch.Tensor]:
        """z for each tensor in order, masked; the same seed always yields the same tensors."""
        for sampler in self._samplers.values():
            sampler.manual_seed(seed)
        for index, param in enumerate(self.params):
            z = torch.randn(param.shape, generator=self._samplers[param.device], device=param.device,
                            dtype=param.dtype)
            if self.dropped is not None:
                z.masked_fill_(self.dropped[index], 0.0)
            yield z

    def updates(self, seed: int) -> Iterator[torch.Tensor]:
        """The update direction per tensor for the query with `seed`: z, or h after mixing in z.

        Call once per query, in query order: with history on, each call advances h.
        """
        if self.historical == 0:
            yield from self.perturbations(seed)
        elif self.history is None:
            self.history = list(self.perturbations(seed))  # h starts at the task's first z
            yield from self.history
        else:
            for h, z in zip(self.history, self.perturbations(seed)):
                yield h.mul_(self.historical).add_(z, alpha=1.0 - self.historical)
