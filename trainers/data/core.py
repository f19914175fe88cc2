"""Class-incremental benchmark: labelled images, the seeded class order, the task split, and the
held-out validation images of a searched trial (a seeded, class-balanced share of each class's
training images that the trial never trains on; orchestrator/search/ tunes on them, never on test).

Labels are remapped to their position in the class order once, when the benchmark is built,
so task t always owns the consecutive labels [t*k, (t+1)*k) (as PyCIL/LAMDA-PILOT do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from catalog.errors import InputError

Transform = Callable[[torch.Tensor], torch.Tensor]


class DataError(InputError):
    """A data set is missing, malformed or cannot be split as asked."""


def class_order(num_classes: int, seed: int) -> np.ndarray:
    """The order of PyCIL: `numpy.random.seed(seed); numpy.random.permutation(n)`, via a private RNG."""
    return np.random.RandomState(seed).permutation(num_classes)


class LabeledImages(Dataset):
    """Images and integer labels; `load(i)` gives image i as a float tensor in [0, 1], CHW."""

    def __init__(self, labels: np.ndarray, load: Callable[[int], torch.Tensor], transform: Transform | None) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self._load = load
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self._load(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    def relabeled(self, order: np.ndarray) -> "LabeledImages":
        """The same images, labelled by each class's position in `order`."""
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order))
        return LabeledImages(position[self.labels], self._load, self.transform)

    def with_transform(self, transform: Transform | None) -> "LabeledImages":
        return LabeledImages(self.labels, self._load, transform)

    def subset(self, classes: range) -> Subset:
        """The images whose (remapped) label lies in `classes`."""
        return self.take(np.flatnonzero((self.labels >= classes.start) & (self.labels < classes.stop)))

    def take(self, indices: np.ndarray) -> Subset:
        """The images at `indices`."""
        return Subset(self, indices.tolist())


Splits = tuple[LabeledImages, LabeledImages, int]  # (train, test, number of classes), as loaders return


@dataclass(frozen=True)
class Benchmark:
    """A data set split into `tasks` equal blocks of classes, in the seeded class order."""

    name: str
    class_order: tuple[int, ...]
    tasks: int
    train: LabeledImages
    test: LabeledImages
    held_out: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # train indices

    @property
    def num_classes(self) -> int:
        return len(self.class_order)

    @property
    def classes_per_task(self) -> int:
        return self.num_classes // self.tasks

    def task_classes(self, task: int) -> range:
        size = self.classes_per_task
        return range(task * size, (task + 1) * size)

    def seen_classes(self, task: int) -> range:
        return range(0, (task + 1) * self.classes_per_task)

    def _in(self, indices: np.ndarray, classes: range) -> np.ndarray:
        labels = self.train.labels[indices]
        return indices[(labels >= classes.start) & (labels < classes.stop)]

    def training(self, classes: range) -> np.ndarray:
        """Indices of the training images of `classes` that are not held out."""
        every = np.flatnonzero((self.train.labels >= classes.start) & (self.train.labels < classes.stop))
        return np.setdiff1d(every, self.held_out, assume_unique=True)

    def validation(self, classes: range) -> np.ndarray:
        """Indices (into `train`) of the held-out images of `classes`; empty without a validation split."""
        return self._in(self.held_out, classes)


def hold_out(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of `fraction` of each class's images (rounded, at least one where a class has two
    or more, never all of them), drawn with a private RNG seeded by `seed` alone: the same split for
    the same seed and labels, whatever else the trial draws."""
    if fraction <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.RandomState(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = min(max(1, round(fraction * len(members))), len(members) - 1)
        chosen.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def make_benchmark(name: str, train: LabeledImages, test: LabeledImages, num_classes: int,
                   *, seed: int, tasks: int, validation: float = 0.0) -> Benchmark:
    """Order the classes with `seed`, remap labels, check that `tasks` splits them equally, and hold
    out `validation` of each class's training images."""
    if tasks < 1 or num_classes % tasks:
        raise DataError(f"{name}: {num_classes} classes cannot be split into {tasks} equal tasks; "
                        f"allowed: a divisor of {num_classes}")
    order = class_order(num_classes, seed)
    return Benchmark(name, tuple(int(c) for c in order), tasks, train.relabeled(order), test.relabeled(order),
                     hold_out(train.labels, validation, seed))
