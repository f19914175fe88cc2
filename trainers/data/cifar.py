"""CIFAR-100 in torchvision's `cifar-100-python` format: the pickles `train`, `test` and `meta`.

Each split pickle is a dict with b'data' (N x 3072 uint8 rows, channels then rows then columns)
and b'fine_labels'; `meta` holds b'fine_label_names'. The number of classes comes from `meta`
when it is there, else from the labels, so small test pickles with a few classes load too.
The pixels stay in memory as uint8 (150 MB for the real training set) and become float per image.
A pickle can run any code when it is loaded, so the files are read with an unpickler that admits
only what this format holds: dicts, lists, bytes, strings, numbers and numpy arrays; any other
global (a `__reduce__` payload calling os.system, say) is refused before it is called. Pickle's memo
lets a small file hold one list many times over (cheap as shared references, gigabytes once
np.asarray copies it out), so the lists and dicts a file holds are counted as if expanded, each
shared object once per reference, and a file past MAX_LIST_VALUES is refused before any copy.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainers.data.cache_sources import StorePair, cifar_spec, open_pair
from catalog.errors import one_line
from trainers.data.core import DataError, LabeledImages, Splits
from trainers.data.layout import SPLITS, locate, split_path
from trainers.data.transforms import eval_transform, train_transform

FOLDER = "cifar-100-python"
SIDE = 32
ROW = 3 * SIDE * SIDE
# The real files' lists hold 150,000 values (fine and coarse labels, file names of 50,000 images);
# the pixels are one numpy array, which the file holds byte for byte and which counts as one value.
MAX_LIST_VALUES = 10_000_000

# The globals a CIFAR pickle needs: numpy's array reconstruction (numpy 1 and 2 module names), and
# codecs.encode, which Python 3 uses to pickle bytes under protocols 0-2.
ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
})


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ALLOWED_GLOBALS; anything else is an UnpicklingError."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a CIFAR pickle "
                                         "(only numpy arrays, dicts, lists, bytes, strings and numbers)")
        return super().find_class(module, name)


class PixelRows:
    """Image i of an N x 3 x H x W uint8 tensor as a float tensor in [0, 1]; picklable."""

    def __init__(self, pixels: torch.Tensor) -> None:
        self.pixels = pixels

    def __call__(self, index: int) -> torch.Tensor:
        return self.pixels[index].float().div_(255.0)


def _expected(data_root: str) -> str:
    return (f"{Path(data_root) / FOLDER}/{{train,test,meta}}, torchvision's CIFAR-100 pickles "
            "(dicts with b'data' N x 3072 uint8 and b'fine_labels')")


def _read(dataset: str, path: Path, expected: str) -> dict[str, Any]:
    """The unpickled dict, its bytes keys decoded (the files were written by Python 2)."""
    try:
        with path.open("rb") as file:
            content = CifarUnpickler(file, encoding="bytes").load()
    except Exception as error:  # a corrupt pickle can fail with almost any exception type
        raise DataError(f"{dataset}: cannot unpickle '{path}' ({one_line(error)}); "
                        f"expected {expected}") from error
    if not isinstance(content, dict):
        raise DataError(f"{dataset}: '{path}' holds a {type(content).__name__}, not a dict; expected {expected}")
    problem = _expansion_problem(content)
    if problem:
        raise DataError(f"{dataset}: '{path}' {problem}; expected {expected}")
    return {key.decode("latin1") if isinstance(key, bytes) else str(key): value for key, value in content.items()}


def _expansion_problem(content: Any, limit: int = MAX_LIST_VALUES) -> str | None:
    """Why `content` is too big once its shared lists are expanded (or never ends); None if it is not."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()  # containers on the current path: meeting one again is a cycle
    stack: list[tuple[Any, bool]] = [(content, False)]
    while stack:
        value, children_done = stack.pop()
        if id(value) in sizes:
            continue
        children = list(value.keys()) + list(value.values()) if isinstance(value, dict) else (
            list(value) if isinstance(value, (list, tuple)) else [])
        if children_done or not children:
            sizes[id(value)] = min(limit + 1, 1 + sum(sizes[id(child)] for child in children))
            open_ids.discard(id(value))
            if sizes[id(value)] > limit:
                return f"expands to more than {limit:,} values (lists that repeat one object)"
            continue
        if id(value) in open_ids:
            return "holds a list or dict that contains itself"
        open_ids.add(id(value))
        stack.append((value, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return None


def _split(dataset: str, path: Path, expected: str) -> tuple[np.ndarray, np.ndarray]:
    """(pixels N x 3072 uint8, labels N) of one split pickle, checked."""
    content = _read(dataset, path, expected)
    missing = [key for key in ("data", "fine_labels") if key not in content]
    if missing:
        raise DataError(f"{dataset}: '{path}' has no {' or '.join(missing)} entry; expected {expected}")
    try:
        pixels, labels = np.asarray(content["data"]), np.asarray(content["fine_labels"])
    except (ValueError, TypeError) as error:  # ragged lists and other non-arrays
        raise DataError(f"{dataset}: '{path}' data or fine_labels is not an array ({one_line(error)}); "
                        f"expected {expected}") from error
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != ROW or len(pixels) == 0:
        raise DataError(f"{dataset}: '{path}' data is {pixels.dtype} {pixels.shape}, not N x {ROW} uint8 "
                        f"with N > 0; expected {expected}")
    if labels.shape != (len(pixels),) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise DataError(f"{dataset}: '{path}' fine_labels are not {len(pixels)} integers >= 0; expected {expected}")
    return pixels, labels.astype(np.int64)


def _num_classes(dataset: str, base: Path, labels: list[np.ndarray], expected: str) -> tuple[int, str]:
    """(number of classes, where it came from): meta's fine_label_names when `meta` exists, else the labels."""
    meta = base / "meta"
    if not meta.is_file():
        return int(max(split.max() for split in labels)) + 1, "largest label + 1"
    names = _read(dataset, meta, expected).get("fine_label_names")
    if not isinstance(names, list) or not names:
        raise DataError(f"{dataset}: '{meta}' has no fine_label_names list; expected {expected}")
    return len(names), "fine_label_names in meta"


def _read_all(dataset: str, data_root: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Both splits and the number of classes; every class must have images in both splits."""
    expected = _expected(data_root)
    base = locate(dataset, data_root, FOLDER, expected)
    paths = [split_path(dataset, base, split, expected, folder=False) for split in SPLITS]
    splits = [_split(dataset, path, expected) for path in paths]
    num_classes, source = _num_classes(dataset, base, [labels for _, labels in splits], expected)
    for path, (_, labels) in zip(paths, splits):
        absent = sorted(set(range(num_classes)) - set(labels.tolist()))
        if labels.max() >= num_classes or absent:
            problem = (f"label {labels.max()}" if labels.max() >= num_classes else f"no images of class {absent[0]}")
            raise DataError(f"{dataset}: '{path}' has {problem}, but there are {num_classes} classes ({source}); "
                            f"expected {expected}")
    return splits, num_classes


class CifarData:
    """CIFAR-100 under `<data_root>/cifar-100-python` (or `data_root` pointing at that folder)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def check(self, data_root: str) -> None:
        """Unpickles both splits (about a second for the real files): a malformed pickle fails here."""
        _read_all(self.name, data_root)

    def verify(self, data_root: str) -> int:
        """Reading the pickles in full is their check; the number of classes."""
        return _read_all(self.name, data_root)[1]

    def pixel_stores(self, data_root: str, image_size: int) -> StorePair:
        """The decode-once caches of both splits (trainers/data/cache.py); unpickles only to build one."""
        expected = _expected(data_root)
        base = locate(self.name, data_root, FOLDER, expected)

        def pixels(split: str) -> np.ndarray:
            return _read_all(self.name, data_root)[0][SPLITS.index(split)][0]

        train, test = (cifar_spec(self.name, split, base / split, lambda split=split: pixels(split), SIDE)
                       for split in SPLITS)
        return open_pair(train, test)

    def load(self, data_root: str, image_size: int) -> Splits:
        """(train with the training transform, test with the test transform, number of classes)."""
        splits, num_classes = _read_all(self.name, data_root)
        (train_x, train_y), (test_x, test_y) = splits
        train = LabeledImages(train_y, PixelRows(_images(train_x)), train_transform(image_size))
        test = LabeledImages(test_y, PixelRows(_images(test_x)), eval_transform(image_size))
        return train, test, num_classes


def _images(rows: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rows).reshape(-1, 3, SIDE, SIDE))
