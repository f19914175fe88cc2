"""EASE (Zhou, Sun, Ye, Zhan, "Expandable subspace ensemble for pre-trained model-based
class-incremental learning", CVPR 2024), as ZeroFlow trains it with every optimizer.

Each task trains a fresh adapter set (one "subspace") with a cosine head over the task's own
classes, labels shifted by the number of known classes. After the task the set is frozen, and
every new class gets its mean training feature as prototype in every subspace. An old class has
no data in the new subspaces, so its prototype there is the semantic-guided complement. At test
time a class's logit sums the cosine similarities of all subspaces' features with its
prototypes, weight 1 in its own subspace and alpha / T in the others (T = current task index).

Where the paper leaves a choice open, zfsweep follows the released code (sun-hailong/CVPR24-Ease
`models/ease.py` and `backbone/linears.py`, also used by LAMDA-PILOT and ZeroFlow's PILOT copy),
with its published settings `recalc_sim: true`, `use_reweight: true`:
- Complement (`solve_sim_reset`): after task T, for every old task i < T and every later
  subspace d (i < d <= T), the donors are all classes with real prototypes in subspace d, i.e.
  the classes of tasks d..T. Similarities are cosines between task i's classes and the donors in
  subspace i (the old classes' own subspace, where both have real prototypes); a row softmax
  (no temperature) weighs the donors' prototypes in subspace d. Complements are recomputed
  after every task, so they use the donors known by then; they only ever read real prototypes.
- Reweighting (`forward_reweight`): T is the 0-based index of the newest task, so after task 0
  there is one subspace and no division; after task T the other subspaces weigh alpha / T.
- Plain pretrained branch (`use_init_ptm`, omnibenchmark): the frozen ViT's feature is one more
  subspace whose prototypes are direct class means of every class; its cosine is added with
  weight beta = 1, the released omnibenchmark value (zfsweep has no separate beta setting).
- `ease_adapters: first-task` is the released OmniBenchmark mode (`moni_adam: true,
  adapter_num: 1`): only task 0 trains, and every class is its mean feature in the concatenated
  [pretrained | adapter set 0] space, which is APER's classifier (`FirstTaskEase`).
- `perturb_test_head` reproduces the released parameter set: the released test head
  (`EaseCosineLinear`: old-class prototypes and a scale sigma) has requires_grad while a task
  trains, so zeroth-order and Forward-Grad steps, which perturb and update every such tensor,
  add noise to it although the loss never reads it; backprop leaves it alone (no gradient). With
  the flag, the prototypes and a test scale `test_sigma` train in every task; without it (the
  corrected set) only the newest adapters and the training head do.
Prototypes are tensors sized for all tasks up front, so a checkpoint restores by a plain load.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from catalog.config import TrialConfig

from trainers.backbone import AdapterViT
from trainers.methods.aper import Aper
from trainers.methods.base import AdapterMethod, Batches, Method
from trainers.methods.heads import CosineHead, class_means, cosine_scores

PRETRAINED_BRANCH_WEIGHT = 1.0  # released `beta` for omnibenchmark, the one data set using the branch


def complement_prototypes(old_own: torch.Tensor, donors_own: torch.Tensor,
                          donors_target: torch.Tensor) -> torch.Tensor:
    """Semantic-guided complement: old classes' prototypes in a subspace they have no data in.

    `old_own` (old x D) and `donors_own` (donors x D) are prototypes in the old classes' own
    subspace; `donors_target` (donors x D) are the donors' prototypes in the target subspace.
    Returns softmax_rows(cos(old_own, donors_own)) @ donors_target.
    """
    return torch.softmax(cosine_scores(old_own, donors_own), dim=1) @ donors_target


def ensemble_logits(features: Sequence[torch.Tensor], prototypes: torch.Tensor, classes_per_task: int,
                    alpha: float) -> torch.Tensor:
    """Subspace ensemble: sum over subspaces s of w(s, c) * cos(features[s], prototypes[s, c]).

    `features[s]` (B x D) comes from adapter set s, `prototypes` is (S x C x D) with S =
    len(features); class c belongs to task c // classes_per_task, and w is 1 in the class's own
    subspace and alpha / (S - 1) in the others.
    """
    newest = len(features) - 1
    owner = torch.arange(prototypes.shape[1], device=prototypes.device) // classes_per_task
    other = alpha / newest if newest > 0 else 0.0  # with one subspace every class owns it
    logits = torch.zeros(features[0].shape[0], prototypes.shape[1], device=prototypes.device)
    for subspace, feature in enumerate(features):
        weight = torch.where(owner == subspace, 1.0, other)
        logits = logits + weight * cosine_scores(feature, prototypes[subspace])
    return logits


class Ease(AdapterMethod):
    name = "ease"

    def __init__(self, backbone: AdapterViT, num_classes: int, tasks: int, alpha: float,
                 use_pretrained_branch: bool, perturb_test_head: bool = False) -> None:
        super().__init__()
        if tasks < 1 or num_classes % tasks:
            raise ValueError(f"EASE needs equal tasks: {num_classes} classes cannot form {tasks} tasks")
        self.backbone = backbone
        self.classes_per_task = num_classes // tasks
        self.alpha = alpha
        self.use_pretrained_branch = use_pretrained_branch
        self.perturb_test_head = perturb_test_head
        self.head: CosineHead | None = None
        self._first_class = 0
        dim = backbone.feature_dim
        # The test head. prototypes[s, c]: class c in adapter subspace s, real (class mean) or
        # complemented; pretrained_prototypes: class means of the plain ViT (empty when the branch
        # is off). Parameters that train only with `perturb_test_head` (module docstring).
        self.prototypes = nn.Parameter(torch.zeros(tasks, num_classes, dim), requires_grad=False)
        self.pretrained_prototypes = nn.Parameter(torch.zeros(num_classes if use_pretrained_branch else 0, dim),
                                                  requires_grad=False)
        self.test_sigma = nn.Parameter(torch.ones(1), requires_grad=False)

    def begin_task(self, task: int, classes: range) -> bool:
        k = self.classes_per_task
        if task != len(self.backbone.adapter_sets) or classes != range(task * k, (task + 1) * k):
            raise ValueError(f"EASE task {task} with classes {classes} does not follow "
                             f"{len(self.backbone.adapter_sets)} finished tasks of {k} classes")
        self.backbone.add_adapter_set()  # freezes the older sets
        self.head = CosineHead(self.backbone.feature_dim, len(classes)).to(self.prototypes.device)
        self._first_class = classes.start
        self._test_head_trains(self.perturb_test_head)
        return True

    def _test_head_trains(self, trains: bool) -> None:
        for tensor in (self.prototypes, self.pretrained_prototypes, self.test_sigma):
            tensor.requires_grad_(trains and tensor.numel() > 0)

    def loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        assert self.head is not None, "EASE trains between begin_task and end_task"
        newest = len(self.backbone.adapter_sets) - 1
        return F.cross_entropy(self.head(self.backbone(images, newest)), labels - self._first_class)

    def _all_features(self, images: torch.Tensor, subspaces: int) -> torch.Tensor:
        """[pretrained |] adapter set 0 | ... | set subspaces-1, concatenated (B x n*D)."""
        parts = [self.backbone(images, None)] if self.use_pretrained_branch else []
        parts += [self.backbone(images, index) for index in range(subspaces)]
        return torch.cat(parts, dim=1)

    @torch.no_grad()
    def end_task(self, task: int, classes: range, batches: Batches) -> None:
        self.backbone.freeze_adapters()
        self._test_head_trains(False)
        self.head = None
        self.eval()
        means = class_means(lambda images: self._all_features(images, task + 1), batches, classes,
                            self.prototypes.device)
        blocks = means.view(len(classes), -1, self.backbone.feature_dim)
        if self.use_pretrained_branch:
            self.pretrained_prototypes[classes.start:classes.stop] = blocks[:, 0]
            blocks = blocks[:, 1:]
        self.prototypes[:task + 1, classes.start:classes.stop] = blocks.transpose(0, 1)
        self.complement_old_classes(task)

    @torch.no_grad()
    def complement_old_classes(self, newest: int) -> None:
        """Fill the prototypes of tasks before `newest` in every later subspace (module docstring)."""
        k = self.classes_per_task
        for old in range(newest):
            own = self.prototypes[old]
            old_rows = slice(old * k, (old + 1) * k)
            for target in range(old + 1, newest + 1):
                donors = slice(target * k, (newest + 1) * k)
                self.prototypes[target, old_rows] = complement_prototypes(
                    own[old_rows], own[donors], self.prototypes[target, donors])

    @torch.inference_mode()
    def logits(self, images: torch.Tensor, seen: int) -> torch.Tensor:
        subspaces = (seen - 1) // self.classes_per_task + 1
        features = [self.backbone(images, index) for index in range(subspaces)]
        scores = ensemble_logits(features, self.prototypes[:subspaces, :seen], self.classes_per_task, self.alpha)
        if self.use_pretrained_branch:
            plain = cosine_scores(self.backbone(images, None), self.pretrained_prototypes[:seen])
            scores = scores + PRETRAINED_BRANCH_WEIGHT * plain
        return self.test_sigma * scores


class FirstTaskEase(Aper):
    """EASE as the released OmniBenchmark config runs it: APER's training and classifier."""

    name = "ease"


def build_ease(backbone: AdapterViT, num_classes: int, config: TrialConfig) -> Method:
    """EASE from a resolved config (tasks, alpha, adapters and the branch come from the presets)."""
    if config.tasks is None or config.alpha is None or config.use_pretrained_branch is None:
        raise ValueError("EASE needs a resolved config: 'tasks', 'alpha' and 'use_pretrained_branch' set")
    if config.ease_adapters == "first-task":
        return FirstTaskEase(backbone, num_classes)
    return Ease(backbone, num_classes, config.tasks, config.alpha, config.use_pretrained_branch,
                bool(config.perturb_test_head))
