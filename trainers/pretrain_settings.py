"""The settings of `zfsweep pretrain`, with no torch import, so that the CLI's options can take their defaults.

The defaults are the settings the bundled glyph ViT weights were trained with
(trainers/weights/glyph_vit.json records the full command), the tiny stand-in for the ImageNet
pretraining of ZeroFlow's (arXiv 2501.01045) ViT-B/16.
"""

from __future__ import annotations

from dataclasses import dataclass

THREADS = 2  # torch CPU threads of the bundled weights' run (the same seed and threads give the same weights)


@dataclass(frozen=True)
class PretrainSettings:
    seed: int = 0
    epochs: int = 30
    per_class: int = 64
    holdout_per_class: int = 8
    classes: int = 0  # 0: the whole pretraining pool; fewer for a quick run
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
