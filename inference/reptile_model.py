"""The learned reptile model: a linear head on the backbone's embedding and ImageNet group masses.

Inputs (per photo): the backbone's 1280-d ``embedding`` and the 8 group log-masses of its ImageNet
``logits`` (:func:`group_log_masses`). Output: probabilities over :data:`CLASSES`
(not a reptile, amphibian, crocodilian, lizard, snake, turtle). The head is
``softmax((concat(embedding, log_masses) @ W + b) / T)``: one affine map, a few kB, run in numpy
after the backbone (no second ONNX session).

It is trained and validated leave-one-collection-out on ``../shared/photos`` by
``python -m training.reptile_model`` (figures in training/REPORT.md); the shipped file is
``inference/models/reptile_head.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.postprocess import (
    _TYPE_OF_POSITION,
    AMPHIBIAN_INDICES,
    DINOSAUR_INDICES,
    OBJECT_INDICES,
    OTHER_ANIMAL_INDICES,
    REPTILE_INDICES,
)
from inference.types import REPTILE_TYPES

#: Output classes of the learned model, in output order.
CLASSES: tuple[str, ...] = ("not_reptile", "amphibian", *REPTILE_TYPES)
#: Names of the 8 ImageNet group masses, in :func:`group_log_masses` column order.
MASS_NAMES: tuple[str, ...] = (*REPTILE_TYPES, "amphibian", "dinosaur", "other_animal", "object")
#: Where the shipped head lives.
DEFAULT_HEAD = Path(__file__).resolve().parent / "models" / "reptile_head.npz"


def _logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def group_log_masses(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Log-probability mass of each ImageNet class group.

    Args:
        logits: (N, 1000) or (1000,) ImageNet-1k logits (ILSVRC-2012 order), any float dtype.
        temperature: softmax temperature (> 0).

    Returns:
        (N, 8) float64 log-masses in :data:`MASS_NAMES` order (each <= 0; their exps sum to 1).
    """
    z = np.atleast_2d(np.asarray(logits, np.float64)) / float(temperature)
    z = z - _logsumexp(z)[:, None]
    rep = z[:, REPTILE_INDICES]
    cols = [_logsumexp(rep[:, k == _TYPE_OF_POSITION]) for k in range(len(REPTILE_TYPES))]
    cols += [_logsumexp(z[:, idx]) for idx in (AMPHIBIAN_INDICES, DINOSAUR_INDICES, OTHER_ANIMAL_INDICES,
                                                 OBJECT_INDICES)]
    return np.stack(cols, axis=1)


def features(logits: np.ndarray, embedding: np.ndarray) -> np.ndarray:
    """(N, 1288) float64 model input: embedding (N, 1280) then :func:`group_log_masses` (N, 8)."""
    emb = np.atleast_2d(np.asarray(embedding, np.float64))
    return np.concatenate([emb, group_log_masses(logits)], axis=1)


@dataclass(frozen=True)
class ReptileHead:
    """The learned head: ``softmax((features @ weight + bias) / temperature)`` over :data:`CLASSES`.

    Attributes:
        weight: (1288, 6) float32 (standardisation folded in).
        bias: (6,) float32.
        temperature: > 0, fitted leave-one-collection-out.
        reptile_threshold: P(reptile) = sum of the four reptile classes, in [0, 1], needed to answer
            "reptile" (and P(reptile) >= P(amphibian)).
        sha: SHA-256 prefix of the file it was read from ("" when built in memory).
    """

    weight: np.ndarray
    bias: np.ndarray
    temperature: float
    reptile_threshold: float
    sha: str = ""

    def predict_proba(self, logits: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        """(N, 6) float64 probabilities over :data:`CLASSES`.

        Args:
            logits: (N, 1000) ImageNet logits. embedding: (N, 1280) backbone embeddings.
        """
        z = features(logits, embedding) @ self.weight.astype(np.float64) + self.bias.astype(np.float64)
        z = z / self.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, path: Path | str) -> None:
        """Write the head as ``.npz`` (weight, bias, temperature, reptile_threshold)."""
        np.savez(path, weight=self.weight.astype(np.float32), bias=self.bias.astype(np.float32),
                 temperature=np.float64(self.temperature),
                 reptile_threshold=np.float64(self.reptile_threshold),
                 classes=np.array(CLASSES))

    @classmethod
    def load(cls, path: Path | str = DEFAULT_HEAD) -> ReptileHead:
        """Read a head written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file.
            ValueError: wrong shapes or class list.
        """
        from inference.hashing import file_sha256

        path = Path(path)
        with np.load(path, allow_pickle=False) as d:
            if tuple(str(c) for c in d["classes"]) != CLASSES:
                raise ValueError(f"{path}: classes {list(d['classes'])} are not {list(CLASSES)}")
            w, b = d["weight"], d["bias"]
            if w.shape != (1280 + len(MASS_NAMES), len(CLASSES)) or b.shape != (len(CLASSES),):
                raise ValueError(f"{path}: weight {w.shape} / bias {b.shape} have the wrong shape")
            return cls(w, b, float(d["temperature"]), float(d["reptile_threshold"]), file_sha256(path)[:12])
