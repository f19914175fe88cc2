"""On a CUDA device: a whole trial, adapters made on the device, the allocator's peak, and the device input path.

Every test here is marked `cuda` and skipped where no CUDA device is visible (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from test_data import write_cifar
from catalog.config import make_config
from trainers.data import build_benchmark, pixel_stores
from trainers.data.device_loader import DeviceBatches
from trainers.presets import resolve
from trainers.resources import PeakMemory
from trainers.trial import build_model, run_trial

pytestmark = pytest.mark.cuda
CUDA = torch.device("cuda")
TINY = {"backbone": "test_vit", "weights": "random", "image_size": 32, "tasks": 2, "epochs": 1, "batch_size": 4,
        "device": "cuda"}


@pytest.mark.parametrize("optimizer", ["fo-sgd", "zo-sgd", "forward-grad"])
def test_a_trial_runs_end_to_end_on_cuda(tmp_path: Path, optimizer: str) -> None:
    write_cifar(tmp_path)
    config = make_config({**TINY, "method": "ease", "optimizer": optimizer, "dataset": "cifar100",
                          "data_root": str(tmp_path)})
    result = run_trial(config)
    assert len(result.acc) == 2 and result.peak_memory_gb > 0 and result.forward_passes > 0


def test_new_adapter_sets_are_created_on_the_device() -> None:
    config = resolve(make_config({**TINY, "method": "ease", "optimizer": "zo-sgd"}))
    method = build_model(config, 10, CUDA)
    for task in range(2):
        method.begin_task(task, range(task * 5, (task + 1) * 5))
        assert all(p.device.type == "cuda" for p in method.parameters())
        assert all(b.device.type == "cuda" for b in method.buffers())


def test_peak_memory_is_read_from_the_allocator() -> None:
    with PeakMemory(CUDA) as memory:
        block = torch.empty(256 * 2**20, dtype=torch.uint8, device=CUDA)  # 256 MiB
        del block
    assert memory.peak_bytes >= 256 * 2**20
    assert memory.peak_bytes == torch.cuda.max_memory_allocated(CUDA)


@pytest.mark.parametrize("train", [True, False])
def test_the_device_input_path_on_cuda_equals_its_cpu_run(tmp_path: Path, train: bool) -> None:
    write_cifar(tmp_path)
    benchmark = build_benchmark("cifar100", str(tmp_path), seed=1993, tasks=2, image_size=224)
    store = pixel_stores("cifar100", str(tmp_path), 224)[0 if train else 1]
    images = benchmark.train if train else benchmark.test

    def run(device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
        batches = DeviceBatches(store, np.arange(len(images)), images.labels, batch_size=5, image_size=224,
                                device=device, train=train, shuffle=train, seed=3)
        return [(x.cpu(), y.cpu()) for x, y in batches]

    for (gpu_x, gpu_y), (cpu_x, cpu_y) in zip(run(CUDA), run(torch.device("cpu"))):
        assert torch.equal(gpu_y, cpu_y)
        assert (gpu_x - cpu_x).abs().max() <= 1 / 255 + 1e-4  # a CPU rounds train crops to grey levels
