"""The taxonomy roll-up (the cobra example of issue 10) and every branch of the venom rule."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.core.taxonomy import RANKS, Taxonomy, rank_level
from bot.core.venom import (
    SNAKE_CAUTION_BOUND,
    VENOMOUS_BOUND,
    VenomInput,
    VenomWarning,
    cleared_harmless,
    venom_warning,
)


@dataclass(frozen=True)
class Row:
    scientific_name: str
    rank: str
    genus: str | None
    subfamily: str | None
    family: str
    reptile_type: str


ROWS = [
    Row("Naja", "genus", None, None, "Elapidae", "snake"),
    Row("Naja samarensis", "species", "Naja", None, "Elapidae", "snake"),
    Row("Naja philippinensis", "species", "Naja", None, "Elapidae", "snake"),
    Row("Naja sumatrana", "species", "Naja", None, "Elapidae", "snake"),
    Row("Hydrophiinae", "subfamily", None, None, "Elapidae", "snake"),
    Row("Laticauda colubrina", "species", "Laticauda", "Hydrophiinae", "Elapidae", "snake"),
    Row("Thamnophis sirtalis", "species", "Thamnophis", "Natricinae", "Colubridae", "snake"),
    Row("Thamnophis sirtalis parietalis", "subspecies", "Thamnophis", "Natricinae", "Colubridae", "snake"),
    Row("Caretta caretta", "species", "Caretta", None, "Cheloniidae", "turtle"),
]


def test_three_cobras_roll_up_to_the_genus_confidently() -> None:
    tax = Taxonomy(ROWS)
    got = tax.roll_up({"Naja samarensis": 0.40, "Naja philippinensis": 0.35, "Naja sumatrana": 0.20}, 0.85)
    assert got is not None
    assert (got.name, got.rank, got.confident, got.rolled_up) == ("Naja", "genus", True, True)
    assert got.score == pytest.approx(0.95)


def test_a_species_that_reaches_the_threshold_is_answered_at_species_rank() -> None:
    got = Taxonomy(ROWS).roll_up({"Naja samarensis": 0.90, "Naja sumatrana": 0.05}, 0.85)
    assert got is not None and (got.name, got.rank, got.rolled_up) == ("Naja samarensis", "species", False)


def test_nothing_reaches_the_threshold_gives_the_best_leaf_unsure() -> None:
    scores = {"Naja samarensis": 0.30, "Caretta caretta": 0.30, "Thamnophis sirtalis": 0.2}
    got = Taxonomy(ROWS).roll_up(scores, 0.85)
    assert got is not None and not got.confident and got.name in {"Naja samarensis", "Caretta caretta"}


def test_a_family_without_a_row_is_never_answered() -> None:
    # Elapidae has no row: 0.5 + 0.45 cobra/sea krait mass reaches 0.85 only at the family, which has
    # no card, so the answer stays an unsure species.
    got = Taxonomy(ROWS).roll_up({"Naja samarensis": 0.5, "Laticauda colubrina": 0.45}, 0.85)
    assert got is not None and not got.confident and got.name == "Naja samarensis"


def test_parent_links_and_ranks() -> None:
    tax = Taxonomy(ROWS)
    assert tax.ancestors("Thamnophis sirtalis parietalis") == [
        "Thamnophis sirtalis parietalis", "Thamnophis sirtalis", "Thamnophis", "Natricinae", "Colubridae",
        "snake"]
    assert tax.ancestors("Laticauda colubrina")[:3] == ["Laticauda colubrina", "Laticauda", "Hydrophiinae"]
    assert tax.type_of("Caretta caretta") == "turtle"
    assert tax.descendants("Naja") == ["Naja philippinensis", "Naja samarensis", "Naja sumatrana"]
    assert [rank_level(r) for r in RANKS] == list(range(len(RANKS)))
    assert tax.roll_up({"Unknown species": 1.0}, 0.5) is None


def test_venomous_answer_or_venomous_group_is_danger() -> None:
    assert venom_warning(VenomInput(0.9, "venomous")) is VenomWarning.DANGER
    assert venom_warning(VenomInput(0.9, "unknown", ("harmless", "venomous"))) is VenomWarning.DANGER


def test_possible_snake_gets_a_caution_unless_cleared() -> None:
    harmless_unsure = VenomInput(0.8, "harmless", confident=False, venomous_share=0.0, answer_type="snake")
    assert venom_warning(harmless_unsure) is VenomWarning.CAUTION
    lizard_with_snake_mass = VenomInput(SNAKE_CAUTION_BOUND * 2, "harmless", confident=True,
                                        venomous_share=0.3, answer_type="lizard")
    assert venom_warning(lizard_with_snake_mass) is VenomWarning.CAUTION
    not_a_reptile = VenomInput(SNAKE_CAUTION_BOUND, None)
    assert venom_warning(not_a_reptile) is VenomWarning.CAUTION


def test_cleared_harmless_needs_confidence_harmless_members_and_no_venomous_mass() -> None:
    ok = VenomInput(0.9, "harmless", ("harmless",), confident=True, venomous_share=0.0, answer_type="snake")
    assert cleared_harmless(ok) and venom_warning(ok) is None
    for bad in (
        VenomInput(0.9, "harmless", ("harmless",), confident=False, venomous_share=0.0),
        VenomInput(0.9, "harmless", ("harmless", "unknown"), confident=True, venomous_share=0.0),
        VenomInput(0.9, "harmless", (), confident=True, venomous_share=2 * VENOMOUS_BOUND / 0.9),
        VenomInput(0.9, "mildly venomous", (), confident=True, venomous_share=0.0),
    ):
        assert not cleared_harmless(bad)
        assert venom_warning(bad) is VenomWarning.CAUTION


def test_no_snake_mass_leaves_the_card_its_own_warning() -> None:
    assert venom_warning(VenomInput(SNAKE_CAUTION_BOUND / 2, "harmless", answer_type="turtle")) is None
    assert venom_warning(VenomInput(SNAKE_CAUTION_BOUND / 2, None)) is None


# ---- through the core: IdentifyService.answer_for / card_for with a small real-schema database ----

from bot.core.card import Severity  # noqa: E402
from bot.core.identify import IdentifyService  # noqa: E402
from bot.core.messages import VENOM_NOT_CLEARED  # noqa: E402
from bot.core.species import SpeciesRepository  # noqa: E402
from inference.types import Identification, TaxonScore  # noqa: E402
from tests.species_rows import _BASE, build_db  # noqa: E402
from tests.species_rows import ROWS as DB_ROWS  # noqa: E402


def _cobra(name: str, common: str) -> dict:
    return dict(_BASE, scientific_name=name, common_name=common, rank="species", genus="Naja",
                family="Elapidae", reptile_type="snake", distribution="Philippines", iucn_category="unknown",
                venom="venomous", source_url="https://en.wikipedia.org/wiki/Naja")


COBRA_ROWS = [
    *DB_ROWS,
    dict(_BASE, scientific_name="Naja", common_name="Cobras", rank="genus", genus=None, family="Elapidae",
         reptile_type="snake", distribution="Africa and Asia", iucn_category="NE", venom="venomous",
         source_url="https://en.wikipedia.org/wiki/Naja"),
    _cobra("Naja samarensis", "Samar cobra"),
    _cobra("Naja philippinensis", "Philippine cobra"),
    _cobra("Naja sumatrana", "Equatorial spitting cobra"),
]


class _Unused:
    async def identify(self, data: bytes) -> Identification:  # pragma: no cover
        raise AssertionError


@pytest.fixture
async def service(tmp_path):
    repo = await SpeciesRepository.open(build_db(tmp_path / "species.sqlite", COBRA_ROWS))
    yield IdentifyService(_Unused(), repo, 1_000_000)
    await repo.close()


def _ident(scores: list[tuple[str, str, float]], snake_p: float, confident: bool = False) -> Identification:
    cands = tuple(TaxonScore(n, r, "snake", p) for n, r, p in scores)
    return Identification(True, 0.97, "snake", 0.95, cands[:3], confident=confident,
                          snake_probability=snake_p, candidates=cands, confident_threshold=0.85)


async def test_split_between_three_cobras_is_a_confident_venomous_cobra_card(service) -> None:
    ident = _ident([("Naja samarensis", "species", 0.40), ("Naja philippinensis", "species", 0.35),
                    ("Naja sumatrana", "species", 0.20), ("Thamnophis sirtalis", "species", 0.05)], 0.96)
    answer = await service.answer_for(ident)
    assert answer.taxon is not None and answer.taxon.scientific_name == "Naja" and answer.confident
    card = await service.card_for(ident)
    assert card.rank == "genus" and "pretty sure" in card.confidence_text and "95%" in card.confidence_text
    assert card.warning is not None and card.warning.severity is Severity.DANGER


async def test_unsure_harmless_snake_never_says_not_venomous(service) -> None:
    ident = _ident([("Thamnophis sirtalis", "species", 0.6), ("Naja samarensis", "species", 0.1)], 0.9)
    card = await service.card_for(ident)
    assert card.warning is not None and card.warning.severity is Severity.CAUTION
    venom = next(f.value for f in card.facts if f.label == "Venom")
    assert venom == VENOM_NOT_CLEARED and "Not venomous" not in venom


async def test_confident_harmless_snake_with_no_venomous_mass_may_say_not_venomous(service) -> None:
    ident = _ident([("Thamnophis sirtalis", "species", 1.0)], 0.99, confident=True)
    answer = await service.answer_for(ident)
    assert answer.venom_warning is None
    card = await service.card_for(ident)
    assert next(f.value for f in card.facts if f.label == "Venom") == "Not venomous"


async def test_not_a_reptile_with_snake_probability_gets_a_caution(service) -> None:
    ident = Identification(False, 0.1, None, 0.0, (), non_reptile_kind="animal", non_reptile_label="eel",
                           snake_probability=0.05)
    card = await service.card_for(ident)
    assert card.warning is not None and card.warning.severity is Severity.CAUTION
    assert "snake" in card.warning.text
    plain = Identification(False, 0.0, None, 0.0, (), non_reptile_kind="object", non_reptile_label="cup",
                           snake_probability=SNAKE_CAUTION_BOUND / 10)
    assert (await service.card_for(plain)).warning is None
