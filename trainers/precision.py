"""The `precision` setting: which arithmetic a trial's forward passes use, and which modes ZO may use.

- `fp32`: plain float32 everywhere (TF32 matmuls switched off explicitly).
- `tf32`: float32 tensors, but CUDA matmuls and convolutions may use TensorFloat-32 (10-bit
  mantissa inputs, float32 accumulation). CUDA only: on a CPU it computes exactly what fp32 does.
- `bf16`: forwards under `torch.autocast(dtype=torch.bfloat16)` on the trial's device (CPU or CUDA);
  parameters, optimizer state and the ZO perturbation stay float32.

A two-point ZO estimate divides L(θ+εz) − L(θ−εz) (ε = 1e-3) by 2ε, so a rounding error δ in the
loss moves each coefficient by about δ/ε; `python -m bench precision` measures, per mode, the cosine
between the estimate averaged over many queries and the fp32 one (same directions, same batch).
ZO trials may use only `ZO_PRECISIONS`: the modes whose cosine stayed >= ZO_MIN_COSINE in every
measurement (docs/internals.md, "Precision"). bf16 on a CPU reached 0.9989 on the ViT-B/16 adapter model but
0.982 on the tiny test ViT, so it is not among them; tf32 (CUDA-only) has not been measured yet.
FO and Forward-Grad (exact derivatives, no differencing) may use every mode.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Callable, ContextManager, Iterator

import torch

from catalog.config import ZO_MIN_COSINE, ZO_PRECISIONS

__all__ = ["ZO_MIN_COSINE", "ZO_PRECISIONS", "precision_context", "with_precision"]


@contextmanager
def _tf32(enabled: bool) -> Iterator[None]:
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def precision_context(precision: str, device: torch.device) -> ContextManager[None]:
    """The context every forward of a trial runs in for `precision` on `device`."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision in ("fp32", "tf32"):
        return _tf32(precision == "tf32") if device.type == "cuda" else nullcontext()
    raise ValueError(f"unknown precision '{precision}'")


def with_precision(closure: Callable[[], torch.Tensor], precision: str,
                   device: torch.device) -> Callable[[], torch.Tensor]:
    """`closure` run in `precision_context`; the loss comes back as float32 for the optimizer."""
    if precision == "fp32" and device.type != "cuda":
        return closure

    def run() -> torch.Tensor:
        with precision_context(precision, device):
            return closure().float()

    return run
