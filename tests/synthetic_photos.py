"""Synthetic training photos for the pack tests: one folder per taxon, Pillow-drawn JPEGs.

Each taxon gets its own colour and pattern (dots, boxes, lines), so a head on the real backbone can
separate them after a few seconds of training; nothing here is a real animal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

#: (base colour RGB, pattern) per taxon, in folder order; reused cyclically past the fourth taxon.
STYLES: tuple[tuple[tuple[int, int, int], str], ...] = (
    ((200, 40, 40), "dots"), ((40, 160, 60), "boxes"), ((40, 60, 200), "lines"), ((220, 200, 40), "dots"),
)


def photo(rng: np.random.Generator, colour: tuple[int, int, int], shape: str) -> Image.Image:
    """A 160x120 RGB image: ``colour`` (dimmed at random) with six random ``shape`` marks."""
    img = Image.new("RGB", (160, 120), tuple(int(c * rng.uniform(0.6, 1.0)) for c in colour))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = int(rng.integers(0, 130)), int(rng.integers(0, 90))
        s = int(rng.integers(10, 30))
        fill = tuple(int(v) for v in rng.integers(0, 255, 3))
        (draw.ellipse if shape == "dots" else draw.rectangle)((x, y, x + s, y + s), fill=fill)
        if shape == "lines":
            draw.line((0, y, 160, y + s), fill=(0, 0, 0), width=4)
    return img


def make_species_folder(root: Path, taxa: Sequence[str], per_class: int = 8, seed: int = 0) -> Path:
    """``root/<Genus_species>/<i>.jpg`` for each taxon (underscores for spaces, as ``train --folder``
    expects); returns ``root``."""
    rng = np.random.default_rng(seed)
    for k, taxon in enumerate(taxa):
        colour, shape = STYLES[k % len(STYLES)]
        d = root / taxon.replace(" ", "_")
        d.mkdir(parents=True)
        for i in range(per_class):
            photo(rng, colour, shape).save(d / f"{i}.jpg", quality=90)
    return root
