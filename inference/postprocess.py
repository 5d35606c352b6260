"""Turn ImageNet-1k logits into an :class:`~inference.types.Identification` (pure numpy, no I/O).

Decision rule (all probabilities come from a temperature-scaled softmax over the 1000 classes):

* ``reptile_probability`` = softmax mass on the 35 living-reptile classes (33-68 without 51).
* ``is_reptile`` = ``reptile_probability >= reptile_threshold`` **and** the reptile mass is at least
  the amphibian mass (classes 25-32), so a frog or newt is never called a reptile.
* ``reptile_type`` = the type (crocodilian, lizard, snake, turtle) with the largest summed mass;
  ``type_confidence`` = that mass divided by the reptile mass.
* ``top`` = the 3 best reptile classes, with confidences from a softmax over the 35 reptile logits
  only (temperature ``taxon_temperature``), i.e. P(taxon | reptile).
* ``confident`` = top taxon confidence >= ``confident_threshold``.
* Not a reptile: ``non_reptile_kind`` is the group (amphibian 25-32, dinosaur 51, other animal 0-397,
  object/scene/food 398-999) with the largest mass; ``non_reptile_label`` is the best class name in it.

The numeric defaults are in :data:`DEFAULT_CALIBRATION`; the values in the model's json
(``calibration``) override them. See inference/models/MODEL_CARD.md for how they were measured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from inference.imagenet_taxa import IMAGENET_AMPHIBIANS, IMAGENET_DINOSAURS, IMAGENET_REPTILES
from inference.types import REPTILE_TYPES, Identification, TaxonScore

#: Number of ImageNet-1k classes.
NUM_CLASSES = 1000
#: ILSVRC-2012 indices 0-397 are animals (fish, birds, amphibians, reptiles, invertebrates, mammals);
#: 398-999 are artefacts, food, scenes, people (981-983) and plants/fungi (984-999).
LAST_ANIMAL_INDEX = 397

REPTILE_INDICES: np.ndarray = np.array([t.index for t in IMAGENET_REPTILES], dtype=np.int64)
AMPHIBIAN_INDICES: np.ndarray = np.array(sorted(IMAGENET_AMPHIBIANS), dtype=np.int64)
DINOSAUR_INDICES: np.ndarray = np.array(sorted(IMAGENET_DINOSAURS), dtype=np.int64)
_SPECIAL = set(REPTILE_INDICES.tolist()) | set(AMPHIBIAN_INDICES.tolist()) | set(DINOSAUR_INDICES.tolist())
OTHER_ANIMAL_INDICES: np.ndarray = np.array(
    [i for i in range(LAST_ANIMAL_INDEX + 1) if i not in _SPECIAL], dtype=np.int64
)
OBJECT_INDICES: np.ndarray = np.arange(LAST_ANIMAL_INDEX + 1, NUM_CLASSES, dtype=np.int64)
_TYPE_OF_POSITION: np.ndarray = np.array(
    [REPTILE_TYPES.index(t.reptile_type) for t in IMAGENET_REPTILES], dtype=np.int64
)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Thresholds and temperatures of the decision rule (see module docstring).

    Attributes:
        temperature: softmax temperature over the 1000 logits for the reptile / amphibian / type
            masses; > 0, 1.0 = the raw model.
        taxon_temperature: softmax temperature over the 35 reptile logits for taxon confidences.
        reptile_threshold: minimum reptile probability, in [0, 1], to answer "reptile".
        confident_threshold: minimum top-taxon confidence, in [0, 1], for ``confident=True``.
    """

    temperature: float
    taxon_temperature: float
    reptile_threshold: float
    confident_threshold: float

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], default: Calibration | None = None) -> Calibration:
        """Build from a json mapping; keys missing from ``data`` come from ``default``."""
        base = default or DEFAULT_CALIBRATION
        values = {f.name: float(data.get(f.name, getattr(base, f.name))) for f in fields(cls)}
        return cls(**values)


#: Defaults used when the model json has no ``calibration`` block; the same values are stored in
#: efficientnet_lite0.json. Chosen by ``python -m training.evaluate`` on ../shared/photos (1841 photos,
#: EfficientNet-Lite0; sweeps and rules in MODEL_CARD.md "Thresholds"):
#:
#: * temperature 0.75: lowest binary log-loss of the reptile probability (0.162 vs 0.230 at T=1);
#: * taxon_temperature 1.0: not fitted (the only in-class photos are ~31 ImageNet samples);
#: * reptile_threshold 0.30: most cautious gate within 0.5 points of the best balanced score
#:   (reptile recall 93.5 %, amphibians accepted 2.5 %, other photos accepted 0.1 %);
#: * confident_threshold 0.85: "pretty sure" is never wrong on in-class ImageNet photos and is given to
#:   9.8 % of photos of species outside the 35 classes (where it is always wrong).
DEFAULT_CALIBRATION = Calibration(
    temperature=0.75, taxon_temperature=1.0, reptile_threshold=0.30, confident_threshold=0.85
)


def softmax(x: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of ``x / temperature`` along ``axis`` (float64 result)."""
    z = np.asarray(x, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


@dataclass(frozen=True, slots=True)
class Masses:
    """Probability masses of one photo (each in [0, 1]).

    Attributes:
        reptile: mass on the 35 living-reptile classes.
        amphibian: mass on classes 25-32.
        dinosaur: mass on class 51.
        other_animal: mass on the remaining animal classes 0-397.
        obj: mass on classes 398-999.
        per_type: mass per reptile type, in :data:`~inference.types.REPTILE_TYPES` order.
    """

    reptile: float
    amphibian: float
    dinosaur: float
    other_animal: float
    obj: float
    per_type: tuple[float, float, float, float]


def masses(logits: np.ndarray, temperature: float = 1.0) -> Masses:
    """Group masses of one logit vector (shape (1000,), any float dtype)."""
    p = softmax(np.asarray(logits).reshape(-1), temperature)
    rep = p[REPTILE_INDICES]
    per_type = np.bincount(_TYPE_OF_POSITION, weights=rep, minlength=len(REPTILE_TYPES))
    return Masses(
        reptile=float(rep.sum()),
        amphibian=float(p[AMPHIBIAN_INDICES].sum()),
        dinosaur=float(p[DINOSAUR_INDICES].sum()),
        other_animal=float(p[OTHER_ANIMAL_INDICES].sum()),
        obj=float(p[OBJECT_INDICES].sum()),
        per_type=tuple(float(v) for v in per_type),  # type: ignore[arg-type]
    )


def _label(index: int, labels: Sequence[str] | None) -> str:
    if labels is not None and 0 <= index < len(labels):
        return labels[index]
    if index in IMAGENET_AMPHIBIANS:
        return IMAGENET_AMPHIBIANS[index]
    if index in IMAGENET_DINOSAURS:
        return IMAGENET_DINOSAURS[index]
    return f"imagenet class {index}"


def postprocess(
    logits: np.ndarray,
    calibration: Calibration = DEFAULT_CALIBRATION,
    labels: Sequence[str] | None = None,
    *,
    model: str = "",
    elapsed_ms: float = 0.0,
) -> Identification:
    """Decide reptile / not reptile, type and top-3 taxa from one photo's logits.

    Args:
        logits: ImageNet-1k pre-softmax scores, shape (1000,) or (1, 1000), ILSVRC-2012 order.
        calibration: thresholds and temperatures (:class:`Calibration`).
        labels: the 1000 ImageNet class names, used for ``non_reptile_label``; ``None`` falls back
            to the amphibian / dinosaur names of :mod:`inference.imagenet_taxa` (or "imagenet class N").
        model: copied to ``Identification.model``.
        elapsed_ms: copied to ``Identification.elapsed_ms``.

    Returns:
        An :class:`Identification`; probabilities are in [0, 1].

    Raises:
        ValueError: ``logits`` does not hold exactly 1000 finite values.
    """
    vec = np.asarray(logits, dtype=np.float64).reshape(-1)
    if vec.shape != (NUM_CLASSES,):
        raise ValueError(f"expected {NUM_CLASSES} logits, got shape {np.shape(logits)}")
    if not np.all(np.isfinite(vec)):
        raise ValueError("logits contain NaN or infinity")
    m = masses(vec, calibration.temperature)
    is_reptile = m.reptile >= calibration.reptile_threshold and m.reptile >= m.amphibian
    if is_reptile:
        type_pos = int(np.argmax(m.per_type))
        type_conf = m.per_type[type_pos] / m.reptile if m.reptile > 0 else 0.0
        q = softmax(vec[REPTILE_INDICES], calibration.taxon_temperature)
        # Taxa of the decided type come first, so the card's name never contradicts its type (the
        # summed per-type mass is more reliable than one class); other types only fill up the top-3.
        chosen = REPTILE_TYPES[type_pos]
        candidates = tuple(
            TaxonScore(
                scientific_name=IMAGENET_REPTILES[i].scientific_name,
                rank=IMAGENET_REPTILES[i].rank,
                reptile_type=IMAGENET_REPTILES[i].reptile_type,
                confidence=float(q[i]),
                label=IMAGENET_REPTILES[i].label,
            )
            for i in np.argsort(-q, kind="stable")
        )
        top = tuple(sorted(candidates, key=lambda c: c.reptile_type != chosen)[:3])
        return Identification(
            is_reptile=True,
            reptile_probability=m.reptile,
            reptile_type=REPTILE_TYPES[type_pos],
            type_confidence=float(min(1.0, type_conf)),
            top=top,
            confident=bool(top[0].confidence >= calibration.confident_threshold),
            model=model,
            elapsed_ms=elapsed_ms,
            snake_probability=m.per_type[REPTILE_TYPES.index("snake")],
            candidates=candidates,
            confident_threshold=calibration.confident_threshold,
        )
    groups = (
        ("amphibian", m.amphibian, AMPHIBIAN_INDICES),
        ("dinosaur", m.dinosaur, DINOSAUR_INDICES),
        ("animal", m.other_animal, OTHER_ANIMAL_INDICES),
        ("object", m.obj, OBJECT_INDICES),
    )
    kind, _mass, idx = max(groups, key=lambda g: g[1])
    best = int(idx[int(np.argmax(vec[idx]))])
    return Identification(
        is_reptile=False,
        reptile_probability=m.reptile,
        reptile_type=None,
        type_confidence=0.0,
        top=(),
        confident=False,
        non_reptile_kind=kind,
        non_reptile_label=_label(best, labels),
        model=model,
        elapsed_ms=elapsed_ms,
        snake_probability=m.per_type[REPTILE_TYPES.index("snake")],
    )
