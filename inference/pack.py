"""Species packs at run time: :class:`PackClassifier`.

A species pack is a folder written by ``python -m training.train``:

* ``model.onnx``: ONE graph, the shared backbone + a linear head + temperature + softmax, with outputs
  ``probs`` (N, C) over the pack's taxa, ``logits`` (N, 1000) (the base model's ImageNet logits) and
  ``embedding`` (N, 1280);
* ``labels.json``: the C taxa in output order (scientific name, common name, rank, type, venom);
* ``pack.json``: model sha-256, preprocessing, temperature, thresholds and held-out metrics.

Decision rule (one onnxruntime session per photo):

* the reptile / not-reptile gate, the reptile type and the non-reptile answer come from the ImageNet
  ``logits`` exactly as with the base model (:func:`inference.postprocess.postprocess`, base
  calibration);
* when the photo is a reptile of a type the pack covers (e.g. "snake" for a snake pack), ``top`` is
  the pack's 3 most likely taxa (of the decided type first) and ``confident`` is true only when the
  top probability reaches the pack's ``confident`` threshold **and**, if the top taxon is not
  venomous, all venomous taxa of the pack together stay at or below its ``venom_guard``;
* a reptile of another type keeps the base model's ImageNet taxa.

Only onnxruntime, numpy and Pillow are needed (no ``onnx``, no scikit-learn).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from inference.classifier import DEFAULT_MODEL, load_model_info
from inference.hashing import file_sha256
from inference.postprocess import postprocess
from inference.preprocess import ImageLimits, decode_image, to_model_input
from inference.types import Identification, TaxonScore

PACK_FORMAT = 1


@dataclass(frozen=True, slots=True)
class PackTaxon:
    """One output class of a pack (a row of ``labels.json``)."""

    scientific_name: str
    common_name: str
    rank: str
    reptile_type: str
    venom: str


class PackError(ValueError):
    """The pack folder is incomplete, corrupt or inconsistent with the species database."""


def check_taxa_in_db(taxa: list[PackTaxon], db_path: Path) -> None:
    """Raise :class:`PackError` unless every pack taxon is a species-database row with the same
    rank, type and venom status (the venom guard was calibrated on those)."""
    db_path = Path(db_path)
    if not db_path.exists():
        raise FileNotFoundError(db_path)
    conn = sqlite3.connect(f"file:{db_path.resolve()}?mode=ro", uri=True)
    try:
        problems = []
        for t in taxa:
            row = conn.execute(
                "SELECT rank, reptile_type, venom FROM taxa WHERE scientific_name = ?", (t.scientific_name,)
            ).fetchone()
            if row is None:
                problems.append(f"{t.scientific_name}: not in the species database")
            elif tuple(row) != (t.rank, t.reptile_type, t.venom):
                problems.append(f"{t.scientific_name}: pack says {(t.rank, t.reptile_type, t.venom)}, "
                                f"database says {tuple(row)} (retrain the pack)")
    finally:
        conn.close()
    if problems:
        raise PackError(f"species pack does not match {db_path}: " + "; ".join(problems))


class PackClassifier:
    """Identify reptiles with a species pack (same interface as :class:`ReptileClassifier`).

    Args:
        pack_dir: the pack folder.
        species_db: when given, every pack taxon must be in this ``species.sqlite`` (else
            :class:`PackError` at load).
        base_meta_path: json of the base model, for the ImageNet labels and the gate calibration
            (default: the committed ``efficientnet_lite0.json``).
        threads / intra_op_num_threads: onnxruntime intra-op threads (default 1).
        limits: default decoding limits.
        verify_sha: check ``model.onnx`` against ``pack.json`` (default true).

    Raises:
        FileNotFoundError: a pack file is missing. PackError: the pack is inconsistent.
    """

    def __init__(
        self,
        pack_dir: Path | str,
        *,
        species_db: Path | str | None = None,
        base_meta_path: Path | str | None = None,
        intra_op_num_threads: int = 1,
        threads: int | None = None,
        limits: ImageLimits | None = None,
        verify_sha: bool = True,
    ) -> None:
        import onnxruntime as ort

        self.pack_dir = Path(pack_dir)
        meta_file = self.pack_dir / "pack.json"
        labels_file = self.pack_dir / "labels.json"
        for f in (meta_file, labels_file):
            if not f.exists():
                raise FileNotFoundError(f)
        self.meta: dict[str, Any] = json.loads(meta_file.read_text())
        if int(self.meta.get("format", 0)) != PACK_FORMAT:
            raise PackError(f"{meta_file}: unsupported pack format {self.meta.get('format')}")
        labels = json.loads(labels_file.read_text())
        self.taxa = [PackTaxon(**{k: t[k] for k in PackTaxon.__slots__}) for t in labels["taxa"]]
        self.model_path = self.pack_dir / self.meta["model_file"]
        if not self.model_path.exists():
            raise FileNotFoundError(self.model_path)
        sha = file_sha256(self.model_path)
        if verify_sha and sha != self.meta["model_sha256"]:
            raise PackError(f"{self.model_path}: sha256 {sha[:12]} does not match pack.json")
        lite = ([127.0] * 3, [128.0] * 3)
        if (self.meta.get("mean", lite[0]), self.meta.get("std", lite[1])) != lite:
            raise PackError(f"{meta_file}: only the Lite normalisation (x-127)/128 is implemented")
        if species_db is not None:
            check_taxa_in_db(self.taxa, Path(species_db))
        base_meta = Path(base_meta_path) if base_meta_path else DEFAULT_MODEL.with_suffix(".json")
        self.base_info = load_model_info(DEFAULT_MODEL, base_meta)
        th = self.meta.get("thresholds", {})
        self.confident_threshold = float(th.get("confident", 0.9))
        self.venom_guard = float(th.get("venom_guard", 0.0))
        self.input_name = str(self.meta.get("input_name", "input"))
        self.input_size = int(self.meta["input_size"])
        self.resize_size = int(self.meta.get("resize_size", self.input_size + 32))
        self.limits = limits or ImageLimits()
        self._venomous = np.array([t.venom == "venomous" for t in self.taxa])
        self._types = {t.reptile_type for t in self.taxa}
        self._name = f"pack:{self.meta.get('name', self.pack_dir.name)}@{sha[:12]}"

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads if threads is not None else intra_op_num_threads))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(self.model_path), sess_options=opts,
                                             providers=["CPUExecutionProvider"])
        outputs = [o.name for o in self._session.get_outputs()]
        if outputs[:2] != ["probs", "logits"]:
            raise PackError(f"{self.model_path}: expected outputs probs, logits; got {outputs}")
        n_out = self._session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(self.taxa):
            raise PackError(f"{self.model_path}: {n_out} outputs but {len(self.taxa)} taxa in labels.json")

    @property
    def name(self) -> str:
        """``"pack:<name>@<model sha256 prefix>"``."""
        return self._name

    @property
    def model_id(self) -> str:
        """Alias of :attr:`name`."""
        return self._name

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, S, S) float32 input -> ``(probs (N, C), imagenet_logits (N, 1000))``."""
        s = self.input_size
        if batch.ndim != 4 or batch.shape[1:] != (3, s, s):
            raise ValueError(f"expected (N, 3, {s}, {s}), got {batch.shape}")
        probs, logits = self._session.run(
            ["probs", "logits"], {self.input_name: np.ascontiguousarray(batch, np.float32)}
        )
        return probs, logits

    def confident(self, probs: np.ndarray) -> bool:
        """The pack's "pretty sure" rule for one probability vector (C,)."""
        top = int(np.argmax(probs))
        if probs[top] < self.confident_threshold:
            return False
        return bool(self._venomous[top]) or float(probs[self._venomous].sum()) <= self.venom_guard

    def decide(self, probs: np.ndarray, logits: np.ndarray, *, elapsed_ms: float = 0.0) -> Identification:
        """Combine the base gate (from ``logits``) with the pack's taxa (from ``probs``) for one photo."""
        base = postprocess(logits, self.base_info.calibration, self.base_info.labels,
                           model=self.name, elapsed_ms=elapsed_ms)
        if not base.is_reptile or base.reptile_type not in self._types:
            return base
        p = np.asarray(probs, dtype=np.float64).reshape(-1)
        chosen = base.reptile_type
        order = sorted(range(len(p)), key=lambda i: (self.taxa[i].reptile_type != chosen, -p[i]))[:3]
        top = tuple(
            TaxonScore(
                scientific_name=self.taxa[i].scientific_name,
                rank=self.taxa[i].rank,
                reptile_type=self.taxa[i].reptile_type,  # type: ignore[arg-type]
                confidence=float(p[i]),
                label=self.taxa[i].common_name,
            )
            for i in order
        )
        return dataclasses.replace(base, top=top, confident=self.confident(p))

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """RGB image -> (1, 3, S, S) float32 model input."""
        return to_model_input(img, self.input_size, self.resize_size)

    def identify_image(self, img: Image.Image, *, _t0: float | None = None) -> Identification:
        """Identify a decoded image."""
        t0 = time.perf_counter() if _t0 is None else _t0
        probs, logits = self.predict(self.preprocess(img))
        return self.decide(probs[0], logits[0], elapsed_ms=(time.perf_counter() - t0) * 1000.0)

    def identify(self, data: bytes, limits: ImageLimits | None = None) -> Identification:
        """Decode untrusted bytes and identify the photo (raises ImageRejected for bad input)."""
        lim = limits or self.limits
        t0 = time.perf_counter()
        img = decode_image(data, max_bytes=lim.max_bytes, max_pixels=lim.max_pixels,
                           min_side=lim.min_side, draft_size=self.resize_size)
        return self.identify_image(img, _t0=t0)
