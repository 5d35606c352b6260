"""Backbone features of photos (and augmented views of them), cached on disk.

Features come from the shared ONNX backbone through onnxruntime (:class:`ReptileClassifier`'s
``logits`` and ``embedding`` outputs), with exactly the runtime's decoding and preprocessing, so a
head trained on them sees at run time what it saw in training.

Augmented views (view id >= 1) are a seeded random crop, horizontal flip and colour jitter
(brightness, contrast, saturation) done with Pillow; view 0 is the plain photo. The random numbers
are seeded by the file's hash and the view id, so a view is the same on every run.

Cache: ``<cache>/<model sha[:16]>/<file sha[:2]>/<file sha>-a<AUG_VERSION>v<view>.npy``, one float32
vector ``[logits (1000), embedding (1280)]`` per view; keyed by file hash, augmentation id and model
sha, so a changed photo, recipe or model never reuses a stale vector.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from inference.classifier import DEFAULT_MODEL, ReptileClassifier
from inference.hashing import file_sha256
from inference.preprocess import ImageLimits, decode_image, to_model_input
from training.dataset import dhash

log = logging.getLogger(__name__)

#: Bump when the augmentation recipe changes (part of the cache key).
AUG_VERSION = 1
DEFAULT_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "embeddings"
_LIMITS = ImageLimits(max_bytes=60_000_000, max_pixels=80_000_000, min_side=16)


def augment(img: Image.Image, view: int, seed_text: str) -> Image.Image:
    """View ``view`` of ``img``: 0 = unchanged; otherwise seeded crop + flip + colour jitter."""
    if view == 0:
        return img
    seed = int.from_bytes(hashlib.sha256(f"{seed_text}:{AUG_VERSION}:{view}".encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    w, h = img.size
    area = rng.uniform(0.55, 1.0) * w * h
    ratio = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    cw = int(min(w, round(np.sqrt(area * ratio))))
    ch = int(min(h, round(np.sqrt(area / ratio))))
    left = int(rng.integers(0, w - cw + 1))
    top = int(rng.integers(0, h - ch + 1))
    out = img.crop((left, top, left + cw, top + ch))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    out = ImageEnhance.Brightness(out).enhance(float(rng.uniform(0.75, 1.25)))
    out = ImageEnhance.Contrast(out).enhance(float(rng.uniform(0.75, 1.25)))
    out = ImageEnhance.Color(out).enhance(float(rng.uniform(0.7, 1.3)))
    return out


@dataclass
class Features:
    """Features of a list of photos (rows in input order, then view order).

    Attributes:
        logits: (M, 1000) ImageNet logits.
        embedding: (M, 1280) backbone embeddings.
        item: (M,) index of the photo each row belongs to.
        view: (M,) view id of each row (0 = plain photo).
        file_sha: per photo, SHA-256 of the file.
        dhash: per photo, 64-bit perceptual hash of the plain photo (None when not computed).
        failed: indices of photos that could not be decoded (no rows).
    """

    logits: np.ndarray
    embedding: np.ndarray
    item: np.ndarray
    view: np.ndarray
    file_sha: list[str]
    dhash: list[int | None]
    failed: list[int]


class FeatureExtractor:
    """Compute (or load from the cache) features of photos with the shared backbone."""

    def __init__(
        self,
        model_path: Path | None = None,
        cache_dir: Path | None = DEFAULT_CACHE,
        threads: int = 2,
        batch_size: int = 16,
    ) -> None:
        self.clf = ReptileClassifier(model_path or DEFAULT_MODEL, threads=threads)
        self.model_sha = file_sha256(self.clf.model_path)
        self.cache_dir = Path(cache_dir) / self.model_sha[:16] if cache_dir else None
        self.batch_size = batch_size

    def _cache_path(self, sha: str, view: int) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / sha[:2] / f"{sha}-a{AUG_VERSION}v{view}.npy"

    def features(
        self, paths: Sequence[Path], views: Sequence[Sequence[int]], *, progress: bool = True
    ) -> Features:
        """Features of ``views[i]`` of ``paths[i]`` for every photo (decoding each photo once)."""
        rows: list[np.ndarray | None] = []
        item_ids: list[int] = []
        view_ids: list[int] = []
        pending: list[tuple[int, np.ndarray, Path | None]] = []  # (row, input, cache path)
        shas: list[str] = []
        hashes: list[int | None] = []
        failed: list[int] = []
        dhash_cache = self.cache_dir / "dhash.tsv" if self.cache_dir else None
        known_dhash: dict[str, int] = {}
        if dhash_cache and dhash_cache.exists():
            for line in dhash_cache.read_text().splitlines():
                k, _, v = line.partition("\t")
                known_dhash[k] = int(v)
        new_dhash: dict[str, int] = {}

        def flush() -> None:
            if not pending:
                return
            batch = np.concatenate([p[1] for p in pending])
            logits, emb = self.clf.predict_logits(batch)
            for (row, _, cp), lg, em in zip(pending, logits, emb, strict=True):
                vec = np.concatenate([lg, em]).astype(np.float32)
                rows[row] = vec
                if cp is not None:
                    cp.parent.mkdir(parents=True, exist_ok=True)
                    tmp = cp.with_suffix(".tmp.npy")
                    np.save(tmp, vec)
                    tmp.replace(cp)
            pending.clear()

        for i, (path, vs) in enumerate(zip(paths, views, strict=True)):
            sha = file_sha256(path)
            shas.append(sha)
            cached = [self._cache_path(sha, v) for v in vs]
            need_decode = sha not in known_dhash or any(c is None or not c.exists() for c in cached)
            img = None
            if need_decode:
                try:
                    img = decode_image(Path(path).read_bytes(), max_bytes=_LIMITS.max_bytes,
                                       max_pixels=_LIMITS.max_pixels, min_side=_LIMITS.min_side,
                                       draft_size=self.clf.info.resize_size)
                except Exception as exc:  # ImageRejected or unreadable file
                    log.warning("skipping %s: %s", path, exc)
                    failed.append(i)
                    hashes.append(None)
                    continue
                if sha not in known_dhash:
                    new_dhash[sha] = known_dhash[sha] = dhash(img)
            hashes.append(known_dhash[sha])
            for v, cp in zip(vs, cached, strict=True):
                rows.append(None)
                item_ids.append(i)
                view_ids.append(v)
                if cp is not None and cp.exists():
                    rows[-1] = np.load(cp)
                    continue
                assert img is not None
                x = to_model_input(augment(img, v, sha), self.clf.info.input_size, self.clf.info.resize_size)
                pending.append((len(rows) - 1, x, cp))
                if len(pending) >= self.batch_size:
                    flush()
            if progress and (i + 1) % 100 == 0:
                log.info("features: %d / %d photos", i + 1, len(paths))
        flush()
        if dhash_cache and new_dhash:
            dhash_cache.parent.mkdir(parents=True, exist_ok=True)
            with dhash_cache.open("a") as fh:
                fh.writelines(f"{k}\t{v}\n" for k, v in new_dhash.items())
        mat = np.stack(rows) if rows else np.zeros((0, 2280), np.float32)
        return Features(
            logits=mat[:, :1000], embedding=mat[:, 1000:], item=np.array(item_ids, dtype=np.int64),
            view=np.array(view_ids, dtype=np.int64), file_sha=shas, dhash=hashes, failed=failed,
        )
