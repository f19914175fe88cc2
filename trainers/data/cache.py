"""Decode once per machine: each split's pixels as one memory-mapped uint8 file that every trial shares.

Per-image loading decodes (image folders) or unpickles (CIFAR-100) every split in every trial, and
decodes every image again every epoch. The device-side input path instead reads a split from a
cache built once per machine under `cache_dir()` (env ZFSWEEP_CACHE_DIR, else
$XDG_CACHE_HOME/zfsweep, else ~/.cache/zfsweep; keep it on node-local disk):

- `pixels.npy`: all images, each C x H x W uint8, concatenated (flat), read with numpy's mmap;
- `index.npy`: per image (offset, height, width) into that flat array.

Stored resolution: CIFAR-100 keeps its own 32x32 pixels (the bytes of the pickle). Image folders
are stored with the shorter side resized to `round(image_size * 256 / 224)` (256 for 224-pixel
ViTs), bicubic with antialiasing on [0, 1] floats exactly as the per-image test transform's
Resize does, then rounded to uint8: the test centre crop of the cache is that transform's output
up to 0.5/255. A cache's name hashes its source (every file's path, size and mtime) and this
format's version, so changed data gets a new cache rather than a stale one.

Race-free when trials start together: the first trial takes an exclusive `fcntl.flock` on
`<name>.lock` and builds into a temporary folder that it renames into place atomically (POSIX
rename); the others wait on the lock and then find the finished cache. A crash leaves at most a
temporary folder that the next builder ignores.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

FORMAT_VERSION = 1
CHANNELS = 3


def cache_dir() -> Path:
    """Where caches live on this machine (see the module docstring)."""
    if os.environ.get("ZFSWEEP_CACHE_DIR"):
        return Path(os.environ["ZFSWEEP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zfsweep"


def source_key(parts: list[str], paths: list[str]) -> str:
    """A short hash of `parts` and every path's name, size and mtime: a different source, another cache."""
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, *parts]).encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


class PixelStore:
    """A split's images as uint8 C x H x W arrays (sizes may differ), read from a memory-mapped cache."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pixels = np.load(folder / "pixels.npy", mmap_mode="r")
        self.index = np.load(folder / "index.npy")
        self.side = int(json.loads((folder / "meta.json").read_text())["side"])

    def __len__(self) -> int:
        return len(self.index)

    def image(self, i: int) -> np.ndarray:
        offset, height, width = (int(v) for v in self.index[i])
        return self.pixels[offset:offset + CHANNELS * height * width].reshape(CHANNELS, height, width)

    def sizes(self, indices: np.ndarray) -> np.ndarray:
        """(len(indices), 2) heights and widths."""
        return self.index[indices, 1:3].astype(np.int64)

    def windows(self, indices: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """uint8 (N, C, max h, max w): image indices[k]'s box (top, left, h, w) at the top left, zeros after."""
        out = np.zeros((len(indices), CHANNELS, int(boxes[:, 2].max()), int(boxes[:, 3].max())), dtype=np.uint8)
        for k, (i, (top, left, height, width)) in enumerate(zip(indices, boxes)):
            out[k, :, :height, :width] = self.image(int(i))[:, top:top + height, left:left + width]
        return out


@dataclass(frozen=True)
class CacheSpec:
    """What to build: a name (hashing the source), the stored short side, and the contents, read only to build.

    `contents()` gives the (height, width) of every stored image and an iterator over the uint8
    C x H x W images in that order; a cache that exists is opened without calling it.
    """

    name: str
    side: int
    contents: Callable[[], tuple[list[tuple[int, int]], Iterator[np.ndarray]]]


def open_store(spec: CacheSpec, root: Path | None = None) -> PixelStore:
    """The cache named by `spec`, built first if this machine has none (race-free, see module docstring)."""
    root = root or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / spec.name
    if (final / "meta.json").is_file():
        return PixelStore(final)
    with open(root / f"{spec.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (final / "meta.json").is_file():
            _build(spec, root, final)
    return PixelStore(final)


def _build(spec: CacheSpec, root: Path, final: Path) -> None:
    temporary = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", dir=root))
    try:
        shapes, images = spec.contents()
        sizes = np.array([CHANNELS * h * w for h, w in shapes], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        index = np.stack([offsets, [h for h, _ in shapes], [w for _, w in shapes]], axis=1)
        pixels = np.lib.format.open_memmap(temporary / "pixels.npy", mode="w+", dtype=np.uint8,
                                           shape=(int(sizes.sum()),))
        count = 0
        for k, image in enumerate(images):
            if k >= len(shapes) or image.shape != (CHANNELS, *shapes[k]) or image.dtype != np.uint8:
                raise ValueError(f"cache {spec.name}: image {k} is {image.dtype} {image.shape}, expected uint8 "
                                 f"{(CHANNELS, *shapes[k]) if k < len(shapes) else 'no more images'}")
            pixels[offsets[k]:offsets[k] + sizes[k]] = image.reshape(-1)
            count += 1
        if count != len(shapes):
            raise ValueError(f"cache {spec.name}: {count} images written, {len(shapes)} expected")
        pixels.flush()
        del pixels
        np.save(temporary / "index.npy", index)
        (temporary / "meta.json").write_text(json.dumps({"side": spec.side, "images": count,
                                                         "version": FORMAT_VERSION}))
        os.rename(temporary, final)  # atomic; the lock makes sure nobody else renamed first
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
