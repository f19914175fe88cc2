"""Test accuracy after a task: over all seen classes, and per earlier task (for forgetting)."""

from __future__ import annotations

from typing import Iterable

import torch
from torch.utils.data import DataLoader

from trainers.data import Benchmark
from trainers.methods import Method


@torch.inference_mode()
def evaluate(method: Method, benchmark: Benchmark, task: int, batch_size: int, device: torch.device,
             num_workers: int = 0, batches: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
             ) -> tuple[float, list[float]]:
    """(accuracy over every seen class, [accuracy on task j's classes for j <= task]), in percent.

    `batches` (the device-side input path's test batches of the seen classes) replace the DataLoader.
    """
    seen = benchmark.seen_classes(task)
    loader = batches if batches is not None else DataLoader(benchmark.test.subset(seen), batch_size=batch_size,
                                                            num_workers=num_workers)
    method.eval()
    correct = torch.zeros(task + 1, dtype=torch.long)
    total = torch.zeros(task + 1, dtype=torch.long)
    for images, labels in loader:
        predicted = method.logits(images.to(device), len(seen)).argmax(dim=1).cpu()
        labels = labels.cpu()
        owner = labels // benchmark.classes_per_task
        correct.index_add_(0, owner, (predicted == labels).long())
        total.index_add_(0, owner, torch.ones_like(owner))
    per_task = (100.0 * correct.double() / total.clamp(min=1).double()).tolist()
    return 100.0 * correct.sum().item() / max(total.sum().item(), 1), per_task
