"""APER (Zhou et al., "Revisiting class-incremental learning with pre-trained models", IJCV 2024).

Task 0 trains one adapter set and a cosine head; afterwards the model is frozen and every class,
task 0's included, is represented by its mean feature: the concatenation of the plain pretrained
ViT's feature and the adapted one. Later tasks train nothing, so the optimizer matters only in
task 0 (which is why APER's numbers barely move across optimizers in the paper).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trainers.backbone import AdapterViT
from trainers.methods.base import AdapterMethod, Batches
from trainers.methods.heads import CosineHead, class_means, cosine_scores


class Aper(AdapterMethod):
    name = "aper"

    def __init__(self, backbone: AdapterViT, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head: CosineHead | None = None
        self.register_buffer("prototypes", torch.zeros(num_classes, 2 * backbone.feature_dim))

    def begin_task(self, task: int, classes: range) -> bool:
        if task > 0:
            return False
        self.backbone.add_adapter_set()
        self.head = CosineHead(self.backbone.feature_dim, len(classes)).to(self.prototypes.device)
        return True

    def loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        assert self.head is not None, "APER trains only in task 0"
        return F.cross_entropy(self.head(self.backbone(images, 0)), labels)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.backbone(images, None), self.backbone(images, 0)], dim=1)

    def end_task(self, task: int, classes: range, batches: Batches) -> None:
        if task == 0:
            self.backbone.freeze_adapters()
            self.head = None
        self.eval()
        self.prototypes[classes.start:classes.stop] = class_means(
            self.features, batches, classes, self.prototypes.device)

    @torch.inference_mode()
    def logits(self, images: torch.Tensor, seen: int) -> torch.Tensor:
        return cosine_scores(self.features(images), self.prototypes[:seen])
