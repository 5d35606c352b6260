"""Head-only species packs: several packs on one backbone run.

A head-only pack folder (written by ``python -m training.train``) holds ``head.npz`` (a linear head
``softmax((embedding @ weight + bias) / temperature)`` on the base model's 1280-d embedding, a few kB),
``labels.json``, ``taxa.json`` and ``pack.json`` (thresholds, held-out metrics, the base model's sha).
The backbone runs **once** per photo; every loaded pack's head is applied to that embedding
(:class:`StackedClassifier`).

Decision rule (:func:`apply_packs`), for a photo the base model calls a reptile:

* the packs covering the decided type score the embedding; the pack with the highest top probability
  names the candidates (``Identification.candidates``: its taxa with their probabilities), and the core
  rolls them up the taxonomy;
* ``confident`` needs the pack's calibrated ``confident`` threshold, its venom guard (a harmless top
  answer only when the venomous taxa together stay at or below ``venom_guard``), and the open-set
  rule: a top probability below the pack's ``unknown`` threshold (calibrated leaving one species out)
  means "a species this pack does not know", so the species is never asserted and the roll-up falls
  back to the genus, family or type;
* a pack may correct the type only when its ``type_correction`` threshold is set in ``pack.json``
  (calibrated on held-out photos of other types) and its top probability reaches it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from inference.classifier import ReptileClassifier
from inference.hashing import file_sha256
from inference.pack import PackError, PackTaxon, check_pack_taxa, read_pack_files
from inference.postprocess import postprocess
from inference.preprocess import ImageLimits, decode_image
from inference.types import Identification, TaxonScore

#: Default file name of a pack's head weights.
HEAD_FILE = "head.npz"


def is_head_only(pack_dir: Path | str) -> bool:
    """True when the pack folder carries a head file rather than a composed ONNX graph."""
    return (Path(pack_dir) / HEAD_FILE).exists()


@dataclass(frozen=True)
class PackHead:
    """One loaded head-only pack.

    Attributes:
        name: ``"<pack name>@<head sha256 prefix>"``.
        taxa: the C classes, in output order.
        taxon_rows: one species-database row per class (``taxa.json``, not read here), or ``()``.
        weight: (1280, C) float32. bias: (C,) float32. temperature: > 0.
        confident: "pretty sure" threshold on the top probability, in [0, 1].
        venom_guard: most venomous mass a harmless confident answer may leave, in [0, 1].
        unknown: open-set threshold: a top probability below it means "not one of this pack's species".
        type_correction: top probability from which the pack may change the base model's type, or
            ``None`` (never).
    """

    name: str
    taxa: tuple[PackTaxon, ...]
    taxon_rows: tuple[dict[str, Any], ...]
    weight: np.ndarray
    bias: np.ndarray
    temperature: float
    confident: float
    venom_guard: float
    unknown: float
    type_correction: float | None

    @property
    def types(self) -> set[str]:
        """The reptile types the pack covers."""
        return {t.reptile_type for t in self.taxa}

    def probs(self, embedding: np.ndarray) -> np.ndarray:
        """(N, C) float64 probabilities from (N, 1280) embeddings (or one (1280,) vector -> (1, C))."""
        z = np.atleast_2d(np.asarray(embedding, np.float64)) @ self.weight.astype(np.float64)
        z = (z + self.bias.astype(np.float64)) / self.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    @classmethod
    def load(cls, pack_dir: Path | str) -> PackHead:
        """Read and check a head-only pack (its labels and rows are checked against the species
        database by the species repository, :meth:`bot.core.species.SpeciesRepository.open`).

        Raises:
            FileNotFoundError: a pack file is missing.
            PackError: the files disagree with each other or with their sha-256.
        """
        pack_dir = Path(pack_dir)
        meta, pack_taxa = read_pack_files(pack_dir)
        check_pack_taxa(pack_taxa, pack_dir)
        head_path = pack_dir / str(meta.get("head_file", HEAD_FILE))
        if not head_path.exists():
            raise FileNotFoundError(head_path)
        sha = file_sha256(head_path)
        if sha != meta.get("head_sha256"):
            raise PackError(f"{head_path}: sha256 {sha[:12]} does not match pack.json")
        with np.load(head_path, allow_pickle=False) as d:
            w, b, t = d["weight"], d["bias"], float(d["temperature"])
        if w.ndim != 2 or w.shape[1] != len(pack_taxa.labels) or b.shape != (w.shape[1],):
            raise PackError(f"{head_path}: weight {w.shape} / bias {b.shape} do not fit "
                            f"{len(pack_taxa.labels)} taxa")
        th = meta.get("thresholds", {})
        tc = th.get("type_correction")
        return cls(
            name=f"{meta.get('name', pack_dir.name)}@{sha[:12]}", taxa=tuple(pack_taxa.labels),
            taxon_rows=pack_taxa.rows, weight=w, bias=b, temperature=t,
            confident=float(th.get("confident", 0.9)), venom_guard=float(th.get("venom_guard", 0.0)),
            unknown=float(th.get("unknown", 0.0)), type_correction=None if tc is None else float(tc),
        )


def load_pack_heads(pack_dirs: Sequence[Path | str]) -> list[PackHead]:
    """Load several head-only packs (see :meth:`PackHead.load`); raises as it does."""
    return [PackHead.load(p) for p in pack_dirs]


def apply_packs(base: Identification, embedding: np.ndarray, heads: Sequence[PackHead]) -> Identification:
    """Combine the base model's answer with the packs' heads (module docstring) for one photo.

    Args:
        base: the base model's :class:`Identification` of the photo.
        embedding: that photo's (1280,) backbone embedding.
        heads: the loaded packs.
    """
    if not base.is_reptile or not heads:
        return base
    best: tuple[float, PackHead, np.ndarray] | None = None
    for h in heads:
        p = h.probs(embedding)[0]
        covers = base.reptile_type in h.types
        corrects = h.type_correction is not None and float(p.max()) >= h.type_correction
        if (covers or corrects) and (best is None or float(p.max()) > best[0]):
            best = (float(p.max()), h, p)
    if best is None:
        return base
    top_p, h, p = best
    order = np.argsort(-p)
    chosen = h.taxa[int(order[0])].reptile_type
    cands = tuple(TaxonScore(h.taxa[i].scientific_name, h.taxa[i].rank, h.taxa[i].reptile_type,  # type: ignore[arg-type]
                             float(p[i]), h.taxa[i].common_name) for i in order)
    venomous = np.array([t.venom == "venomous" for t in h.taxa])
    top_venomous = bool(venomous[int(order[0])])
    confident = (top_p >= h.confident and top_p >= h.unknown
                 and (top_venomous or float(p[venomous].sum()) <= h.venom_guard))
    return dataclasses.replace(
        base, reptile_type=chosen, top=cands[:3], candidates=cands, confident=confident,
        confident_threshold=max(h.confident, h.unknown), model=f"{base.model}+{h.name}",
    )


class StackedClassifier:
    """The base classifier plus head-only packs: one backbone run per photo, every pack's head after it.

    Same interface as :class:`ReptileClassifier` for the worker pool (``identify``, ``name``).

    Args:
        base: the base classifier (its ``logits`` gate the photo; its ``embedding`` feeds the heads).
        heads: loaded packs (:func:`load_pack_heads`).
    """

    def __init__(self, base: ReptileClassifier, heads: Sequence[PackHead]) -> None:
        self.base = base
        self.heads = list(heads)
        self.limits = base.limits

    @property
    def name(self) -> str:
        """``"<base name>+<pack>+<pack>..."``."""
        return "+".join([self.base.name, *(h.name for h in self.heads)])

    @property
    def taxa(self) -> list[PackTaxon]:
        """Every pack's output classes (labels), for the species repository's check."""
        return [t for h in self.heads for t in h.taxa]

    @property
    def taxon_rows(self) -> tuple[dict[str, Any], ...]:
        """Every pack's taxon rows, for the species repository."""
        return tuple(r for h in self.heads for r in h.taxon_rows)

    def identify_image(self, img: Image.Image, *, _t0: float | None = None) -> Identification:
        """Identify a decoded image with the base model and every pack."""
        t0 = time.perf_counter() if _t0 is None else _t0
        logits, emb = self.base.predict_logits(self.base.preprocess(img))
        base = postprocess(logits[0], self.base.info.calibration, self.base.info.labels, model=self.base.name)
        out = apply_packs(base, emb[0], self.heads)
        return dataclasses.replace(out, elapsed_ms=(time.perf_counter() - t0) * 1000.0)

    def identify(self, data: bytes, limits: ImageLimits | None = None) -> Identification:
        """Decode untrusted bytes and identify the photo (raises ImageRejected for bad input)."""
        lim = limits or self.limits
        t0 = time.perf_counter()
        img = decode_image(data, max_bytes=lim.max_bytes, max_pixels=lim.max_pixels,
                           min_side=lim.min_side, draft_size=self.base.info.resize_size)
        return self.identify_image(img, _t0=t0)
