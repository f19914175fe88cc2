"""`glyphs`: a class-incremental benchmark of rendered symbols, and the letters a tiny ViT is pretrained on.

ZeroFlow (arXiv 2501.01045) fine-tunes adapters of a *pretrained* ViT on classes it has not seen.
This data set reproduces that regime without a download (trainers.data.glyphfonts renders it):

- Candidates: letters (Latin, Latin-1 and Latin Extended-A, Greek, Cyrillic, IPA, digits) and
  symbols (arrows, mathematical operators, miscellaneous technical, geometric shapes, letterlike).
- Deduplication by rendering: every candidate is drawn without augmentation in each font that has
  it; two candidates are the same glyph when, in some font that has both, the cosine similarity of
  their renderings is >= 0.97 (merged: Latin "A" and Greek "Alpha" 1.0, "l" and "I" 0.98,
  "increment" and "Delta" 0.975; kept apart: "O" and "0" 0.966, "E" and "F" 0.955). Candidates
  are visited letters first, in code point order, and one is dropped when it matches one kept
  before it. A symbol whose similarity to any kept letter is >= 0.9 is not a CIL class either,
  so no CIL class looks like a pretraining class.
- A class needs at least 2 training fonts and 1 test font (glyphfonts.TEST_FONTS) that have it.
- Pools: the pretraining pool is every kept letter; the class-incremental (CIL) pool is 100 kept
  symbols drawn with a fixed seed. They are disjoint, and no CIL class matches a letter.
- Images: a CIL class has 24 training images from its training fonts and 10 test images from its
  test fonts, with augmentation streams of different seeds, so test accuracy measures
  generalisation to unseen fonts. The data set is fixed (seed DATA_SEED); the trial seed moves
  only the class order and the training, as for the paper's data sets.
- Domain shift: CIL images (train and test alike) are degraded prints, ink at half contrast on a
  grey ground under strong pixel noise (`degrade`), while the letters the backbone is pretrained
  on stay clean. The paper's harder data sets (ImageNet-A, OmniBenchmark) are shifted from
  ViT-B/16's pretraining in the same way: the untrained features fit the new classes less well,
  and the adapters have something to learn. Without the shift the pretrained prototypes alone
  reach about 88 % Avg and training adds well under the seed spread (docs/results.md, "What to expect").

The rendered arrays are cached under `<data_root>/glyphs/` (written to a temporary file and renamed
into place, so trials that start together never read a half-written file).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from trainers.data.core import DataError, LabeledImages, Splits
from trainers.data.glyphfonts import FONT_FILES, IMAGE_SIZE, TEST_FONTS, TRAIN_FONTS, coverage, render, render_many

CACHE_VERSION = 2
DATA_SEED = 0
CIL_CLASSES = 100
CIL_TRAIN, CIL_TEST = 24, 10
SAME_GLYPH = 0.97
# Degraded print (module docstring), in uint8 units: ground + contrast * ink + N(0, noise**2).
PRINT_GROUND, PRINT_CONTRAST, PRINT_NOISE = 60.0, 0.5, 25.0
NEAR_LETTER = 0.9  # a symbol this similar to a kept letter is not a CIL class
MIN_INK = 20.0  # summed intensity (of 255 per pixel): below it a glyph is blank
LETTER_BLOCKS = ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x17F), (0x250, 0x2AF), (0x391, 0x3C9),
                 (0x400, 0x45F))
SYMBOL_BLOCKS = ((0x2100, 0x214F), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2300, 0x23FF), (0x25A0, 0x25FF))


@dataclass(frozen=True)
class Pools:
    """Disjoint class pools; each class is one character."""

    pretrain: tuple[str, ...]
    cil: tuple[str, ...]


def fonts_of(char: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in names if ord(char) in coverage(name))


def _candidates(blocks: tuple[tuple[int, int], ...]) -> list[str]:
    chars = [chr(code) for first, last in blocks for code in range(first, last + 1)]
    return [c for c in chars if len(fonts_of(c, TRAIN_FONTS)) >= 2 and fonts_of(c, TEST_FONTS)]


def _renderings(chars: list[str]) -> np.ndarray:
    """(fonts, chars, pixels) plain renderings in [0, 1]; zero where a font lacks the char."""
    out = np.zeros((len(FONT_FILES), len(chars), IMAGE_SIZE * IMAGE_SIZE), dtype=np.float32)
    for f, font in enumerate(FONT_FILES):
        for i, char in enumerate(chars):
            if ord(char) in coverage(font):
                out[f, i] = render(char, font).reshape(-1) / 255.0
    return out


def similarity(chars: list[str], renderings: np.ndarray | None = None) -> np.ndarray:
    """(chars, chars): the highest cosine similarity of two chars' plain renderings in a font that has both."""
    raw = _renderings(chars) if renderings is None else renderings
    vectors = raw / np.maximum(np.linalg.norm(raw, axis=2, keepdims=True), 1e-6)
    best = np.zeros((len(chars), len(chars)), dtype=np.float32)
    for per_font in vectors:
        np.maximum(best, per_font @ per_font.T, out=best)
    return best


def deduplicate(same: np.ndarray, inked: np.ndarray) -> list[int]:
    """Indices, in order, of the inked chars whose similarity to every one kept before is < SAME_GLYPH."""
    kept: list[int] = []
    for i in range(len(inked)):
        if inked[i] and not (same[i, kept] >= SAME_GLYPH).any():
            kept.append(i)
    return kept


@functools.lru_cache(maxsize=1)
def build_pools() -> Pools:
    """The pretraining (letters) and CIL (symbols) pools; deterministic, a few seconds to compute."""
    letters, symbols = _candidates(LETTER_BLOCKS), _candidates(SYMBOL_BLOCKS)
    chars = letters + symbols
    renderings = _renderings(chars)
    same = similarity(chars, renderings)
    kept = deduplicate(same, renderings.sum(axis=2).max(axis=0) >= MIN_INK)
    kept_letters = [i for i in kept if i < len(letters)]
    distinct = [i for i in kept if i >= len(letters) and same[i, kept_letters].max() < NEAR_LETTER]
    chosen = np.random.default_rng(DATA_SEED).choice(len(distinct), size=CIL_CLASSES, replace=False)
    return Pools(pretrain=tuple(chars[i] for i in kept_letters),
                 cil=tuple(chars[distinct[i]] for i in sorted(chosen)))


def render_split(chars: tuple[str, ...], fonts: tuple[str, ...], per_class: int, seed: int) -> np.ndarray:
    """(classes, per_class, H, W) uint8 images of `chars`, each in those of `fonts` that have it."""
    return render_many(list(chars), [fonts_of(c, fonts) for c in chars], per_class, seed)


def degrade(images: np.ndarray, seed: int) -> np.ndarray:
    """`images` (uint8, white ink on black) as degraded prints; deterministic given `seed`."""
    noise = np.random.default_rng(seed).normal(0.0, PRINT_NOISE, images.shape)
    return np.clip(PRINT_GROUND + PRINT_CONTRAST * images + noise, 0, 255).astype(np.uint8)


def cached_arrays(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays saved at `path`, built and saved once; concurrent builders race harmlessly (atomic rename)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = build()
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp.npz")
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(temporary, path)
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def cache_name(kind: str, settings: dict[str, object]) -> str:
    """A file name that changes whenever the rendering or its settings change."""
    key = json.dumps({"version": CACHE_VERSION, "fonts": FONT_FILES, "test_fonts": TEST_FONTS, **settings},
                     sort_keys=True)
    return f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"


def _build_cil() -> dict[str, np.ndarray]:
    chars = build_pools().cil
    return {"codes": np.array([ord(c) for c in chars]),
            "train": degrade(render_split(chars, TRAIN_FONTS, CIL_TRAIN, DATA_SEED * 2), DATA_SEED * 2),
            "test": degrade(render_split(chars, TEST_FONTS, CIL_TEST, DATA_SEED * 2 + 1), DATA_SEED * 2 + 1)}


def cil_path(data_root: str) -> Path:
    settings = {"seed": DATA_SEED, "classes": CIL_CLASSES, "train": CIL_TRAIN, "test": CIL_TEST,
                "print": [PRINT_GROUND, PRINT_CONTRAST, PRINT_NOISE]}
    return Path(data_root) / "glyphs" / cache_name("cil", settings)


def cil_arrays(data_root: str) -> dict[str, np.ndarray]:
    return cached_arrays(cil_path(data_root), _build_cil)


class GlyphImages:
    """Loads image i of a (N, H, W) uint8 array as a (3, size, size) float tensor in [0, 1]."""

    def __init__(self, pixels: np.ndarray, image_size: int) -> None:
        images = torch.from_numpy(pixels).float().div_(255.0).unsqueeze(1)
        if image_size != images.shape[-1]:
            images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
        self.images = images.clamp_(0.0, 1.0)

    def __call__(self, index: int) -> torch.Tensor:
        return self.images[index].expand(3, -1, -1)


def labeled(images: np.ndarray, image_size: int) -> LabeledImages:
    """(classes, per_class, H, W) images as LabeledImages with labels 0..classes-1."""
    classes, per_class = images.shape[:2]
    labels = np.repeat(np.arange(classes), per_class)
    return LabeledImages(labels, GlyphImages(images.reshape(-1, *images.shape[2:]), image_size), None)


class GlyphsData:
    """The CIL pool of `glyphs`: rendered on first use, nothing to check on disk."""

    def check(self, data_root: str) -> None:
        """The cache exists, or the nearest existing folder above it is writable (nothing is written here)."""
        path = cil_path(data_root)
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not path.is_file() and not (folder.is_dir() and os.access(folder, os.W_OK)):
            raise DataError(f"glyphs: cannot write the rendered images under '{path.parent}' ('{folder}' is "
                            "not a writable folder); set data_root to a writable folder")

    def verify(self, data_root: str) -> int:
        """Rendered, not read: the folder check, and the pool's CIL_CLASSES symbols."""
        self.check(data_root)
        return CIL_CLASSES

    def load(self, data_root: str, image_size: int) -> Splits:
        arrays = cil_arrays(data_root)
        return labeled(arrays["train"], image_size), labeled(arrays["test"], image_size), len(arrays["codes"])
