"""Frozen timm ViT with AdaptFormer adapters: the backbone both ZeroFlow methods (EASE, APER) train.

AdaptFormer (Chen et al., 2022) adds a bottleneck parallel to each block's MLP:
`x = x + attn(norm1(x)); x = x + mlp(norm2(x)) + s * up(drop(relu(down(x))))`.
Adapters are kept in *sets* (one adapter per block): APER trains one set, EASE a new set per
task. Only the newest set is trainable; everything else stays frozen, so the trainable
parameters are exactly what the method declares.
"""

from __future__ import annotations

import math
from pathlib import Path

import timm
import torch
from torch import nn

import trainers.glyph_vit  # noqa: F401  (registers the timm name `glyph_vit`)
from catalog.errors import InputError

# Weights shipped with zfsweep, by the name a config gives in `weights`.
BUNDLED_WEIGHTS = {"glyphs": Path(__file__).resolve().parent / "weights" / "glyph_vit.safetensors"}


class WeightsError(InputError):
    """Pretrained weights were asked for but cannot be had."""


class Adapter(nn.Module):
    """AdaptFormer bottleneck: down-projection, ReLU, dropout, zero-initialised up-projection."""

    def __init__(self, dim: int, bottleneck: int = 64, scale: float = 0.1, dropout: float = 0.1) -> None:
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)
        self.up = nn.Linear(bottleneck, dim)
        self.dropout = nn.Dropout(dropout)
        self.scale = scale
        # Same initialisation as the released EASE/APER code: the adapter starts as the identity
        # of the residual stream (up = 0), so a new adapter set does not disturb the features.
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.dropout(torch.relu(self.down(x)))) * self.scale


def build_backbone(name: str, weights: str, *, image_size: int | None = None) -> nn.Module:
    """A timm ViT without classifier, every parameter frozen.

    `weights` is `hub` (timm's pretrained weights, from the hub or its local cache), `random`,
    the name of bundled weights (BUNDLED_WEIGHTS: `glyphs`, for `glyph_vit`), or the path of a
    local weights file (.safetensors, .pth, .bin) for that model.
    """
    kwargs: dict[str, object] = {"num_classes": 0}
    if image_size is not None:
        kwargs["img_size"] = image_size
    if weights == "random":
        model = timm.create_model(name, pretrained=False, **kwargs)
    elif weights == "hub":
        try:
            model = timm.create_model(name, pretrained=True, **kwargs)
        except Exception as error:  # network, cache and hub errors all mean the same to the user
            raise WeightsError(
                f"cannot load pretrained weights of '{name}' from the timm hub ({type(error).__name__}: "
                f"{error}); set 'weights' to a local weights file or to 'random'") from error
    else:
        path = BUNDLED_WEIGHTS.get(weights, Path(weights).expanduser())
        if not path.is_file():
            raise WeightsError(f"weights file '{path}' does not exist; 'weights' is 'hub', 'random', "
                               f"{', '.join(repr(name) for name in BUNDLED_WEIGHTS)} or a file")
        try:
            model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **kwargs)
        except Exception as error:  # not a weights file, or the weights of another architecture
            detail = " ".join(f"{type(error).__name__}: {error}".split())
            raise WeightsError(
                f"'weights': file '{weights}' does not load into backbone '{name}' ({detail[:160]}); allowed: "
                "a .safetensors, .pth or .bin state dict of that timm model, 'hub' or 'random'") from error
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval()


class AdapterViT(nn.Module):
    """A frozen ViT plus any number of adapter sets; the feature is the CLS token after the final norm."""

    def __init__(self, vit: nn.Module, bottleneck: int = 64, scale: float = 0.1, dropout: float = 0.1) -> None:
        super().__init__()
        self.vit = vit
        self.adapter_sets = nn.ModuleList()
        self._adapter_args = (bottleneck, scale, dropout)

    @property
    def feature_dim(self) -> int:
        return int(self.vit.num_features)

    def add_adapter_set(self) -> int:
        """Freeze the existing sets, append a fresh trainable one, and return its index."""
        for adapters in self.adapter_sets:
            adapters.requires_grad_(False)
        dim = int(self.vit.embed_dim)
        # New sets live where the ViT lives: methods add them after the model was moved to its device.
        device = next(self.vit.parameters()).device
        adapters = nn.ModuleList(Adapter(dim, *self._adapter_args) for _ in self.vit.blocks)
        self.adapter_sets.append(adapters.to(device))
        return len(self.adapter_sets) - 1

    def freeze_adapters(self) -> None:
        self.adapter_sets.requires_grad_(False)

    def forward(self, images: torch.Tensor, adapter_set: int | None = None) -> torch.Tensor:
        """Features of `images` through adapter set `adapter_set`, or the plain ViT when None."""
        vit = self.vit
        x = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(images))))
        adapters = None if adapter_set is None else self.adapter_sets[adapter_set]
        for index, block in enumerate(vit.blocks):
            x = x + block.drop_path1(block.ls1(block.attn(block.norm1(x))))
            mlp_out = block.drop_path2(block.ls2(block.mlp(block.norm2(x))))
            x = x + mlp_out if adapters is None else x + mlp_out + adapters[index](x)
        return vit.forward_head(vit.norm(x), pre_logits=True)
