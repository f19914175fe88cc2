"""Class-incremental benchmark: labelled images, the seeded class order and the task split.

Labels are remapped to their position in the class order once, when the benchmark is built,
so task t always owns the consecutive labels [t*k, (t+1)*k) (as PyCIL/LAMDA-PILOT do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from catalog.errors import InputError

Transform = Callable[[torch.Tensor], torch.Tensor]


class DataError(InputError):
    """A data set is missing, malformed or cannot be split as asked."""


def one_line(error: BaseException) -> str:
    """An exception's message folded onto one line, to quote inside a DataError."""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


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
        indices = np.flatnonzero((self.labels >= classes.start) & (self.labels < classes.stop))
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


def make_benchmark(name: str, train: LabeledImages, test: LabeledImages, num_classes: int,
                   *, seed: int, tasks: int) -> Benchmark:
    """Order the classes with `seed`, remap labels, and check that `tasks` splits them equally."""
    if tasks < 1 or num_classes % tasks:
        raise DataError(f"{name}: {num_classes} classes cannot be split into {tasks} equal tasks; "
                        f"allowed: a divisor of {num_classes}")
    order = class_order(num_classes, seed)
    return Benchmark(name, tuple(int(c) for c in order), tasks, train.relabeled(order), test.relabeled(order))
