"""/species look-ups: fuzzy names, suggestions, and hostile input."""

from __future__ import annotations

import pytest

from bot.adapters.text_render import render_text
from bot.core.card import CardKind
from bot.core.lookup import lookup_species
from bot.core.species import SpeciesRepository
from tests.species_rows import build_db


@pytest.fixture
async def species(tmp_path):
    repo = await SpeciesRepository.open(build_db(tmp_path / "species.sqlite"))
    yield repo
    await repo.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [("komodo", "Varanus komodoensis"), ("Komodo Dragon", "Varanus komodoensis"),
     ("varanus komodoensis", "Varanus komodoensis"), ("indian cobra", "Naja naja"),
     ("gartr snake", "Thamnophis"), ("loggerhead", "Caretta caretta")],
)
async def test_fuzzy_lookup_finds_the_animal(species, query, expected):
    card = await lookup_species(species, query)
    assert card.kind is CardKind.SPECIES
    assert card.scientific_name.startswith(expected)


async def test_unknown_name_gives_suggestions_not_a_random_animal(species):
    card = await lookup_species(species, "cobraa snek")
    assert card.kind in (CardKind.PROBLEM, CardKind.SPECIES)
    card = await lookup_species(species, "teacup")
    assert card.kind is CardKind.PROBLEM
    assert "couldn't find" in card.body


@pytest.mark.parametrize("query", ["", "   ", "\n"])
async def test_empty_query_explains_usage(species, query):
    card = await lookup_species(species, query)
    assert card.kind is CardKind.PROBLEM and "/species" in card.body


@pytest.mark.parametrize("query", ["<b>x</b>", "🐍🐍🐍", "x" * 5000, "'; DROP TABLE taxa; --", "\u202e"])
async def test_hostile_queries_are_answered_and_the_database_survives(species, query):
    card = await lookup_species(species, query)
    assert render_text(card)
    assert await species.get("Naja naja") is not None


async def test_autocomplete_prefix_first(species):
    names = [t.scientific_name for t in species.autocomplete("kom")]
    assert names[0] == "Varanus komodoensis"
    assert len(species.autocomplete("")) > 0
