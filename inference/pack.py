"""Species packs at run time: :class:`PackClassifier`.

A species pack is a folder written by ``python -m training.train``:

* ``head.npz`` (head-only packs, the default since issue 10): the linear head's weight (1280, C), bias
  (C,) and temperature, applied to the base model's embedding (one backbone run; several packs at
  once: :mod:`inference.pack_heads`); or, for packs with a fine-tuned backbone, ``model.onnx``: ONE
  graph, the backbone + a linear head + temperature + softmax, with outputs ``probs`` (N, C),
  ``logits`` (N, 1000) (the base model's ImageNet logits) and ``embedding`` (N, 1280);
* ``labels.json``: the C taxa in output order (scientific name, common name, rank, type, venom);
* ``taxa.json`` (packs written since taxon rows were added; optional): one full species-database row
  per label, in the same order (its columns are the species repository's business:
  :data:`bot.core.species.TAXON_COLUMNS`), plus a ``provenance`` list saying where each row came from
  (``species.sqlite``, a ``--taxa`` TOML file, or a minimal row with no facts);
* ``pack.json``: model sha-256, preprocessing, temperature, thresholds and held-out metrics.

Taxon rows: a pack may name taxa the species database lacks (e.g. a folder of Phelsuma geckos). This
module only reads the pack's files: it never opens ``species.sqlite`` and does not know its columns.
The labels (:attr:`PackClassifier.taxa`) and the ``taxa.json`` rows (:attr:`PackClassifier.taxon_rows`)
are handed to the bot's species repository (:meth:`bot.core.species.SpeciesRepository.open`), which
serves the rows for taxa missing from ``species.sqlite``; a taxon that *is* in the database keeps the
database's reviewed facts, and its rank, type and venom must match the pack's label (the venom guard
was calibrated on them) or the repository refuses the pack. An old pack without ``taxa.json`` still
loads, but then every one of its taxa must be in the database.

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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from inference.classifier import DEFAULT_MODEL, ReptileClassifier, load_model_info
from inference.hashing import file_sha256
from inference.postprocess import postprocess
from inference.preprocess import ImageLimits, decode_image, to_model_input
from inference.session import open_session
from inference.types import Identification, TaxonScore

PACK_FORMAT = 1
#: Default name of the taxon-row file of a pack (``pack.json`` may name another in ``taxa_file``).
TAXA_FILE = "taxa.json"
#: The fields of a ``taxa.json`` row this module reads: its name and the label fields it must repeat.
#: The other columns are passed on unread to the species repository.
_LABEL_FIELDS = ("scientific_name", "rank", "reptile_type", "venom")


@dataclass(frozen=True, slots=True)
class PackTaxon:
    """One output class of a pack (a row of ``labels.json``)."""

    scientific_name: str
    common_name: str
    rank: str
    reptile_type: str
    venom: str


class PackError(ValueError):
    """The pack folder is incomplete, corrupt or inconsistent (with itself or the species database)."""


@dataclass(frozen=True, slots=True)
class PackTaxa:
    """The taxa of a pack, read by :func:`load_pack_taxa`.

    Attributes:
        labels: the C output classes, in output order (``labels.json``).
        rows: full taxon rows as ``taxa.json`` has them (dicts keyed by the species table's columns,
            not read here), one per label in the same order; empty for an old pack without
            ``taxa.json``.
        provenance: per row, ``{"scientific_name", "source", "detail"}`` as written by training
            (``source`` is ``"species.sqlite"``, ``"taxa-toml"`` or ``"minimal"``); may be empty.
    """

    labels: tuple[PackTaxon, ...]
    rows: tuple[dict[str, Any], ...] = ()
    provenance: tuple[dict[str, Any], ...] = ()


def _label_key(t: PackTaxon | dict[str, Any]) -> tuple[str, str, str]:
    if isinstance(t, PackTaxon):
        return t.rank, t.reptile_type, t.venom
    return t["rank"], t["reptile_type"], t["venom"]


def read_pack_files(pack_dir: Path | str) -> tuple[dict[str, Any], PackTaxa]:
    """Parse ``pack.json``, ``labels.json`` and (when present) the taxa file, without checking them
    against each other (see :func:`check_pack_taxa`).

    Returns:
        ``(pack.json dict, PackTaxa)``.

    Raises:
        FileNotFoundError: ``pack.json`` or ``labels.json`` is missing, or ``pack.json`` names a
            ``taxa_file`` that is missing.
        PackError: a file is not valid JSON or lacks a required key.
    """
    pack_dir = Path(pack_dir)
    meta_file, labels_file = pack_dir / "pack.json", pack_dir / "labels.json"
    for f in (meta_file, labels_file):
        if not f.exists():
            raise FileNotFoundError(f)
    try:
        meta = json.loads(meta_file.read_text())
        labels = json.loads(labels_file.read_text())
        taxa = tuple(PackTaxon(**{k: t[k] for k in PackTaxon.__slots__}) for t in labels["taxa"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise PackError(f"{pack_dir}: unreadable pack.json or labels.json ({exc!r})") from exc
    taxa_file = pack_dir / str(meta.get("taxa_file", TAXA_FILE))
    if "taxa_file" in meta and not taxa_file.exists():
        raise FileNotFoundError(taxa_file)
    if not taxa_file.exists():
        return meta, PackTaxa(taxa)
    try:
        data = json.loads(taxa_file.read_text())
        rows = tuple(dict(r) for r in data["taxa"])
        provenance = tuple(dict(p) for p in data.get("provenance", ()))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise PackError(f"{taxa_file}: unreadable taxon rows ({exc!r})") from exc
    return meta, PackTaxa(taxa, rows, provenance)


def check_pack_taxa(pack_taxa: PackTaxa, where: Path | str = "species pack") -> None:
    """Raise :class:`PackError` unless the taxon rows (when there are any) match the labels one to
    one: same scientific names in the same order, same rank, type and venom. (Whether a row has the
    species table's columns is checked by the species repository.)"""
    if not pack_taxa.rows:
        return
    problems = []
    if len(pack_taxa.rows) != len(pack_taxa.labels):
        problems.append(f"{len(pack_taxa.rows)} taxon rows for {len(pack_taxa.labels)} labels")
    for label, row in zip(pack_taxa.labels, pack_taxa.rows, strict=False):
        if missing := [k for k in _LABEL_FIELDS if k not in row]:
            problems.append(f"{row.get('scientific_name')}: taxon row lacks {missing}")
        elif row["scientific_name"] != label.scientific_name:
            problems.append(f"labels.json has {label.scientific_name} where the taxon rows have "
                            f"{row['scientific_name']}")
        elif _label_key(row) != _label_key(label):
            problems.append(f"{label.scientific_name}: labels.json says {_label_key(label)}, its taxon row "
                            f"says {_label_key(row)}")
    if problems:
        raise PackError(f"{where}: labels and taxon rows disagree: " + "; ".join(problems))


def load_pack_taxa(pack_dir: Path | str) -> PackTaxa:
    """The taxa of a pack, checked against each other (:func:`check_pack_taxa`), without loading its
    model. Cheap: for look-ups that need no photos. Hand ``labels`` and ``rows`` to
    :meth:`bot.core.species.SpeciesRepository.open`, which checks them against the database.

    Raises:
        FileNotFoundError: a pack file is missing. PackError: as the check.
    """
    _, pack_taxa = read_pack_files(pack_dir)
    check_pack_taxa(pack_taxa, pack_dir)
    return pack_taxa


class PackClassifier:
    """Identify reptiles with a species pack (same interface as :class:`ReptileClassifier`).

    Args:
        pack_dir: the pack folder.
        base_meta_path: json of the base model, for the ImageNet labels and the gate calibration
            (default: the committed ``efficientnet_lite0.json``).
        threads: onnxruntime intra-op threads (default 1).
        limits: default decoding limits.
        verify_sha: check ``model.onnx`` against ``pack.json`` (default true).

    Attributes:
        taxa: the C output classes (:class:`PackTaxon`), in output order.
        taxon_rows: full taxon rows as ``taxa.json`` has them (values str / int / float / None), one
            per class; ``()`` for an old pack without ``taxa.json``. Hand them, with :attr:`taxa`, to
            the bot's species repository, which checks them and keeps the database's rows where it
            has them.

    Raises:
        FileNotFoundError: a pack file is missing. PackError: the pack is inconsistent.
    """

    def __init__(
        self,
        pack_dir: Path | str,
        *,
        base_meta_path: Path | str | None = None,
        threads: int = 1,
        limits: ImageLimits | None = None,
        verify_sha: bool = True,
    ) -> None:
        self.pack_dir = Path(pack_dir)
        meta_file = self.pack_dir / "pack.json"
        self.meta, pack_taxa = read_pack_files(self.pack_dir)
        if int(self.meta.get("format", 0)) != PACK_FORMAT:
            raise PackError(f"{meta_file}: unsupported pack format {self.meta.get('format')}")
        self.taxa = list(pack_taxa.labels)
        self.taxon_rows: tuple[dict[str, Any], ...] = pack_taxa.rows
        head_only = "head_file" in self.meta
        file_key, sha_key = ("head_file", "head_sha256") if head_only else ("model_file", "model_sha256")
        try:
            self.model_path = self.pack_dir / self.meta[file_key]
        except KeyError as exc:
            raise PackError(f"{meta_file}: names neither a head_file nor a model_file") from exc
        if not self.model_path.exists():
            raise FileNotFoundError(self.model_path)
        sha = file_sha256(self.model_path)
        if verify_sha and sha != self.meta.get(sha_key):
            raise PackError(f"{self.model_path}: sha256 {sha[:12]} does not match pack.json")
        lite = ([127.0] * 3, [128.0] * 3)
        if (self.meta.get("mean", lite[0]), self.meta.get("std", lite[1])) != lite:
            raise PackError(f"{meta_file}: only the Lite normalisation (x-127)/128 is implemented")
        check_pack_taxa(pack_taxa, self.pack_dir)
        base_meta = Path(base_meta_path) if base_meta_path else DEFAULT_MODEL.with_suffix(".json")
        self.base_info = load_model_info(DEFAULT_MODEL, base_meta)
        th = self.meta.get("thresholds", {})
        self.confident_threshold = float(th.get("confident", 0.9))
        self.venom_guard = float(th.get("venom_guard", 0.0))
        self.unknown_threshold = float(th.get("unknown", 0.0))
        self.input_name = str(self.meta.get("input_name", "input"))
        self.input_size = int(self.meta["input_size"])
        self.resize_size = int(self.meta.get("resize_size", self.input_size + 32))
        self.limits = limits or ImageLimits()
        self._venomous = np.array([t.venom == "venomous" for t in self.taxa])
        self._types = {t.reptile_type for t in self.taxa}
        self._name = f"pack:{self.meta.get('name', self.pack_dir.name)}@{sha[:12]}"

        n_threads = max(1, int(threads))
        self._head: tuple[np.ndarray, np.ndarray, float] | None = None
        if head_only:  # the base model's session, then the head in numpy (inference.pack_heads)
            try:
                with np.load(self.model_path, allow_pickle=False) as d:
                    w, b, t = d["weight"], d["bias"], float(d["temperature"])
            except (OSError, ValueError, KeyError) as exc:
                raise PackError(f"{self.model_path}: unreadable head ({exc!r})") from exc
            if w.ndim != 2 or w.shape[1] != len(self.taxa) or b.shape != (len(self.taxa),):
                raise PackError(f"{self.model_path}: head {w.shape} does not fit {len(self.taxa)} taxa")
            self._head = (w.astype(np.float64), b.astype(np.float64), t)
            self._base = ReptileClassifier(DEFAULT_MODEL, base_meta, threads=n_threads, limits=self.limits)
            return
        self._session = open_session(self.model_path, n_threads)
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

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, S, S) float32 input -> ``(probs (N, C), imagenet_logits (N, 1000))``."""
        s = self.input_size
        if batch.ndim != 4 or batch.shape[1:] != (3, s, s):
            raise ValueError(f"expected (N, 3, {s}, {s}), got {batch.shape}")
        if self._head is not None:
            logits, emb = self._base.predict_logits(batch)
            w, bias, t = self._head
            z = (emb.astype(np.float64) @ w + bias) / t
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=1, keepdims=True), logits
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
        candidates = tuple(
            TaxonScore(self.taxa[i].scientific_name, self.taxa[i].rank,
                       self.taxa[i].reptile_type,  # type: ignore[arg-type]
                       float(p[i]), self.taxa[i].common_name)
            for i in np.argsort(-p) if self.taxa[i].reptile_type == chosen
        )
        confident = self.confident(p) and float(p.max()) >= self.unknown_threshold  # open set
        return dataclasses.replace(base, top=top, confident=confident, candidates=candidates,
                                   confident_threshold=max(self.confident_threshold, self.unknown_threshold))

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
