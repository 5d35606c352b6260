"""Which harmless-to-venom animals still deserve a "strong bite, watch from far away" caution.

Crocodilians always do (see :func:`bot.core.cards.taxon_warning`); so do big constrictors (pythons,
boas, anacondas), snapping turtles and large monitor lizards (issue 11). The thresholds are the
museum's own rule of thumb, erring on the safe side; the families are those of the species database.
"""

from __future__ import annotations

from bot.core.species import Taxon

#: Families of the big constrictors and of the snapping turtles.
CONSTRICTOR_FAMILIES = frozenset({"Pythonidae", "Boidae"})
SNAPPING_TURTLE_FAMILIES = frozenset({"Chelydridae"})
MONITOR_FAMILIES = frozenset({"Varanidae"})
#: From this typical adult total length (cm) a constrictor or monitor counts as big. A row of unknown
#: length, or a group row, counts as big: the caution errs on the safe side.
BIG_CONSTRICTOR_CM = 150.0
LARGE_MONITOR_CM = 100.0


def strong_bite(t: Taxon) -> bool:
    """True when ``t`` is a big constrictor, a snapping turtle or a large monitor lizard."""
    big = t.is_group or t.adult_length_cm is None
    if t.family in SNAPPING_TURTLE_FAMILIES:
        return True
    if t.family in CONSTRICTOR_FAMILIES:
        return big or (t.adult_length_cm or 0) >= BIG_CONSTRICTOR_CM
    if t.family in MONITOR_FAMILIES:
        return big or (t.adult_length_cm or 0) >= LARGE_MONITOR_CM
    return False
