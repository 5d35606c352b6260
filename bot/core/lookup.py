"""``/species NAME``: fuzzy look-up of a taxon, answered with a fact card or suggestions."""

from __future__ import annotations

from bot.core import messages as m
from bot.core.card import FactCard
from bot.core.cards import problem_card, species_card
from bot.core.species import SpeciesRepository

#: rapidfuzz WRatio score (0-100) from which the best hit is taken as the answer; below it, the bot
#: lists suggestions instead. 86 accepts "komodo" → Komodo dragon and "gartr snake" → garter snakes,
#: and rejects unrelated words (measured in tests/test_lookup.py).
ACCEPT_SCORE = 86.0


async def lookup_species(species: SpeciesRepository, query: str) -> FactCard:
    """The card for the best match of ``query``, or a kind "not found" card with up to 3 suggestions."""
    query = " ".join(query.split())
    if not query:
        return problem_card(m.SPECIES_USAGE_TEXT)
    hits = species.search(query, limit=4)
    if hits and hits[0].score >= ACCEPT_SCORE:
        taxon = hits[0].taxon
        members = await species.members(taxon) if taxon.is_group else None
        return species_card(taxon, members)
    suggestions = [h.taxon.common_name for h in species.search(query, limit=3, min_score=45.0)]
    return problem_card(m.not_found_text(query, suggestions), title="Not found")
