"""Pieces EASE and APER share: the cosine training head and class-mean prototypes."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from trainers.methods.base import Batches


class CosineHead(nn.Module):
    """Cosine classifier with a learnable scale sigma, as in the released EASE/APER code."""

    def __init__(self, in_features: int, classes: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes, in_features))
        self.sigma = nn.Parameter(torch.ones(1))
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.sigma * F.linear(F.normalize(features, dim=1), F.normalize(self.weight, dim=1))


def cosine_scores(features: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    return F.linear(F.normalize(features, dim=1), F.normalize(prototypes, dim=1))


@torch.inference_mode()
def class_means(extract: Callable[[torch.Tensor], torch.Tensor], batches: Batches, classes: range,
                device: torch.device) -> torch.Tensor:
    """Mean feature of each class in `classes`, one row per class, over the images in `batches`."""
    sums: torch.Tensor | None = None
    counts = torch.zeros(len(classes), device=device)
    for images, labels in batches:
        features = extract(images.to(device))
        rows = labels.to(device) - classes.start
        if sums is None:
            sums = torch.zeros(len(classes), features.shape[1], device=device)
        sums.index_add_(0, rows, features.float())
        counts.index_add_(0, rows, torch.ones_like(rows, dtype=counts.dtype))
    if sums is None or bool((counts == 0).any()):
        raise ValueError(f"classes {classes.start}..{classes.stop - 1} need at least one training image each")
    return sums / counts.unsqueeze(1)
