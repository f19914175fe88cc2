"""The bundled glyph ViT: the manifest matches the file, the weights reproduce its held-out accuracy,
training on glyphs beats the untrained reference, and `zfsweep pretrain` works end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import timm
import torch

from trainers.backbone import BUNDLED_WEIGHTS, build_backbone
from catalog.config import make_config
from trainers.pretrain import PretrainSettings, accuracy, holdout_images, sha256
from trainers.trial import run_trial

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = BUNDLED_WEIGHTS["glyphs"]
MANIFEST = json.loads(WEIGHTS.with_suffix(".json").read_text())


def test_manifest_names_the_committed_file_and_its_hash() -> None:
    assert WEIGHTS.name == MANIFEST["file"] and sha256(WEIGHTS) == MANIFEST["sha256"]
    assert WEIGHTS.stat().st_size <= 5 * 2**20
    assert MANIFEST["command"].startswith("zfsweep pretrain --seed") and MANIFEST["dtype"] == "float16"


def test_bundled_weights_reproduce_the_manifest_held_out_accuracy() -> None:
    torch.set_num_threads(1)
    classes = MANIFEST["data"]["classes"]
    model = timm.create_model("glyph_vit", pretrained=True, num_classes=classes,
                              pretrained_cfg_overlay={"file": str(WEIGHTS), "num_classes": classes})
    settings = PretrainSettings(**MANIFEST["settings"])
    images, labels = holdout_images(settings)
    assert len(labels) == MANIFEST["data"]["heldout_images"]
    measured = accuracy(model, images, labels)
    assert abs(measured - MANIFEST["heldout_accuracy"]) <= 0.2, measured
    assert measured > 5 * 100.0 / classes  # well above chance: the backbone was trained


def test_bundled_weights_load_by_name_as_a_frozen_feature_extractor() -> None:
    vit = build_backbone("glyph_vit", "glyphs", image_size=32)
    features = vit(torch.rand(2, 3, 32, 32))
    assert features.shape == (2, 128) and not any(p.requires_grad for p in vit.parameters())
    random = build_backbone("glyph_vit", "random", image_size=32)
    assert not torch.equal(random.patch_embed.proj.weight, vit.patch_embed.proj.weight)


SHORT_EASE = {"dataset": "glyphs", "method": "ease", "optimizer": "fo-sgd", "tasks": 5, "device": "cpu", "seed": 1993}


def test_fo_sgd_on_glyphs_beats_the_untrained_reference(tmp_path: Path) -> None:
    """Three FO-SGD epochs per task (the smoke grid's) against `epochs: 0`.

    Measured: Avg 45.5 % against 40.8 %, first task 61 % against 53 %.
    """
    torch.set_num_threads(1)
    trained = run_trial(make_config({**SHORT_EASE, "data_root": str(tmp_path), "epochs": 3}))
    untrained = run_trial(make_config({**SHORT_EASE, "data_root": str(tmp_path), "epochs": 0}))
    assert untrained.epoch_seconds == 0.0 and untrained.forward_passes == 0 and trained.forward_passes > 0
    # The first task's accuracy comes from its own trained adapter set alone: an optimizer that
    # stops learning leaves it at the untrained value.
    assert trained.acc[0] >= untrained.acc[0] + 2.0, (trained.acc, untrained.acc)
    assert trained.avg_acc >= untrained.avg_acc + 2.0, (trained.avg_acc, untrained.avg_acc)


def test_pretrain_command_runs_end_to_end_on_a_tiny_setting(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-c", "from orchestrator.cli import main; main()", "pretrain", "--seed", "3",
               "--epochs", "1", "--per-class", "4", "--classes", "8", "--batch-size", "32", "--out", str(tmp_path)]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    manifest = json.loads((tmp_path / "glyph_vit.json").read_text())
    assert manifest["seed"] == 3 and manifest["data"]["classes"] == 8 and manifest["data"]["train_images"] == 32
    assert manifest["sha256"] == sha256(tmp_path / "glyph_vit.safetensors")
    assert manifest["command"] == ("zfsweep pretrain --seed 3 --epochs 1 --per-class 4 --classes 8 --batch-size 32 "
                                   "--lr 0.002 --threads 2")
    vit = build_backbone("glyph_vit", str(tmp_path / "glyph_vit.safetensors"), image_size=32)
    assert vit(torch.rand(1, 3, 32, 32)).shape == (1, 128)


def test_the_up_front_check_accepts_the_bundled_weights_by_name() -> None:
    from trainers.weights import check_weights

    check_weights("glyph_vit", "glyphs", 32)  # raises WeightsError if the name were not resolved
