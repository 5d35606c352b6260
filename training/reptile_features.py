"""Features, labels and collections of ``../shared/photos`` for the learned reptile model.

Everything here is pure numpy over cached backbone outputs (:mod:`training.embed`): the 1000
ImageNet logits and the 1280-d embedding of each photo.

* :func:`group_log_masses` turns logits into 8 log-probability masses (crocodilian, lizard, snake,
  turtle, amphibian, dinosaur, other animal, object) with the same class groups as the ImageNet
  mapping (:mod:`inference.postprocess`);
* :data:`CLASSES` are the six outputs of the learned model (not a reptile, amphibian, crocodilian,
  lizard, snake, turtle); :func:`features` is its input;
* :func:`collection_of` names the collection of a manifest row for leave-one-collection-out
  validation (``source_repo``, with the two repositories that hold copies of one web collection
  merged, as ``../shared/README.md`` says);
* :func:`collection_weights` weights photos so that every class counts the same and, within a class,
  every collection counts the same (one large collection must not drown the others).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

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


def features(
    logits: np.ndarray, embedding: np.ndarray | None = None, temperature: float = 0.75
) -> np.ndarray:
    """Model input: embedding (N, 1280) then :func:`group_log_masses` (N, 8) -> (N, 1288) float64;
    without ``embedding`` the 8 log-masses alone (N, 8)."""
    gm = group_log_masses(logits, temperature)
    if embedding is None:
        return gm
    return np.concatenate([np.atleast_2d(np.asarray(embedding, np.float64)), gm], axis=1)



#: Repositories that hold copies of one collection (``../shared/README.md``: "Two repositories hold
#: copies of this one collection"); they are held out together.
SAME_COLLECTION = {"ericstrausak/Image-Classification": "Aiurskiesyx/VC"}


def class_of(label_type: str) -> int:
    """Manifest ``label_type`` -> index into :data:`CLASSES` (other_animal, person, other -> 0)."""
    return CLASSES.index(label_type) if label_type in CLASSES else 0


def collection_of(row: dict[str, str]) -> str:
    """The collection a manifest row belongs to (``source_repo``, copies merged)."""
    repo = row["source_repo"]
    return SAME_COLLECTION.get(repo, repo)


def collection_weights(y: np.ndarray, collections: Sequence[str]) -> np.ndarray:
    """Per-photo weights, shape (N,), float64, summing to N.

    Each (class, collection) cell gets the same total weight within its class, and each class the
    same total weight overall, so a class present in one huge collection and one small one is learned
    from both equally.
    """
    cells = Counter(zip(y.tolist(), collections, strict=True))
    per_class = Counter(c for c, _ in cells)
    w = np.array([1.0 / (cells[(c, s)] * per_class[c]) for c, s in zip(y.tolist(), collections, strict=True)])
    return w * (len(w) / w.sum())
