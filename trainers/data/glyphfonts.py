"""Glyph rendering from the TrueType fonts bundled with matplotlib: nothing is downloaded.

matplotlib's wheel ships DejaVu Sans, Sans Mono and Serif (four styles each) and STIX General
(four styles), which together cover Latin, Greek, Cyrillic, IPA, arrows, mathematical operators
and geometric shapes. One image is one character drawn in one font, white on black, then
augmented (all parameters drawn from a numpy Generator, so an image is a function of its seed):

- stroke: the outline is thickened by 0-1 px (at the output size);
- affine: rotation +-12 deg, scale 0.85-1.1, shear +-0.2, translation +-2.5 px;
- blur: Gaussian, radius 0-0.6 px;
- noise: additive Gaussian, sigma 0-0.06 of the full range.

Glyphs are drawn at twice the output size (supersampling), centred on their ink's bounding box at
a fixed font size, so that "o" stays smaller than "O"; glyphs wider than the canvas are shrunk to fit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

IMAGE_SIZE = 32
SUPERSAMPLE = 2
FONT_SIZE = 40  # in supersampled pixels: a capital letter is about 30 of the 64 px
MAX_INK = 56  # supersampled pixels: larger glyphs are shrunk to this

FONT_FILES = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
)
# Fonts that only ever draw test images (of CIL classes and of the pretraining hold-out): one per family.
TEST_FONTS = ("DejaVuSans-Oblique", "DejaVuSansMono-Bold", "DejaVuSerif-Italic", "STIXGeneralBol")
TRAIN_FONTS = tuple(name for name in FONT_FILES if name not in TEST_FONTS)


def font_path(name: str) -> Path:
    import matplotlib  # only for its bundled fonts, and only where glyphs are rendered

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / f"{name}.ttf"


@functools.lru_cache(maxsize=None)
def coverage(name: str) -> frozenset[int]:
    """The code points font `name` has a glyph for (its character map)."""
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(str(font_path(name))).get_charmap())


@functools.lru_cache(maxsize=None)
def _font(name: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(name)), FONT_SIZE)


@dataclass(frozen=True)
class Augmentation:
    stroke: int = 0
    rotation: float = 0.0
    scale: float = 1.0
    shear: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)
    blur: float = 0.0
    noise: float = 0.0

    @staticmethod
    def draw(rng: np.random.Generator) -> "Augmentation":
        return Augmentation(
            stroke=int(rng.integers(0, SUPERSAMPLE + 1)), rotation=float(rng.uniform(-12, 12)),
            scale=float(rng.uniform(0.85, 1.1)), shear=float(rng.uniform(-0.2, 0.2)),
            shift=(float(rng.uniform(-2.5, 2.5)), float(rng.uniform(-2.5, 2.5))),
            blur=float(rng.uniform(0.0, 0.6)), noise=float(rng.uniform(0.0, 0.06)))


def _inverse_affine(aug: Augmentation, size: int, fit: float) -> tuple[float, ...]:
    """PIL's AFFINE data: the map from output to input pixels of centre-scale-shear-rotate-shift."""
    theta = np.deg2rad(aug.rotation)
    rotate = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    forward = rotate @ np.array([[1.0, aug.shear], [0.0, 1.0]]) * (aug.scale * fit)
    inverse = np.linalg.inv(forward)
    centre = np.array([size / 2, size / 2])
    offset = centre - inverse @ (centre + np.array(aug.shift) * SUPERSAMPLE)
    return (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])


def render(char: str, font: str, aug: Augmentation = Augmentation(), rng: np.random.Generator | None = None,
           size: int = IMAGE_SIZE) -> np.ndarray:
    """`char` in `font`, augmented by `aug` (noise drawn from `rng`): a (size, size) uint8 image."""
    big = size * SUPERSAMPLE
    face = _font(font)
    left, top, right, bottom = face.getbbox(char, stroke_width=aug.stroke)
    canvas = Image.new("L", (2 * big, 2 * big), 0)
    origin = (big - (left + right) / 2, big - (top + bottom) / 2)
    ImageDraw.Draw(canvas).text(origin, char, font=face, fill=255, stroke_width=aug.stroke, stroke_fill=255)
    fit = min(1.0, MAX_INK / max(right - left, bottom - top, 1))
    if aug == Augmentation() and fit == 1.0:  # the plain rendering: nothing to move
        moved = canvas
    else:
        moved = canvas.transform(canvas.size, Image.AFFINE, _inverse_affine(aug, 2 * big, fit),
                                 resample=Image.BILINEAR)
    moved = moved.crop((big // 2, big // 2, big // 2 + big, big // 2 + big))
    if aug.blur > 0:
        moved = moved.filter(ImageFilter.GaussianBlur(aug.blur * SUPERSAMPLE))
    image = np.asarray(moved.resize((size, size), Image.BOX), dtype=np.float32) / 255.0
    if aug.noise > 0 and rng is not None:
        image = image + rng.normal(0.0, aug.noise, image.shape)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def render_many(chars: list[str], fonts: list[tuple[str, ...]], per_class: int, seed: int) -> np.ndarray:
    """`per_class` augmented images of each char, cycling through its fonts; (len(chars), per_class, H, W).

    Image j of a char uses font j mod len(its fonts) and a Generator seeded with (seed, code point),
    so the images of one char do not depend on which other chars are rendered.
    """
    out = np.empty((len(chars), per_class, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for index, (char, names) in enumerate(zip(chars, fonts, strict=True)):
        rng = np.random.default_rng([seed, ord(char)])
        for j in range(per_class):
            out[index, j] = render(char, names[j % len(names)], Augmentation.draw(rng), rng)
    return out
