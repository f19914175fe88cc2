"""The one small protocol every class-incremental method implements.

A method is an nn.Module. `begin_task` declares what trains in this task by leaving exactly those
parameters with requires_grad (and returns False if nothing trains); the trainer hands the method
to `create_optimizer`, which drives `loss` through `step(closure)`. No method calls backward().
"""

from __future__ import annotations

from typing import Any, Iterable, Protocol

import torch
from torch import nn

from trainers.backbone import AdapterViT

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


class Method(Protocol):
    name: str

    def begin_task(self, task: int, classes: range) -> bool:
        """Prepare the trainable set for `task` (classes are remapped labels); False: nothing trains."""

    def loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Training loss of the current task on one batch (labels are global, remapped)."""

    def end_task(self, task: int, classes: range, batches: Batches) -> None:
        """Freeze what was trained and build the classifier for `classes` from `batches` of training data."""

    def logits(self, images: torch.Tensor, seen: int) -> torch.Tensor:
        """Scores over the first `seen` classes."""

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything needed to rebuild the method after its last finished task (tensors and plain values)."""

    def restore(self, state: dict[str, Any]) -> None:
        """Rebuild from `checkpoint_state()` output."""

    def trainable_parameters(self) -> int:
        """Number of parameters that train in the current task."""


def count_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


PRETRAINED_PREFIX = "backbone.vit."


def learned_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's state without the frozen pretrained ViT, which is rebuilt from its weights instead."""
    return {key: value for key, value in module.state_dict().items() if not key.startswith(PRETRAINED_PREFIX)}


def load_learned_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Inverse of `learned_state`: everything but the pretrained ViT must be present."""
    missing, unexpected = module.load_state_dict(state, strict=False)
    missing = [key for key in missing if not key.startswith(PRETRAINED_PREFIX)]
    if missing or unexpected:
        raise ValueError(f"checkpoint does not match the method: missing {missing}, unexpected {unexpected}")


class AdapterMethod(nn.Module):
    """What EASE and APER share: an AdapterViT whose adapter sets and buffers are the checkpoint."""

    backbone: AdapterViT

    def checkpoint_state(self) -> dict[str, Any]:
        return {"adapter_sets": len(self.backbone.adapter_sets), "weights": learned_state(self)}

    def restore(self, state: dict[str, Any]) -> None:
        while len(self.backbone.adapter_sets) < state["adapter_sets"]:
            self.backbone.add_adapter_set()
        load_learned_state(self, state["weights"])
        self.backbone.freeze_adapters()

    def trainable_parameters(self) -> int:
        return count_trainable(self)
