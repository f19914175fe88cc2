"""The trial's input path: `device` (decode-once cache, batched transforms on the device) or `per-image`.

`input_path: per-image` keeps the DataLoader over `LabeledImages` (one decode and one transform per
image, on the host; exact comparison with the released code's pipeline). `input_path: device`
(the default) reads the data set's decode-once cache and transforms whole batches on the trial's
device (trainers/data/device_loader.py); data sets without a cache (digits, which has no
augmentation) use the per-image loader under either setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from catalog.config import TrialConfig
from trainers.data import Benchmark, pixel_stores
from trainers.data.cache_sources import StorePair
from trainers.data.device_loader import DeviceBatches

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Inputs:
    """The caches (None: per-image path) and the settings batches are made with."""

    stores: StorePair | None
    batch_size: int
    image_size: int
    device: torch.device

    @classmethod
    def for_trial(cls, config: TrialConfig, device: torch.device) -> "Inputs":
        stores = None
        if config.input_path == "device":
            stores = pixel_stores(config.dataset, config.data_root, int(config.image_size))
        return cls(stores, int(config.batch_size), int(config.image_size), device)

    def _batches(self, split: int, chosen: tuple[list[int], np.ndarray], *, train: bool, shuffle: bool,
                 seed: int) -> DeviceBatches:
        if self.stores is None:
            raise RuntimeError("device batches asked for on the per-image input path")
        indices, labels = chosen
        return DeviceBatches(self.stores[split], np.asarray(indices), labels, batch_size=self.batch_size,
                             image_size=self.image_size, device=self.device, train=train, shuffle=shuffle, seed=seed)

    def train_batches(self, benchmark: Benchmark, task: int, *, train: bool, seed: int) -> DeviceBatches:
        """The task's training images: augmented and shuffled if `train`, else with the test transform, in order."""
        indices = benchmark.training(benchmark.task_classes(task))
        chosen = (indices.tolist(), benchmark.train.labels[indices])
        return self._batches(0, chosen, train=train, shuffle=train, seed=seed)

    def validation_batches(self, benchmark: Benchmark, task: int) -> DeviceBatches | None:
        """Held-out training images of every class seen up to `task`, with the test transform; None on
        the per-image path."""
        if self.stores is None:
            return None
        indices = benchmark.validation(benchmark.seen_classes(task))
        return self._batches(0, (indices.tolist(), benchmark.train.labels[indices]), train=False, shuffle=False, seed=0)

    def test_batches(self, benchmark: Benchmark, task: int) -> DeviceBatches | None:
        """Test images of every class seen up to `task`; None on the per-image path."""
        if self.stores is None:
            return None
        subset = benchmark.test.subset(benchmark.seen_classes(task))
        chosen = (subset.indices, benchmark.test.labels[subset.indices])
        return self._batches(1, chosen, train=False, shuffle=False, seed=0)
