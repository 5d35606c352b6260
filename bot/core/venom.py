"""The venom rule: which safety warning a photo's card carries (written down in MODEL_CARD.md).

Safety comes first: the bot must never tell a child that a venomous snake is harmless. The rule, for
one identified photo:

1. **danger** when the answer (the rolled-up taxon) is venomous, or is a group with any venomous
   member;
2. otherwise **caution** when the photo may show a snake: the ImageNet snake probability mass
   (``Identification.snake_probability``) is at least :data:`SNAKE_CAUTION_BOUND`, whatever the answer
   (a snake the bot calls a lizard, or "not a reptile", counts too), unless the answer is
   *cleared*: confident, at a rank where every member in the museum is harmless, and the probability
   that the photo is a venomous snake (snake probability x the venomous candidates' share) stays
   below :data:`VENOMOUS_BOUND`;
3. otherwise **caution** for a mildly venomous answer, a snake of unknown venom, a crocodilian or
   another strong biter (the card's own warning);
4. otherwise no warning.

Only a cleared answer may show "Not venomous". The bounds were measured on held-out photos
(``python -m training.venom_rule``; figures in training/REPORT.md): the smallest snake probability of
any of the 470 labelled photos of dangerously venomous snakes in ``../shared/photos`` was 0.00070
(a green pit viper, *Tropidolaemus philippensis*, that ImageNet calls a green lizard), so
:data:`SNAKE_CAUTION_BOUND` = 0.0005 keeps a 28 % margin below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

#: Snake probability (ImageNet snake-class mass at the base temperature, in [0, 1]) from which a
#: photo gets at least a caution. Measured: min 0.00070 over 470 held-out venomous-snake photos.
SNAKE_CAUTION_BOUND = 0.0005
#: Highest probability that the photo is a venomous snake (snake probability x the candidates'
#: venomous share) at which a confident harmless answer may still say "Not venomous". Measured by
#: ``python -m training.venom_rule``: among the 470 venomous-snake photos, the smallest such
#: probability of a confidently harmless answer was 1.2e-05 (the 35 ImageNet classes cannot tell a
#: viper from a kingsnake); half of it keeps a 2x margin.
VENOMOUS_BOUND = 5e-06


class VenomWarning(StrEnum):
    """What ``identify --json`` reports as ``venom_warning`` and the card shows first."""

    DANGER = "danger"
    CAUTION = "caution"


@dataclass(frozen=True, slots=True)
class VenomInput:
    """What the rule needs to know about one photo.

    Attributes:
        snake_probability: P(the photo shows a snake), in [0, 1].
        answer_venom: venom status of the answered taxon: "venomous", "mildly venomous", "harmless",
            "unknown", or ``None`` when the answer is "not a reptile".
        members_venom: venom statuses of every museum taxon below the answer (empty for a species).
        confident: the answer is confident (its rolled-up score reached the threshold).
        venomous_share: the candidates' probability mass on venomous taxa, in [0, 1]
            (P(venomous | reptile) as far as the model's taxa can tell).
        answer_type: the answered type ("snake", "lizard", ...), or ``None``.
    """

    snake_probability: float
    answer_venom: str | None
    members_venom: tuple[str, ...] = ()
    confident: bool = False
    venomous_share: float = 0.0
    answer_type: str | None = None


def answer_is_venomous(answer_venom: str | None, members_venom: Iterable[str]) -> bool:
    """True when the answer, or any member of the group it names, is venomous."""
    return answer_venom == "venomous" or any(v == "venomous" for v in members_venom)


def cleared_harmless(v: VenomInput) -> bool:
    """True when the card may say "Not venomous": confident, every member harmless, and the
    probability of a venomous snake (snake probability x venomous share) below :data:`VENOMOUS_BOUND`."""
    if not v.confident or v.answer_venom != "harmless":
        return False
    if any(m != "harmless" for m in v.members_venom):
        return False
    return v.snake_probability * v.venomous_share < VENOMOUS_BOUND


def venom_warning(v: VenomInput) -> VenomWarning | None:
    """The venom part of the warning (rules 1 and 2 of the module docstring); ``None`` leaves the
    card's own warning (rule 3) or none."""
    if answer_is_venomous(v.answer_venom, v.members_venom):
        return VenomWarning.DANGER
    if v.snake_probability >= SNAKE_CAUTION_BOUND and not cleared_harmless(v):
        return VenomWarning.CAUTION
    return None
