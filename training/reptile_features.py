"""Features, labels and collections of ``../shared/photos`` for the learned reptile model.

Everything here is pure numpy over cached backbone outputs (:mod:`training.embed`): the 1000
ImageNet logits and the 1280-d embedding of each photo.

* :func:`group_log_masses` turns logits into 8 log-probability masses (crocodilian, lizard, snake,
  turtle, amphibian, dinosaur, other animal, object) with the same class groups as the ImageNet
  mapping (:mod:`inference.postprocess`);
* :data:`CLASSES` are the six outputs of the learned model;
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

from inference.reptile_model import CLASSES, group_log_masses

__all__ = ["CLASSES", "class_of", "collection_of", "collection_weights", "group_log_masses"]

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
