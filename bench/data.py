"""Images per second of the per-image and the device-side input paths, on generated CIFAR-100 and image-folder data.

`python -m bench data [--folder-images N] [--rounds N] [--keep DIR] [--datasets cifar100,cub]` writes, in a temporary folder,
(1) CIFAR-100-shaped data in torchvision's pickle format (50,000 + 10,000 32x32 images, 100
classes) and (2) an image-folder tree of JPEGs the size of CUB-200's (500x375, smooth random
content, 20 classes). For each it builds the decode-once cache (timed once: what the first trial on
a machine pays), then measures the training input path of one trial, batch 48: the per-image
path (DataLoader, num_workers 0, decode + RandomResizedCrop + flip per image, collate) against the
device-side path (cache windows + batched crops on the device), on CPU and, when CUDA is present,
on CUDA; the two paths take turns batch by batch so drift on a shared machine hits both alike.
It also times the test transform both ways, and the crop-and-resize step alone on CPU both ways
(the 8-bit kernel a CPU uses, the dense float products a GPU uses). Target (issue 13): device-side
>= 3x per-image on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from trainers.data import SOURCES, pixel_stores
from trainers.data.device_loader import DeviceBatches
from trainers.data.device_transforms import crop_boxes, resized_crops

BATCH = 48
IMAGE_SIZE = 224
TARGET = 3.0
FOLDER_SHAPE = (375, 500)  # height, width of a typical CUB-200 image


def write_cifar(root: Path, train: int = 50_000, test: int = 10_000, classes: int = 100) -> None:
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    generator = np.random.default_rng(0)
    for split, count in (("train", train), ("test", test)):
        labels = [k % classes for k in range(count)]
        pixels = generator.integers(0, 256, (count, 3072), dtype=np.uint8)
        (base / split).write_bytes(pickle.dumps({b"data": pixels, b"fine_labels": labels}))
    (base / "meta").write_bytes(pickle.dumps({b"fine_label_names": [f"c{k}".encode() for k in range(classes)]}))


def write_folders(root: Path, per_class: int, classes: int = 20) -> None:
    """JPEGs of smooth random content (upsampled noise), so they compress and decode like photographs."""
    generator = np.random.default_rng(0)
    for split, count in (("train", per_class), ("test", max(1, per_class // 4))):
        for k in range(classes):
            folder = root / "cub" / split / f"class{k:03d}"
            folder.mkdir(parents=True)
            for i in range(count):
                small = generator.integers(0, 256, (FOLDER_SHAPE[0] // 25, FOLDER_SHAPE[1] // 25, 3), dtype=np.uint8)
                image = Image.fromarray(small).resize(FOLDER_SHAPE[::-1], Image.BICUBIC)
                image.save(folder / f"{i:04d}.jpg", quality=90)


def _batches(make: Callable[[], Iterator]) -> Iterator:
    while True:
        yield from make()


def _timed_batch(batches: Iterator, device: torch.device) -> float:
    started = time.perf_counter()
    images, _ = next(batches)
    images = images.to(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


def compare(dataset: str, root: Path, device: torch.device, rounds: int, train: bool) -> dict[str, float]:
    """Median images/s of both paths for one trial's training (or test) input, batches interleaved."""
    train_split, test_split, _ = SOURCES[dataset].load(str(root), IMAGE_SIZE)
    split = train_split if train else test_split
    store = pixel_stores(dataset, str(root), IMAGE_SIZE)[0 if train else 1]
    generator = torch.Generator().manual_seed(0)
    per_image = _batches(lambda: iter(DataLoader(split, batch_size=BATCH, shuffle=train, generator=generator)))
    device_side = _batches(lambda: iter(DeviceBatches(store, np.arange(len(split)), split.labels, batch_size=BATCH,
                                                      image_size=IMAGE_SIZE, device=device, train=train,
                                                      shuffle=train, seed=0)))
    times: dict[str, list[float]] = {"per_image": [], "device": []}
    for round_index in range(rounds + 1):
        for name, batches in (("per_image", per_image), ("device", device_side)):
            seconds = _timed_batch(batches, device)
            if round_index > 0:
                times[name].append(seconds)
    rates = {name: BATCH / statistics.median(values) for name, values in times.items()}
    return {**rates, "ratio": rates["device"] / rates["per_image"]}


def crop_milliseconds(dataset: str, root: Path, rounds: int) -> dict[str, float]:
    """Median ms per batch of the CPU crop-and-resize alone: the 8-bit kernel against the dense products."""
    store = pixel_stores(dataset, str(root), IMAGE_SIZE)[0]
    indices = np.arange(min(BATCH, len(store)))
    boxes, flips = crop_boxes(torch.from_numpy(store.sizes(indices)), torch.Generator().manual_seed(0))
    windows = torch.from_numpy(store.windows(indices, boxes.numpy()))
    found = {}
    for name, dense in (("uint8_ms", False), ("dense_ms", True)):
        seconds = []
        for _ in range(rounds + 1):
            started = time.perf_counter()
            resized_crops(windows, boxes, flips, IMAGE_SIZE, dense=dense)
            seconds.append(time.perf_counter() - started)
        found[name] = 1000 * statistics.median(seconds[1:])
    return found


def cache_seconds(dataset: str, root: Path) -> float:
    started = time.perf_counter()
    pixel_stores(dataset, str(root), IMAGE_SIZE)
    return time.perf_counter() - started


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench data", description=__doc__.splitlines()[0])
    parser.add_argument("--folder-images", type=int, default=40, help="training images per class of the folder tree")
    parser.add_argument("--rounds", type=int, default=20, help="timed batches per path after one warm-up batch")
    parser.add_argument("--keep", type=Path, default=None, help="write the data and caches here, keep and reuse them")
    parser.add_argument("--datasets", default="cifar100,cub", help="which generated data sets to measure")
    return parser.parse_args(argv)


def run(root: Path, args: argparse.Namespace) -> dict[str, object]:
    os.environ["ZFSWEEP_CACHE_DIR"] = str(root / "cache")
    if not (root / "data").exists():  # --keep reuses what an earlier run wrote
        write_cifar(root / "data")
        write_folders(root / "data", args.folder_images)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    results: dict[str, object] = {"threads": torch.get_num_threads(), "batch": BATCH, "rounds": args.rounds}
    for dataset in args.datasets.split(","):
        results[f"{dataset}_cache_build_seconds"] = round(cache_seconds(dataset, root / "data"), 2)
        for device in devices:
            for phase, train in (("train", True), ("test", False)):
                rates = compare(dataset, root / "data", device, args.rounds, train)
                results[f"{dataset}_{phase}_{device.type}"] = {k: round(v, 2) for k, v in rates.items()}
                print(f"{dataset:>9} {phase:<5} {device.type:<4} per-image {rates['per_image']:8.0f} img/s   "
                      f"device-side {rates['device']:8.0f} img/s   ratio {rates['ratio']:5.2f}", flush=True)
        crops = crop_milliseconds(dataset, root / "data", args.rounds)
        results[f"{dataset}_crop_cpu"] = {k: round(v, 2) for k, v in crops.items()}
        print(f"{dataset:>9} crops cpu  8-bit kernel {crops['uint8_ms']:6.1f} ms   dense float products "
              f"{crops['dense_ms']:6.1f} ms per batch", flush=True)
    return results


def main(argv: list[str]) -> int:
    args = parse(argv)
    print(f"batch {BATCH}, {IMAGE_SIZE}px, {torch.get_num_threads()} torch threads, median of {args.rounds} "
          f"interleaved batches per path", flush=True)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = run(args.keep, args)
    else:
        with tempfile.TemporaryDirectory(prefix="zfsweep-bench-data-") as folder:
            results = run(Path(folder), args)
    checks = {dataset: results[f"{dataset}_train_cpu"]["ratio"] >= TARGET for dataset in args.datasets.split(",")}
    for dataset, met in checks.items():
        print(f"{dataset}: device-side / per-image training images/s on CPU >= {TARGET}: {'met' if met else 'MISSED'}")
    print(json.dumps({**results, "target_ratio": TARGET, "met": checks}))
    return 0
