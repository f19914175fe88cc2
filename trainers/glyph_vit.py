"""`glyph_vit`: the tiny timm VisionTransformer that `zfsweep pretrain` trains on rendered letters.

A plain ViT (Dosovitskiy et al., 2021) of timm's VisionTransformer class, sized for 32 px glyphs
on a CPU: 8 px patches (16 tokens and a class token), width 128, 4 blocks of 4 heads, MLP ratio 4,
about 0.8 M parameters. Registering it under a timm name lets the usual
`timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": ...})` path of
trainers.backbone load the committed weights like any other local weights file. Importing this
module registers the name.
"""

from __future__ import annotations

from typing import Any

from timm.models import register_model
from timm.models._registry import generate_default_cfgs
from timm.models.vision_transformer import VisionTransformer, _cfg, _create_vision_transformer

NAME = "glyph_vit"
ARCHITECTURE = {"img_size": 32, "patch_size": 8, "embed_dim": 128, "depth": 4, "num_heads": 4, "mlp_ratio": 4.0}

# No download URL: the weights are a local file; the inputs are unnormalised [0, 1] glyph images.
default_cfgs = generate_default_cfgs({
    f"{NAME}.zfsweep_glyphs": _cfg(input_size=(3, 32, 32), crop_pct=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
})


@register_model
def glyph_vit(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """The tiny glyph ViT; keyword arguments override ARCHITECTURE (timm passes img_size, num_classes...)."""
    return _create_vision_transformer(NAME, pretrained=pretrained, **{**ARCHITECTURE, **kwargs})
