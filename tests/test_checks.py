"""The up-front check of `zfsweep run`: one line naming file and key, exit 2, nothing written.

Each grid here passes grid validation but could not run: it used to start Ray and MLflow and fail
inside every trial, three attempts each. No GPU and no network are needed: the hub is pointed at
a closed local port and an empty cache.
"""

from __future__ import annotations

from pathlib import Path

import huggingface_hub
import pytest
import timm
import torch
from click.testing import CliRunner

from orchestrator.cli import main
from test_data import write_folders

DIGITS = "fixed: {dataset: digits, method: aper, optimizer: zo-sgd, epochs: 1"
TINY = "backbone: test_vit, weights: random, image_size: 32"


def run(tmp_path: Path, grid: str, *extra: str) -> tuple[int, str]:
    """`zfsweep run` on `grid` with a store and storage in tmp_path; asserts that nothing was written."""
    before = sorted(p.name for p in tmp_path.iterdir())
    (tmp_path / "grid.yaml").write_text(grid)
    result = CliRunner().invoke(main, ["run", str(tmp_path / "grid.yaml"), "--tracking-uri",
                                       f"sqlite:///{tmp_path}/store.db", "--storage-path", str(tmp_path / "ray"),
                                       *extra])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({*before, "grid.yaml"})
    return result.exit_code, result.output


def refused(tmp_path: Path, grid: str, key: str, *fragments: str) -> str:
    code, output = run(tmp_path, grid)
    assert code == 2, output
    assert len(output.strip().splitlines()) == 1 and output.startswith(f"error: {tmp_path / 'grid.yaml'}: '{key}': ")
    for fragment in fragments:
        assert fragment in output
    return output


@pytest.mark.parametrize("tasks", [3, 20])
def test_tasks_must_divide_the_classes(tmp_path: Path, tasks: int) -> None:
    refused(tmp_path, DIGITS + f", tasks: {tasks}}}\n", "fixed.tasks",
            f"{tasks} tasks cannot split digits's 10 classes equally; allowed: a divisor of 10 (1, 2, 5, 10)")


def test_tasks_are_checked_against_the_real_data(tmp_path: Path) -> None:
    write_folders(tmp_path / "data", "cub")  # 4 classes
    grid = f"fixed: {{dataset: cub, data_root: {tmp_path / 'data'}, {TINY}, epochs: 1}}\naxes: {{tasks: [2, 3]}}\n"
    refused(tmp_path, grid, "axes.tasks", "3 tasks cannot split cub's 4 classes")


def test_unknown_backbone(tmp_path: Path) -> None:
    refused(tmp_path, DIGITS + ", backbone: vit_tiny_nonexistent}\n", "fixed.backbone",
            "'vit_tiny_nonexistent' unknown to timm; allowed: a timm ViT name")


def test_image_size_below_the_patch_size(tmp_path: Path) -> None:
    refused(tmp_path, DIGITS + ", image_size: 8}\n", "fixed.image_size",
            "8 px is not a multiple of backbone test_vit's 16-px patches; allowed: 16, 32, 48")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu(tmp_path: Path) -> None:
    refused(tmp_path, DIGITS + ", device: cuda}\n", "fixed.device", "'cuda' but this machine has no GPU")


def test_cpus_no_node_has(tmp_path: Path) -> None:
    refused(tmp_path, DIGITS + "}\nresources: {cpu: 100000}\n", "resources.cpu",
            "100000 CPUs per trial, but this machine has at most")
    refused(tmp_path, DIGITS + "}\nwhen: [{match: {optimizer: zo-sgd}, resources: {cpu: 100000}}]\n",
            "when[0].resources.cpu", "would wait forever")


def test_missing_weights_file(tmp_path: Path) -> None:
    refused(tmp_path, DIGITS + ", weights: /nonexistent.pth}\n", "fixed.weights",
            "file '/nonexistent.pth' does not exist")


def test_weights_of_random_bytes_or_another_architecture(tmp_path: Path) -> None:
    (tmp_path / "noise.pth").write_bytes(bytes(range(256)) * 40)
    refused(tmp_path, DIGITS + f", weights: {tmp_path / 'noise.pth'}}}\n", "fixed.weights",
            f"file '{tmp_path / 'noise.pth'}' does not load into backbone 'test_vit'")
    torch.save(timm.create_model("test_vit3", num_classes=0).state_dict(), tmp_path / "other.pth")
    refused(tmp_path, DIGITS + f", weights: {tmp_path / 'other.pth'}}}\n", "fixed.weights",
            f"file '{tmp_path / 'other.pth'}' does not load into backbone 'test_vit'")


def test_a_fitting_weights_file_passes(tmp_path: Path) -> None:
    torch.save(timm.create_model("test_vit", num_classes=0).state_dict(), tmp_path / "own.pth")
    code, output = run(tmp_path, DIGITS + f", weights: {tmp_path / 'own.pth'}}}\n", "--dry-run")
    assert code == 0 and "note:" not in output


@pytest.fixture
def no_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty cache and a hub address where nothing listens."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def test_hub_weights_neither_cached_nor_reachable(tmp_path: Path, no_hub: None) -> None:
    (tmp_path / "hf").mkdir()
    refused(tmp_path, DIGITS + ", weights: hub}\n", "fixed.weights",
            "'hub' weights of 'test_vit' are not in the cache", "did not answer within 3 s")


def test_hub_weights_offline(tmp_path: Path, no_hub: None, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hf").mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    refused(tmp_path, DIGITS + ", weights: hub}\n", "fixed.weights", "HF_HUB_OFFLINE is set")


def test_hub_weights_in_the_cache_need_no_network(tmp_path: Path, no_hub: None) -> None:
    from safetensors.torch import save_file

    repo = tmp_path / "hf" / "models--timm--test_vit.r160_in1k"  # test_vit's default pretrained tag
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    save_file(timm.create_model("test_vit", num_classes=0).state_dict(),
              repo / "snapshots" / ("0" * 40) / "model.safetensors")
    code, output = run(tmp_path, DIGITS + ", weights: hub}\n", "--dry-run")
    assert code == 0 and "note:" not in output


def _image_grid(root: Path) -> str:
    return f"fixed: {{dataset: cub, data_root: {root}, {TINY}, tasks: 2, epochs: 1}}\n"


def test_garbage_and_truncated_images(tmp_path: Path) -> None:
    base = write_folders(tmp_path / "data", "cub")
    garbage = base / "train" / "alpha" / "img1.jpg"
    garbage.write_bytes(b"\xff\xd8 this is not a JPEG at all" * 10)
    refused(tmp_path, _image_grid(tmp_path / "data"), "fixed.data_root", f"image '{garbage}' cannot be opened")
    base_ok = write_folders(tmp_path / "data2", "cub")
    truncated = base_ok / "test" / "bravo" / "img1.jpg"
    truncated.write_bytes(truncated.read_bytes()[:-2])  # the header intact, the end marker gone
    refused(tmp_path, _image_grid(tmp_path / "data2"), "fixed.data_root", f"image '{truncated}' is truncated")


def test_a_broken_image_inside_the_decoded_sample_is_found(tmp_path: Path) -> None:
    base = write_folders(tmp_path / "data", "cub")
    broken = base / "train" / "delta" / "img0.png"
    data = bytearray(broken.read_bytes())
    middle = len(data) // 2
    data[middle - 8: middle + 8] = b"\x00" * 16  # pixel data damaged, header and IEND intact
    broken.write_bytes(bytes(data))
    refused(tmp_path, _image_grid(tmp_path / "data"), "fixed.data_root", f"image '{broken}'")


def test_dry_run_lists_every_problem_as_a_note(tmp_path: Path) -> None:
    code, output = run(tmp_path, DIGITS + "}\naxes: {tasks: [3, 5], backbone: [test_vit, nope_vit]}\n", "--dry-run")
    notes = [line for line in output.splitlines() if line.startswith("note: ")]
    assert code == 0 and len(notes) == 2 and "'axes.backbone'" in notes[0] and "'axes.tasks'" in notes[1]
    assert output.strip().splitlines()[-1] == "4 trials: 0 finished, 4 to run"


@pytest.mark.parametrize("resources, key", [("{memory_gb: .nan}", "resources.memory_gb"),
                                            ("{gpu_memory_gb: .inf}", "resources.gpu_memory_gb"),
                                            ("{gpu: .nan}", "resources.gpu"), ("{cpu: .inf}", "resources.cpu"),
                                            ("{gpu: -.inf}", "resources.gpu")])
def test_resources_that_are_not_finite_numbers(tmp_path: Path, resources: str, key: str) -> None:
    code, output = run(tmp_path, DIGITS + f", {TINY}}}\nresources: {resources}\n", "--dry-run")
    assert code == 2 and len(output.strip().splitlines()) == 1, output
    assert output.startswith(f"error: {tmp_path / 'grid.yaml'}: '{key}': must be ") and "got " in output
