"""Issue 11 look-ups on the real species database: group names, dangerous names, non-reptiles,
strong-bite cautions, synonyms and ``reptile-museum species --json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.card import CardKind, Severity
from bot.core.cards import species_card
from bot.core.lookup import resolve
from bot.core.names import in_taxa
from bot.core.species import SpeciesRepository
from tests.test_cli import run_cli

REAL_DB = Path(__file__).resolve().parents[1] / "species.sqlite"


@pytest.fixture
async def species():
    repo = await SpeciesRepository.open(REAL_DB)
    yield repo
    await repo.close()


@pytest.mark.parametrize("query", ["rattlesnake", "Rattlesnakes", "cobra", "cobras", "mamba", "python",
                                   "sea turtle", "sea turtles", "chameleon", "gecko", "geckos"])
async def test_group_names_give_the_group_with_its_members(species, query):
    result = await resolve(species, query)
    group = result.group
    assert group is not None, f"{query!r} did not resolve to a group"
    assert result.card.kind is CardKind.SPECIES
    assert result.members, f"{query!r}: no members"
    assert all(in_taxa(t, group.taxa) for t in result.members)
    assert result.taxon is None or result.taxon.is_group  # never one arbitrary species
    assert len(result.card.members) == (len(result.members) if len(result.members) <= 25 else 26)
    if len(result.members) > 25:
        assert result.card.members[-1] == f"and {len(result.members) - 25} more"
    # every member the museum has is listed, not just one
    expected = {t.scientific_name for t in species.taxa
                if t.rank in ("species", "subspecies") and in_taxa(t, group.taxa)
                and (not group.member_genera or t.genus in group.member_genera)}
    assert {t.scientific_name for t in result.members} == expected


async def test_rattlesnake_is_not_the_aruba_island_rattlesnake(species):
    result = await resolve(species, "rattlesnake")
    assert result.card.title == "Rattlesnakes"
    assert result.card.warning is not None and result.card.warning.severity is Severity.DANGER


@pytest.mark.parametrize("query", [
    "glitter viper", "moon adder", "giant purple cobra", "ghost krait", "spotted mamba", "pink taipan",
    "tiny rattlesnake", "neon coral snake", "striped sea snake", "copperhead", "cottonmouth", "boomslang",
    "bushmaster", "fer-de-lance", "lancehead", "king cobra", "black mamba", "inland taipan",
])
async def test_dangerous_names_always_warn_and_never_suggest_only_harmless_animals(species, query):
    result = await resolve(species, query)
    card = result.card
    assert card.warning is not None and card.warning.severity is Severity.DANGER, f"{query!r}: {card}"
    if not result.found:
        assert all(t.venom != "harmless" for t in result.suggestions), result.suggestions
    else:
        found = [result.taxon] if result.taxon is not None else list(result.members)
        assert any(t.venom == "venomous" for t in found)


@pytest.mark.parametrize(("query", "word"), [
    ("axolotl", "Axolotls"), ("frog", "Frogs"), ("poison dart frog", "Frogs"), ("cane toad", "Toads"),
    ("newt", "Newts"), ("fire salamander", "Salamanders"), ("caecilian", "Caecilians"),
])
async def test_amphibians_get_a_kind_not_a_reptile_answer(species, query, word):
    result = await resolve(species, query)
    assert not result.found and result.not_reptile == "amphibian"
    assert result.card.kind is CardKind.NOT_REPTILE
    assert result.card.body.startswith(f"{word} are amphibians, not reptiles!")
    assert "scaly" in result.card.body  # says why


@pytest.mark.parametrize("query", ["dinosaur", "T-rex", "Tyrannosaurus rex", "triceratops",
                                   "velociraptor"])
async def test_dinosaurs_get_a_kind_answer(species, query):
    result = await resolve(species, query)
    assert not result.found and result.not_reptile == "dinosaur"
    assert "died out" in result.card.body


async def test_a_horned_toad_is_not_called_an_amphibian(species):
    result = await resolve(species, "horned toad")
    assert result.not_reptile is None


@pytest.mark.parametrize(("old", "new"), [
    ("Callagur borneoensis", "Batagur borneoensis"), ("Emys marmorata", "Actinemys marmorata"),
    ("Trimeresurus trigonocephalus", "Craspedocephalus trigonocephalus"),
    ("pala polonga", "Craspedocephalus"),
])
async def test_search_finds_old_names(species, old, new):
    result = await resolve(species, old)
    assert result.taxon is not None and result.taxon.scientific_name.startswith(new)


@pytest.mark.parametrize("name", ["Python sebae", "Boa constrictor", "Chelydra serpentina"])
async def test_big_constrictors_and_snapping_turtles_get_the_strong_bite_caution(species, name):
    taxon = await species.get(name)
    assert taxon is not None and taxon.venom == "harmless"
    card = species_card(taxon)
    assert card.warning is not None and card.warning.severity is Severity.CAUTION
    assert "bite" in card.warning.text and "far away" in card.warning.text


async def test_strong_bite_for_large_monitors_only():
    from dataclasses import replace

    repo = await SpeciesRepository.open(REAL_DB)
    try:
        komodo = await repo.get("Varanus komodoensis")
        small_snake = await repo.get("Pantherophis guttatus")
    finally:
        await repo.close()
    big_harmless_monitor = replace(komodo, venom="harmless", adult_length_cm=150.0)
    small_monitor = replace(komodo, venom="harmless", adult_length_cm=40.0)
    assert species_card(big_harmless_monitor).warning.severity is Severity.CAUTION
    assert species_card(small_monitor).warning is None
    assert species_card(small_snake).warning is None


def test_species_json_prints_one_object_with_the_issue_keys():
    found = run_cli("species", "--json", "cobra")
    assert found.returncode == 0, found.stderr
    obj = json.loads(found.stdout)
    assert set(obj) == {"query", "found", "scientific_name", "common_name", "rank", "type", "venom",
                        "iucn_category", "iucn_year", "members", "warning"}
    assert obj["found"] is True and obj["type"] == "snake" and obj["venom"] == "venomous"
    assert obj["members"] and all(m["scientific_name"].startswith("Naja ") for m in obj["members"])
    assert obj["warning"]["severity"] == "danger"
    missing = json.loads(run_cli("species", "--json", "axolotl").stdout)
    assert set(missing) == {"query", "found", "suggestions", "warning", "not_reptile"}
    assert missing["found"] is False and missing["not_reptile"] == "amphibian"
    species_row = json.loads(run_cli("species", "--json", "Naja naja").stdout)
    assert species_row["members"] is None and species_row["rank"] == "species"


async def test_the_tuatara_is_its_own_type_in_look_ups_and_quizzes(species):
    import random

    from bot.core.quiz.questions import Difficulty, QuestionGenerator, verify

    result = await resolve(species, "tuatara")
    assert result.taxon is not None and result.taxon.reptile_type == "tuatara"
    assert result.taxon.family == "Sphenodontidae"
    facts = {f.label: f.value for f in result.card.facts}
    assert facts["Type"].startswith("Tuatara (order Rhynchocephalia")
    species_row = next(t for t in species.database_taxa
                       if t.reptile_type == "tuatara" and t.rank == "species")
    gen = QuestionGenerator(species.database_taxa, random.Random(0))
    q = gen._build_type(species_row, Difficulty.EXPERT)
    assert q is not None and verify(q, gen.by_name)
    assert q.correct_option == "Tuatara"


def test_name_index_words():
    from bot.core.names import danger_term, group_for, not_reptile_kind, singular

    assert singular("cobras") == "cobra" and singular("boas") == "boa" and singular("grass") == "grass"
    assert danger_term("Gaboon vipers") == "viper"
    assert danger_term("fer-de-lance") == "fer de lance"
    assert danger_term("corn snake") is None
    assert not_reptile_kind("toad-headed agama") is None  # a lizard
    assert not_reptile_kind("Triceratops") == ("dinosaur", "triceratops")
    assert group_for("Sea Turtles").title == "Sea turtles"
    assert group_for("king cobra") is None  # only the whole name is a group word
