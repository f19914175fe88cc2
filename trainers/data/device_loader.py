"""Batches for the device-side input path: indices into a cached split, transformed batched on the device.

A `DeviceBatches` replaces a DataLoader over a `LabeledImages` subset: it iterates (images, labels)
already on the trial's device. Per batch the only work on the host is copying each sample's crop
window out of the memory-mapped cache (trainers/data/cache.py); crop boxes, flips, resizing and
the test transform run on the device (trainers/data/device_transforms.py). The shuffle order and
the crop boxes come from private generators seeded by the caller, so batches are reproducible and
never touch torch's global RNG (dropout's).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from trainers.data.cache import PixelStore
from trainers.data.device_transforms import centre_box, centre_crops, crop_boxes, resize_side, resized_crops


class DeviceBatches:
    """(images, labels) batches of `store[indices]` on `device`; `train` picks the training transform."""

    def __init__(self, store: PixelStore, indices: np.ndarray, labels: np.ndarray, *, batch_size: int,
                 image_size: int, device: torch.device, train: bool, shuffle: bool, seed: int) -> None:
        self.store = store
        self.indices = np.asarray(indices, dtype=np.int64)
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        self.batch_size = batch_size
        self.image_size = image_size
        self.device = device
        self.train = train
        self.shuffle = shuffle
        self.order_generator = torch.Generator().manual_seed(seed)
        self.crop_generator = torch.Generator().manual_seed(seed + 1)

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        count = len(self.indices)
        order = torch.randperm(count, generator=self.order_generator) if self.shuffle else torch.arange(count)
        for start in range(0, count, self.batch_size):
            chosen = order[start:start + self.batch_size].numpy()
            images = self._train_batch(chosen) if self.train else self._test_batch(chosen)
            yield images, self.labels[chosen].to(self.device, non_blocking=True)

    def _train_batch(self, chosen: np.ndarray) -> torch.Tensor:
        indices = self.indices[chosen]
        boxes, flips = crop_boxes(torch.from_numpy(self.store.sizes(indices)), self.crop_generator)
        windows = torch.from_numpy(self.store.windows(indices, boxes.numpy())).to(self.device, non_blocking=True)
        return resized_crops(windows, boxes, flips, self.image_size)

    def _test_batch(self, chosen: np.ndarray) -> torch.Tensor:
        indices = self.indices[chosen]
        sizes = self.store.sizes(indices)
        if self.store.side == resize_side(self.image_size):  # stored already resized: crop the centres only
            size = self.image_size
            boxes = np.array([[*centre_box(int(h), int(w), size), size, size] for h, w in sizes])
            windows = torch.from_numpy(self.store.windows(indices, boxes)).to(self.device, non_blocking=True)
            return windows.float().div_(255.0)
        if (sizes != sizes[0]).any():
            raise ValueError(f"cache {self.store.folder}: test images of different sizes need a cache "
                             f"stored at short side {resize_side(self.image_size)}")
        whole = np.tile([0, 0, int(sizes[0, 0]), int(sizes[0, 1])], (len(indices), 1))
        windows = torch.from_numpy(self.store.windows(indices, whole)).to(self.device, non_blocking=True)
        return centre_crops(windows, self.image_size)
