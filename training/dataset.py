"""Labelled photo lists, near-duplicate groups and leak-free splits for :mod:`training.train`.

Two sources of labelled photos:

* a *folder* with one sub-folder per taxon, named by scientific name (``Naja_samarensis`` reads as
  ``"Naja samarensis"``);
* a *manifest* CSV like ``../shared/photos/manifest.csv`` (``path`` relative to the CSV's folder, the
  label in ``label_taxon`` or another column), optionally filtered by a path prefix.

Splits never leak: photos are first grouped by perceptual near-duplicate hash (64-bit dHash, photos
within a small Hamming distance are joined transitively) and, when a source column is given, the
group is what is assigned to train / validation / test, never single photos.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic"}


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled photo.

    Attributes:
        path: absolute path of the image file.
        label: the class label (scientific name, or e.g. a reptile type for gate heads).
        source: where it came from (e.g. a repository), ``""`` when unknown; used for grouping.
    """

    path: Path
    label: str
    source: str = ""


def items_from_folder(folder: Path) -> list[Item]:
    """One sub-folder per taxon (underscores read as spaces); files sorted for reproducibility."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(folder)
    out: list[Item] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = sub.name.replace("_", " ").strip()
        for f in sorted(sub.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                out.append(Item(f.resolve(), label, ""))
    return out


def items_from_manifest(
    manifest: Path,
    *,
    prefix: str | None = None,
    label_column: str = "label_taxon",
    source_column: str | None = "source_repo",
) -> list[Item]:
    """Rows of a manifest CSV with a non-empty label, optionally only paths starting with ``prefix``."""
    manifest = Path(manifest)
    root = manifest.parent
    out: list[Item] = []
    with manifest.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if prefix and not row["path"].startswith(prefix):
                continue
            label = (row.get(label_column) or "").strip()
            if not label:
                continue
            source = (row.get(source_column) or "").strip() if source_column else ""
            out.append(Item((root / row["path"]).resolve(), label, source))
    return out


def read_manifest(photos: Path | str) -> list[dict[str, str]]:
    """Every row of ``photos/manifest.csv`` (columns path, label_type, label_taxon, source_label,
    source_repo, source_path, quality_flag), in file order.

    Raises:
        FileNotFoundError: ``photos/manifest.csv`` does not exist.
    """
    with (Path(photos) / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def dhash(img: Image.Image, size: int = 8) -> int:
    """64-bit difference hash: greyscale (size+1)x size thumbnail, 1 bit per left/right comparison."""
    grey = ImageOps.exif_transpose(img).convert("L").resize((size + 1, size), Image.Resampling.LANCZOS)
    a = np.asarray(grey, dtype=np.int16)
    bits = (a[:, 1:] > a[:, :-1]).reshape(-1)
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def near_duplicate_groups(hashes: list[int], max_distance: int = 6) -> list[int]:
    """Group ids (0..G-1) joining photos whose dHashes differ in <= ``max_distance`` bits (transitive)."""
    n = len(hashes)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    arr = np.array(hashes, dtype=np.uint64)
    for i in range(n):
        x = np.bitwise_xor(arr[i + 1 :], arr[i])
        dist = np.array([int(v).bit_count() for v in x], dtype=np.int64) if len(x) else np.zeros(0)
        for j in np.nonzero(dist <= max_distance)[0]:
            a, b = find(i), find(i + 1 + int(j))
            if a != b:
                parent[b] = a
    roots: dict[int, int] = {}
    return [roots.setdefault(find(i), len(roots)) for i in range(n)]


def split_groups(
    labels: list[str],
    groups: list[int],
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> list[str]:
    """Assign every photo to ``"train"``, ``"val"`` or ``"test"``, whole groups at a time.

    Groups are visited in a seeded random order; each goes to the split whose share of the group's
    majority label is furthest below its target fraction, so every class is spread ~70/15/15 while
    no group straddles two splits.
    """
    rng = np.random.default_rng(seed)
    names = ("train", "val", "test")
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    per_label = Counter(labels)
    counts: dict[str, list[int]] = {lab: [0, 0, 0] for lab in per_label}
    out = [""] * len(labels)
    order = list(members)
    rng.shuffle(order)
    for g in order:
        idx = members[g]
        lab = Counter(labels[i] for i in idx).most_common(1)[0][0]
        total = per_label[lab]
        c = counts[lab]
        # deficit = target - current share; the test split is filled first so small classes get one
        deficits = [fractions[k] * total - c[k] for k in range(3)]
        k = int(max((2, 1, 0), key=lambda k: deficits[k]))
        for i in idx:
            out[i] = names[k]
        c[k] += len(idx)
    return out
