"""Fact cards from identifications: warnings, confidence words, groups, not-a-reptile, bad input.

The model is replaced by a fixed :class:`Identification` here (the card logic is what is tested);
end-to-end tests with the real model live in the adapter tests.
"""

from __future__ import annotations

import pytest

from bot.adapters.text_render import render_text
from bot.core.card import CardKind, Severity
from bot.core.identify import IdentifyService
from bot.core.species import SpeciesRepository
from inference.errors import Busy, ImageRejected, RejectReason
from inference.types import Identification, TaxonScore
from tests.species_rows import build_db


class FixedIdentifier:
    """Answers every photo with a preset identification, or raises a preset error."""

    def __init__(self, result: Identification | Exception) -> None:
        self.result = result

    async def identify(self, data: bytes) -> Identification:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def reptile(*scores: tuple[str, str, str, float], confident: bool) -> Identification:
    top = tuple(TaxonScore(name, rank, rtype, conf) for name, rank, rtype, conf in scores)
    return Identification(True, 0.97, top[0].reptile_type, 0.95, top, confident=confident, model="test")


@pytest.fixture
async def species(tmp_path):
    repo = await SpeciesRepository.open(build_db(tmp_path / "species.sqlite"))
    yield repo
    await repo.close()


async def card_for(species, result, max_bytes=1_000_000):
    service = IdentifyService(FixedIdentifier(result), species, max_bytes)
    return (await service.identify(b"photo bytes")).card


async def test_venomous_animal_gets_danger_warning_first(species):
    card = await card_for(species, reptile(("Naja naja", "species", "snake", 0.93), confident=True))
    assert card.kind is CardKind.REPTILE
    assert card.warning is not None and card.warning.severity is Severity.DANGER
    assert "do not touch" in card.warning.text.lower() and "adult" in card.warning.text.lower()
    text = render_text(card)
    assert text.index("DANGER") < text.index("Indian cobra")
    assert "pretty sure" in card.confidence_text
    assert card.alternatives == ()  # confident: no alternatives


async def test_unsure_answer_offers_two_alternatives_and_lookalike_caution(species):
    ident = reptile(
        ("Thamnophis sirtalis", "species", "snake", 0.45),
        ("Naja naja", "species", "snake", 0.30),
        ("Caretta caretta", "species", "turtle", 0.10),
        confident=False,
    )
    card = await card_for(species, ident)
    assert card.confidence_text.startswith("It might be")
    assert [a.scientific_name for a in card.alternatives] == ["Naja naja", "Caretta caretta"]
    assert card.warning is not None and card.warning.severity is Severity.CAUTION
    assert "Indian cobra" in card.warning.text


async def test_harmless_confident_answer_has_no_warning(species):
    card = await card_for(species, reptile(("Caretta caretta", "species", "turtle", 0.9), confident=True))
    assert card.warning is None
    facts = {f.label: f.value for f in card.facts}
    assert facts["Conservation status"].startswith("Vulnerable (VU)")
    assert "2017" in facts["Conservation status"]
    assert facts["Venom"] == "Not venomous"
    assert "Habitat" not in facts  # unknown facts are left out, never shown as guesses


async def test_genus_answer_says_it_is_a_group_and_lists_museum_species(species):
    card = await card_for(species, reptile(("Thamnophis", "genus", "snake", 0.88), confident=True))
    assert "genus" in card.group_note
    assert card.members == ("Common garter snake (Thamnophis sirtalis)",)
    assert "one of the garter snakes" in card.confidence_text


async def test_crocodilian_gets_a_keep_away_caution(species):
    card = await card_for(species, reptile(("Crocodylus niloticus", "species", "crocodilian", 0.9),
                                           confident=True))
    assert card.warning is not None and "far away" in card.warning.text


@pytest.mark.parametrize(
    ("kind", "label", "expected"),
    [("amphibian", "tree frog", "frog"), ("amphibian", "common newt", "newt"),
     ("dinosaur", "triceratops", "dinosaur"), ("object", None, "couldn't find a reptile")],
)
async def test_not_a_reptile_is_friendly_and_names_what_it_seems(species, kind, label, expected):
    ident = Identification(False, 0.05, None, 0.0, (), non_reptile_kind=kind, non_reptile_label=label)
    card = await card_for(species, ident)
    assert card.kind is CardKind.NOT_REPTILE
    assert expected in card.body
    assert card.tips, "a not-a-reptile answer gives tips for a better photo"


@pytest.mark.parametrize("reason", list(RejectReason))
async def test_every_rejected_input_gets_a_kind_message(species, reason):
    card = await card_for(species, ImageRejected(reason, "detail for logs"))
    assert card.kind is CardKind.PROBLEM
    assert card.body and "detail for logs" not in card.body
    assert "Traceback" not in render_text(card)


async def test_busy_and_internal_errors_never_escape(species):
    assert "busy" in (await card_for(species, Busy())).body
    card = await card_for(species, RuntimeError("boom"))
    assert card.kind is CardKind.PROBLEM and "boom" not in card.body


async def test_precheck_refuses_big_and_non_image_files_before_download(species):
    service = IdentifyService(FixedIdentifier(Busy()), species, max_bytes=1000)
    assert "too big" in service.precheck(5000, "image/jpeg").body
    assert service.precheck(500, "application/pdf") is not None
    assert service.precheck(500, "image/svg+xml") is not None
    assert service.precheck(500, "image/jpeg") is None
    assert service.precheck(None, None) is None


async def test_oversized_bytes_are_refused_without_running_the_model(species):
    card = await card_for(species, RuntimeError("model must not run"), max_bytes=5)
    assert "too big" in card.body


class RecordingLog:
    def __init__(self, fail: bool = False) -> None:
        self.rows: list[tuple] = []
        self.fail = fail

    async def log_identification(self, platform, chat_id, scientific_name, confidence) -> None:
        if self.fail:
            raise OSError("disk full")
        self.rows.append((platform, chat_id, scientific_name, round(confidence, 2)))


async def test_identifications_are_logged_once_with_taxon_or_not_a_reptile(species):
    id_log = RecordingLog()
    cobra = reptile(("Naja naja", "species", "snake", 0.93), confident=True)
    await IdentifyService(FixedIdentifier(cobra), species, 1000, id_log=id_log).identify(
        b"x", platform="telegram", chat_id=7)
    frog = Identification(False, 0.1, None, 0.0, (), non_reptile_kind="amphibian")
    await IdentifyService(FixedIdentifier(frog), species, 1000, id_log=id_log).identify(
        b"x", platform="discord", chat_id=8)
    bad = ImageRejected(RejectReason.CORRUPT)
    await IdentifyService(FixedIdentifier(bad), species, 1000, id_log=id_log).identify(
        b"x", platform="discord", chat_id=9)
    await IdentifyService(FixedIdentifier(cobra), species, 1000, id_log=id_log).identify(b"x")
    assert id_log.rows == [("telegram", 7, "Naja naja", 0.93), ("discord", 8, "", 0.9)]


async def test_a_failing_log_never_costs_the_child_its_answer(species):
    cobra = reptile(("Naja naja", "species", "snake", 0.93), confident=True)
    service = IdentifyService(FixedIdentifier(cobra), species, 1000, id_log=RecordingLog(fail=True))
    outcome = await service.identify(b"x", platform="telegram", chat_id=7)
    assert outcome.card.title == "Indian cobra"
