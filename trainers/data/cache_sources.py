"""Cache specs of the on-disk data sets: what `open_store` decodes once per machine (trainers/data/cache.py).

CIFAR-100 stores its pickled 32x32 pixels as they are. Image folders store every image with its
shorter side resized to `resize_side(image_size)` (256 for 224-pixel ViTs) by the same torchvision
bicubic antialiased resize the per-image test transform applies, then rounded to uint8.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from trainers.data.cache import CacheSpec, PixelStore, open_store, source_key
from trainers.data.device_transforms import resize_side

StorePair = tuple[PixelStore, PixelStore]  # (train, test)
ImageLoader = Callable[[int], torch.Tensor]  # image i as a float CHW tensor in [0, 1]


def cifar_spec(name: str, split: str, path: Path, pixels: Callable[[], np.ndarray], side: int) -> CacheSpec:
    """The pickle's N x 3072 rows as N images of 3 x side x side; `pixels` is read only to build."""
    key = source_key([name, split, "cifar"], [str(path)])

    def contents() -> tuple[list[tuple[int, int]], Iterator[np.ndarray]]:
        images = pixels().reshape(-1, 3, side, side)
        return [(side, side)] * len(images), iter(images)

    return CacheSpec(f"{name}-{split}-{key}", side, contents)


def stored_shape(path: str, side: int) -> tuple[int, int]:
    """(height, width) after torchvision's Resize(side): the shorter side becomes `side`, the other truncates."""
    with Image.open(path) as image:
        width, height = image.size
    if height <= width:
        return side, int(side * width / height)
    return int(side * height / width), side


def _resized(paths: list[str], side: int, load: ImageLoader) -> Iterator[np.ndarray]:
    for index in range(len(paths)):
        image = v2.functional.resize(load(index), side, interpolation=v2.InterpolationMode.BICUBIC, antialias=True)
        yield image.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).numpy()


def folder_spec(name: str, split: str, paths: list[str], image_size: int, load: ImageLoader) -> CacheSpec:
    side = resize_side(image_size)
    key = source_key([name, split, "folder", side], paths)

    def contents() -> tuple[list[tuple[int, int]], Iterator[np.ndarray]]:
        return [stored_shape(path, side) for path in paths], _resized(paths, side, load)

    return CacheSpec(f"{name}-{split}-{key}", side, contents)


def open_pair(train: CacheSpec, test: CacheSpec) -> StorePair:
    return open_store(train), open_store(test)
