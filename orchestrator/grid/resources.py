"""What one trial asks Ray for: CPUs and a GPU fraction derived from its expected peak memory.

Zeroth-order trials keep no activation graph, so they need a fifth of first-order memory
(ZeroFlow, arXiv 2501.01045, Table 2: EASE on ViT-B/16, batch 48: FO-SGD 12.08 GB, every ZO
variant 2.41 GB whatever q, Forward-Grad 3.94 GB). Several ZO trials therefore share one GPU.

Estimate of one trial's peak GPU memory (GB):
    CONTEXT_GB + MARGIN * (WEIGHTS_GB + activations[family] * batch/48 * tokens/197)
where activations[family] is the Table 2 figure less the ViT-B/16 weights, tokens = (image/16)^2 + 1,
and a hybrid trial (first-order epochs first) counts as first-order. Every backbone is costed as
a ViT-B/16, an upper bound for the small test ViTs. The GPU fraction is 1/k with
k = min(trials_per_gpu, floor(gpu_memory_gb / estimate)): equal shares pack a GPU exactly.
A grid overrides any of it (`resources:` in the grid, or in a `when` rule).

Not measured yet: no GPU has run zfsweep, so the memory model rests on the paper's Table 2 and
`trials_per_gpu: 8` is a starting value, not a measurement. `python -m bench gpu` on a GPU
measures each optimizer's peak memory and the aggregate trials per hour of k = 1, 2, 4, 8
concurrent ZO trials; that table, and the defaults it implies, belong here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from catalog.config import TrialConfig
from catalog.optimizers import FIRST_ORDER, FORWARD_GRAD, OPTIMIZERS
from orchestrator.grid.schema import ResourceRequest

TABLE2_PEAK_GB = {"backprop": 12.08, "zeroth-order": 2.41, "forward-grad": 3.94}
TABLE2_BATCH = 48
TABLE2_TOKENS = 197  # ViT-B/16 at 224 px: 14 x 14 patches + the class token
WEIGHTS_GB = 86.6e6 * 4 / 1e9  # ViT-B/16 in float32
CONTEXT_GB = 0.5  # CUDA context and allocator slack, outside torch's peak counter
MARGIN = 1.2
DEFAULTS = ResourceRequest(cpu=1.0, gpu=None, memory_gb=None, gpu_memory_gb=80.0, trials_per_gpu=8)


@dataclass(frozen=True)
class TrialResources:
    """CPUs, GPU fraction (used when the Ray cluster has GPUs) and the peak-memory estimate."""

    cpu: float
    gpu: float
    memory_gb: float

    def ray_request(self, with_gpus: bool) -> dict[str, float]:
        return {"CPU": self.cpu, "GPU": self.gpu if with_gpus else 0.0}


def gradient_family(config: TrialConfig) -> str:
    family = OPTIMIZERS[config.optimizer].family
    if family == FIRST_ORDER or config.hybrid > 0:
        return "backprop"
    return "forward-grad" if family == FORWARD_GRAD else "zeroth-order"


@lru_cache(maxsize=4096)
def _estimate(family: str, batch_size: int, image_size: int) -> float:
    tokens = (image_size // 16) ** 2 + 1
    activations = (TABLE2_PEAK_GB[family] - WEIGHTS_GB) * batch_size / TABLE2_BATCH * tokens / TABLE2_TOKENS
    return CONTEXT_GB + MARGIN * (WEIGHTS_GB + activations)


def peak_memory_gb(config: TrialConfig) -> float:
    """Expected peak GPU memory of a resolved config (see module docstring)."""
    return _estimate(gradient_family(config), int(config.batch_size or TABLE2_BATCH), int(config.image_size or 224))


def gpu_fraction(memory_gb: float, gpu_memory_gb: float, trials_per_gpu: int) -> float:
    """1/k of a GPU, k trials of `memory_gb` fitting in one; a whole GPU if one does not fit."""
    share = min(trials_per_gpu, max(1, math.floor(gpu_memory_gb / memory_gb)))
    # Ray accepts fractions to 4 decimals; rounding down keeps k shares within one GPU.
    return math.floor(10000 / share) / 10000


@lru_cache(maxsize=4096)
def _resources(memory_gb: float, request: ResourceRequest) -> TrialResources:
    wanted = DEFAULTS.merged(request)
    memory = wanted.memory_gb if wanted.memory_gb is not None else memory_gb
    gpu = wanted.gpu
    if gpu is None:
        gpu = gpu_fraction(memory, float(wanted.gpu_memory_gb or 0), int(wanted.trials_per_gpu or 1))
    return TrialResources(cpu=float(wanted.cpu or 1.0), gpu=gpu, memory_gb=round(memory, 2))


def trial_resources(config: TrialConfig, request: ResourceRequest) -> TrialResources:
    """What `config` asks Ray for, given the grid's (and its `when` rules') request."""
    return _resources(peak_memory_gb(config), request)
