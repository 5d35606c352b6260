"""The fact card: a platform-neutral description of one reply.

Adapters render a :class:`FactCard` as Telegram HTML, a Discord embed or plain text; nothing here knows
about either platform. Every string in a card is plain text (adapters escape it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class CardKind(StrEnum):
    """What a card answers."""

    REPTILE = "reptile"          # a photo identified as a reptile
    SPECIES = "species"          # a /species look-up
    NOT_REPTILE = "not_reptile"  # a photo that is not a reptile
    PROBLEM = "problem"          # bad input, busy, or an internal error: a kind message and tips


class Severity(StrEnum):
    """How loud a safety warning is."""

    DANGER = "danger"    # venomous: do not touch, keep away, tell an adult
    CAUTION = "caution"  # mildly venomous, or a venomous look-alike among the guesses


@dataclass(frozen=True, slots=True)
class Warning:
    """A safety warning shown before anything else on the card."""

    severity: Severity
    text: str


@dataclass(frozen=True, slots=True)
class Fact:
    """One labelled fact, e.g. ``Fact("Where it lives", "India and Sri Lanka", "🌍")``."""

    label: str
    value: str
    emoji: str = ""


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another candidate the model considered, with its confidence in percent (0-100, rounded)."""

    common_name: str
    scientific_name: str
    percent: int


@dataclass(frozen=True, slots=True)
class FactCard:
    """One reply, ready to render.

    Attributes:
        kind: what the card answers.
        title: headline without emoji, e.g. ``"Garter snakes"`` or ``"That's not a reptile"``.
        emoji: type emoji (🐊 🦎 🐍 🐢; 🦎 for the tuatara too) or a mood emoji for other cards.
        scientific_name: scientific name for reptile and species cards, else ``""``.
        rank: taxonomic rank of ``scientific_name`` (``"species"``, ``"genus"``...), else ``""``.
        reptile_type: crocodilian, lizard, snake, turtle or tuatara, else ``""``.
        confidence_text: the model's confidence in words, e.g. ``"I'm pretty sure this is a..."``.
        warning: safety warning, shown first; ``None`` when the animal is harmless.
        facts: labelled facts in display order.
        fun_fact: one sentence, or ``""``.
        group_note: for a genus/subfamily/family answer, a sentence saying it is a group, else ``""``.
        members: common names (with scientific names) of the museum's species in that group.
        alternatives: up to two other candidates when the model is unsure.
        body: free text for not-a-reptile and problem cards.
        tips: short tips, e.g. how to take a better photo.
        source_url: where the facts come from, or ``""``.
        quizzable: true when the card is a confident identification that could become a quiz question
            (decided only by :meth:`bot.core.identify.IdentifyService.quizzable`).
    """

    kind: CardKind
    title: str
    emoji: str = ""
    scientific_name: str = ""
    rank: str = ""
    reptile_type: str = ""
    confidence_text: str = ""
    warning: Warning | None = None
    facts: tuple[Fact, ...] = ()
    fun_fact: str = ""
    group_note: str = ""
    members: tuple[str, ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    body: str = ""
    tips: tuple[str, ...] = field(default_factory=tuple)
    source_url: str = ""
    quizzable: bool = False
