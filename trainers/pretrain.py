"""`zfsweep pretrain`: train the tiny glyph ViT on the pretraining pool, save half-precision weights and a manifest.

ZeroFlow (arXiv 2501.01045) adapts a ViT pretrained on other data (ImageNet) to new classes.
Here the backbone (trainers.glyph_vit) learns to classify the letters of trainers.data.glyphs'
pretraining pool, rendered in the training fonts; the held-out accuracy is measured on the same
letters rendered in the test fonts, with other augmentation seeds. The CIL pool's symbols are
never seen. Everything is seeded by `seed` (rendering, initialisation, batch order), so the same
command with the same seed and thread count gives the same weights.

The weights file keeps the classification head (timm drops it when a model is built with another
number of classes, as the trials do) so that the manifest's held-out accuracy can be re-measured.
It is stored in float16 and the accuracy is measured with those rounded weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from trainers.data.glyphfonts import TEST_FONTS, TRAIN_FONTS
from trainers.data.glyphs import build_pools, labeled, render_split
from trainers.glyph_vit import NAME
from trainers.pretrain_settings import PretrainSettings

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_FILE = "glyph_vit.safetensors"


def pool_chars(settings: PretrainSettings) -> tuple[str, ...]:
    pool = build_pools().pretrain
    return pool[:settings.classes] if settings.classes else pool


def render_seeds(seed: int) -> tuple[int, int]:
    """Augmentation seeds of the training and held-out images (the CIL pool uses 0 and 1)."""
    return 1000 + 2 * seed, 1001 + 2 * seed


def holdout_images(settings: PretrainSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out letters (test fonts) as (images, labels) tensors."""
    data = labeled(render_split(pool_chars(settings), TEST_FONTS, settings.holdout_per_class,
                                render_seeds(settings.seed)[1]), 32)
    return torch.stack([data[i][0] for i in range(len(data))]), torch.as_tensor(data.labels)


@torch.inference_mode()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy in percent."""
    model.eval()
    correct = sum(int((model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum())
                  for i in range(0, len(labels), batch_size))
    return 100.0 * correct / len(labels)


def _warmup_cosine(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, settings: PretrainSettings,
          log: Any = print) -> None:
    """AdamW, one warm-up epoch then cosine decay, label smoothing 0.1, 2 px random shifts."""
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(labels) / settings.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _warmup_cosine(
        step, settings.epochs * steps_per_epoch, steps_per_epoch))
    for epoch in range(settings.epochs):
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        total = 0.0
        for start in range(0, len(labels), settings.batch_size):
            batch = order[start:start + settings.batch_size]
            dx, dy = torch.randint(-2, 3, (2,), generator=generator).tolist()
            shifted = torch.roll(images[batch], shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(model(shifted), labels[batch], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        log(f"epoch {epoch + 1}/{settings.epochs}: loss {total / len(labels):.3f}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pretrain(settings: PretrainSettings, out_dir: Path, command: str, log: Any = print) -> dict[str, Any]:
    """Render, train, round to float16, measure, and write `glyph_vit.safetensors` + `glyph_vit.json`."""
    started = time.perf_counter()
    chars = pool_chars(settings)
    train_data = labeled(render_split(chars, TRAIN_FONTS, settings.per_class, render_seeds(settings.seed)[0]), 32)
    images = torch.stack([train_data[i][0] for i in range(len(train_data))])
    labels = torch.as_tensor(train_data.labels)
    log(f"rendered {len(labels)} training images of {len(chars)} letters in {time.perf_counter() - started:.1f} s")
    torch.manual_seed(settings.seed)
    model = timm.create_model(NAME, num_classes=len(chars))
    train(model, images, labels, settings, log)
    state = {key: value.detach().half().contiguous() for key, value in model.state_dict().items()}
    model.load_state_dict({key: value.float() for key, value in state.items()})
    heldout = accuracy(model, *holdout_images(settings))
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / WEIGHTS_FILE
    save_file(state, str(weights))
    manifest = {
        "command": command, "architecture": NAME, "seed": settings.seed, "settings": asdict(settings),
        "data": {"pool": "glyphs pretraining pool (letters)", "classes": len(chars),
                 "chars_sha256": hashlib.sha256("".join(chars).encode()).hexdigest(),
                 "train_fonts": list(TRAIN_FONTS), "heldout_fonts": list(TEST_FONTS),
                 "train_images": len(labels), "heldout_images": len(chars) * settings.holdout_per_class},
        "heldout_accuracy": round(heldout, 2), "dtype": "float16",
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": round(time.perf_counter() - started, 1), "threads": torch.get_num_threads(),
        "versions": {"torch": torch.__version__, "timm": timm.__version__, "numpy": np.__version__},
        "file": WEIGHTS_FILE, "sha256": sha256(weights),
    }
    (out_dir / "glyph_vit.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"held-out accuracy {heldout:.2f}% on {manifest['data']['heldout_images']} images; wrote {weights}")
    return manifest
