"""Plain result types shared by the classifier and its callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ReptileType = Literal["crocodilian", "lizard", "snake", "turtle"]
#: The four reptile types the bot reports, in display order.
REPTILE_TYPES: tuple[ReptileType, ...] = ("crocodilian", "lizard", "snake", "turtle")


@dataclass(frozen=True, slots=True)
class TaxonScore:
    """One candidate taxon.

    Attributes:
        scientific_name: the taxon's scientific name, e.g. ``"Caretta caretta"`` or ``"Thamnophis"``;
            it is the key of the species database.
        rank: taxonomic rank: ``"species"``, ``"genus"``, ``"subfamily"`` or ``"family"``.
        reptile_type: one of :data:`REPTILE_TYPES`.
        confidence: calibrated probability in [0, 1] that this taxon is right, given that the photo
            shows a reptile.
        label: the model's own class label (e.g. the ImageNet-1k class name), for logs and JSON.
    """

    scientific_name: str
    rank: str
    reptile_type: ReptileType
    confidence: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class Identification:
    """What the model says about one photo.

    Attributes:
        is_reptile: the reptile / not-reptile decision (threshold on ``reptile_probability``).
        reptile_probability: calibrated probability in [0, 1] that the photo shows a living reptile.
        reptile_type: the most likely type, or ``None`` when ``is_reptile`` is false.
        type_confidence: calibrated probability in [0, 1] of ``reptile_type`` (0.0 when not a reptile).
        top: up to 3 candidate taxa, most likely first (empty when not a reptile).
        confident: true when the top taxon is above the "sure" threshold (the card says
            "I'm pretty sure"); false means "It might be" and alternatives are shown.
        non_reptile_kind: when not a reptile, a coarse guess of what it is instead:
            ``"amphibian"``, ``"dinosaur"``, ``"animal"``, ``"object"``, or ``None`` when unclear.
        non_reptile_label: when not a reptile, the model's best non-reptile class label
            (e.g. ``"tree frog"``), or ``None``.
        model: identifier of the model that produced this result (file name and version).
        elapsed_ms: wall time of decode + inference in milliseconds.
        snake_probability: probability in [0, 1] that the photo shows a snake (ImageNet snake-class
            mass at the base temperature), whatever the decision: the venom rule
            (``bot/core/venom.py``) warns from :data:`~bot.core.venom.SNAKE_CAUTION_BOUND` on.
        candidates: every taxon the model (or its packs) scored, with P(taxon | reptile), best first;
            the core rolls these up the taxonomy (``bot/core/taxonomy.py``). Empty when not a reptile.
        confident_threshold: the calibrated "pretty sure" level of the model that scored
            ``candidates`` (in (0, 1]); the roll-up answers where a summed score reaches it.
    """

    is_reptile: bool
    reptile_probability: float
    reptile_type: ReptileType | None
    type_confidence: float
    top: tuple[TaxonScore, ...] = field(default_factory=tuple)
    confident: bool = False
    non_reptile_kind: str | None = None
    non_reptile_label: str | None = None
    model: str = ""
    elapsed_ms: float = 0.0
    snake_probability: float = 0.0
    candidates: tuple[TaxonScore, ...] = field(default_factory=tuple)
    confident_threshold: float = 0.85
