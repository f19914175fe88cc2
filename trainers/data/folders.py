"""Image-folder data sets (CUB-200, ImageNet-A, OmniBenchmark): `<folder>/{train,test}/<class>/<image>`.

This is the layout of the ZeroFlow/EASE/APER code (torchvision's ImageFolder): the class index is
the position of the class folder's name in sorted order, and train and test hold the same class
folders. Images are decoded lazily, one per `__getitem__`, so a data set costs only its file list.
An image's header states its size, and a few kilobytes of PNG can state 20,000 x 20,000 pixels
(1.2 GB as RGB): an image past MAX_IMAGE_PIXELS (trainers/data/imagecheck.py) is refused, naming its file, before it is decoded.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2.functional import pil_to_tensor

from trainers.data.cache_sources import StorePair, folder_spec, open_pair
from catalog.errors import one_line
from trainers.data.core import DataError, LabeledImages, Splits
from trainers.data.imagecheck import bomb_error, check_files, check_pixels
from trainers.data.layout import SPLITS, locate, split_path
from trainers.data.transforms import eval_transform, train_transform

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SHOWN = 3  # how many differing class names an error line lists


class ImageFiles:
    """Image i of a list of files as an RGB float tensor in [0, 1]; picklable for DataLoader workers."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def __call__(self, index: int) -> torch.Tensor:
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                check_pixels(path, image)
                rgb = image.convert("RGB")
        except Image.DecompressionBombError as error:
            raise bomb_error(path, error) from error
        except (OSError, ValueError) as error:  # PIL's UnidentifiedImageError is an OSError
            raise DataError(f"cannot read image '{path}' ({one_line(error)}); "
                            "expected a jpg, jpeg, png, bmp or webp image") from error
        return pil_to_tensor(rgb).float().div_(255.0)


def _is_image(entry: os.DirEntry) -> bool:
    return entry.is_file() and entry.name.lower().endswith(IMAGE_EXTENSIONS) and not entry.name.startswith(".")


def _class_names(split: Path) -> list[str]:
    with os.scandir(split) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def _listing(names: set[str]) -> str:
    shown = sorted(names)[:SHOWN]
    return ", ".join(shown) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


class ImageFolderData:
    """One image-folder data set: `name` as zfsweep calls it, `folder` its directory under data_root."""

    def __init__(self, name: str, folder: str) -> None:
        self.name = name
        self.folder = folder

    def expected(self, data_root: str) -> str:
        return (f"{Path(data_root) / self.folder}/{{train,test}}/<class>/<image> "
                f"({', '.join(e[1:] for e in IMAGE_EXTENSIONS)}), the same class folders in both")

    def _classes(self, data_root: str) -> tuple[list[Path], list[str]]:
        """The train and test folders and the class names, checked to agree."""
        expected = self.expected(data_root)
        base = locate(self.name, data_root, self.folder, expected)
        splits = [split_path(self.name, base, split, expected, folder=True) for split in SPLITS]
        train, test = (_class_names(split) for split in splits)
        if not train:
            raise DataError(f"{self.name}: no class folders in '{splits[0]}'; expected {expected}")
        if train != test:
            only_train, only_test = set(train) - set(test), set(test) - set(train)
            raise DataError(f"{self.name}: class folders differ between '{splits[0]}' and '{splits[1]}' "
                            f"(only in train: {_listing(only_train) or '-'}; only in test: "
                            f"{_listing(only_test) or '-'}); expected {expected}")
        return splits, train

    def _empty(self, folder: Path, data_root: str) -> DataError:
        return DataError(f"{self.name}: class folder '{folder}' holds no images; expected {self.expected(data_root)}")

    def check(self, data_root: str) -> None:
        """Cheap: lists folders and stops at each class folder's first image; decodes nothing."""
        splits, classes = self._classes(data_root)
        for split in splits:
            for name in classes:
                with os.scandir(split / name) as entries:
                    if not any(_is_image(entry) for entry in entries):
                        raise self._empty(split / name, data_root)

    def _split(self, split: Path, classes: list[str], data_root: str) -> tuple[list[str], list[int]]:
        paths: list[str] = []
        labels: list[int] = []
        for label, name in enumerate(classes):
            with os.scandir(split / name) as entries:
                files = sorted(entry.path for entry in entries if _is_image(entry))
            if not files:
                raise self._empty(split / name, data_root)
            paths.extend(files)
            labels.extend([label] * len(files))
        return paths, labels

    def verify(self, data_root: str) -> int:
        """Every file of both splits opens (trainers/data/imagecheck.py); the number of classes."""
        splits, classes = self._classes(data_root)
        for split in splits:
            check_files(self.name, self._split(split, classes, data_root)[0])
        return len(classes)

    def pixel_stores(self, data_root: str, image_size: int) -> StorePair:
        """The decode-once caches of both splits (trainers/data/cache.py), built on first use."""
        splits, classes = self._classes(data_root)
        train, test = (folder_spec(self.name, split.name, paths, image_size, ImageFiles(paths))
                       for split, (paths, _) in ((s, self._split(s, classes, data_root)) for s in splits))
        return open_pair(train, test)

    def load(self, data_root: str, image_size: int) -> Splits:
        """(train with the training transform, test with the test transform, number of classes)."""
        splits, classes = self._classes(data_root)
        (train_paths, train_labels), (test_paths, test_labels) = (
            self._split(split, classes, data_root) for split in splits)
        train = LabeledImages(np.asarray(train_labels), ImageFiles(train_paths), train_transform(image_size))
        test = LabeledImages(np.asarray(test_labels), ImageFiles(test_paths), eval_transform(image_size))
        return train, test, len(classes)
