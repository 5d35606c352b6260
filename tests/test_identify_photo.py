"""The photo use case (:class:`bot.core.photo.IdentifyPhoto`) on the core, with a fake model and fetch.

What a user would notice: a file refused before download (too big, not an image) costs no photo of
their quota and is never downloaded; a rate-limited user's file is never downloaded; a download that
fails gets a kind answer; "Quiz the group!" is offered only for a quizzable answer (confident, about a
reviewed taxon); the answer is logged once per identified photo, with no raw chat id.
"""

from __future__ import annotations

import dataclasses

import pytest

from bot.core import messages as m
from bot.core.card import CardKind
from bot.core.identify import IdentifyService
from bot.core.photo import FetchFailed, FetchTooLarge, IdentifyPhoto, PhotoRequest
from bot.core.ratelimit import UserRateLimiter
from bot.core.species import SpeciesRepository, Taxon
from inference.errors import Busy
from inference.types import Identification, TaxonScore
from tests.species_rows import ROWS, build_db

MAX_BYTES = 1000


class FixedIdentifier:
    """Answers every photo with a preset identification (or raises a preset error); counts calls."""

    def __init__(self, result: Identification | Exception) -> None:
        self.result = result
        self.seen: list[bytes] = []

    async def identify(self, data: bytes) -> Identification:
        self.seen.append(data)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class Fetch:
    """The adapter's download step: returns ``data`` (or raises ``error``) and counts its calls."""

    def __init__(self, data: bytes = b"jpeg bytes", error: Exception | None = None) -> None:
        self.data = data
        self.error = error
        self.calls = 0

    async def __call__(self) -> bytes:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.data


class Log:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, float]] = []

    async def log_identification(self, platform, chat_id, scientific_name, confidence) -> None:
        self.rows.append((platform, str(chat_id), scientific_name, confidence))


def reptile(name: str, rtype: str, conf: float, *, confident: bool) -> Identification:
    top = (TaxonScore(name, "species", rtype, conf),)
    return Identification(True, 0.97, rtype, 0.95, top, confident=confident, model="test")


PACK_ROW = {f.name: None for f in dataclasses.fields(Taxon)} | dict(
    ROWS[2], scientific_name="Thamnophis elegans", common_name="Western terrestrial garter snake",
    continents="North America", synonyms="", who_regions="", lists="pack",
    source_url="https://en.wikipedia.org/wiki/Western_terrestrial_garter_snake")


@pytest.fixture
async def species(tmp_path):
    repo = await SpeciesRepository.open(build_db(tmp_path / "species.sqlite"), [PACK_ROW])
    yield repo
    await repo.close()


def use_case(species, result, limit: int = 1):
    identifier = FixedIdentifier(result)
    log = Log()
    limiter = UserRateLimiter(limit, 3600.0, clock=lambda: 0.0)
    service = IdentifyService(identifier, species, MAX_BYTES, limiter, log)

    async def rate_check(platform, user):
        return service.rate_check(platform, user)

    return IdentifyPhoto(service, rate_check), identifier, log


def request(fetch, size: int | None = 500, mime: str | None = "image/jpeg", user: int = 7) -> PhotoRequest:
    return PhotoRequest("discord", 42, user, size, mime, fetch)


COBRA = reptile("Naja naja", "snake", 0.93, confident=True)


@pytest.mark.parametrize(("size", "mime", "words"), [
    (MAX_BYTES + 1, "image/jpeg", "too big"),
    (500, "application/pdf", None),
])
async def test_a_refused_file_is_never_fetched_and_costs_no_quota(species, size, mime, words):
    photos, identifier, log = use_case(species, COBRA, limit=1)
    fetch = Fetch()
    reply = await photos.handle(request(fetch, size, mime))
    assert reply.card.kind is CardKind.PROBLEM and reply.quiz_offer is None
    assert words is None or words in reply.card.body
    assert fetch.calls == 0 and identifier.seen == [] and log.rows == []
    # the user's one photo of the window is still there
    ok = await photos.handle(request(Fetch()))
    assert ok.card.kind is CardKind.REPTILE


async def test_a_rate_limited_user_is_never_fetched(species):
    photos, identifier, _log = use_case(species, COBRA, limit=1)
    assert (await photos.handle(request(Fetch()))).card.kind is CardKind.REPTILE
    fetch = Fetch()
    reply = await photos.handle(request(fetch))
    assert reply.card.kind is CardKind.PROBLEM
    assert reply.card.body == m.rate_limited_text(3600.0)  # "Please wait 60 minutes"
    assert fetch.calls == 0 and len(identifier.seen) == 1
    other = await photos.handle(request(Fetch(), user=8))  # the limit is per user
    assert other.card.kind is CardKind.REPTILE


async def test_order_precheck_then_rate_limit_then_fetch_then_identify_then_log(species):
    photos, identifier, log = use_case(species, COBRA)
    fetch = Fetch(b"the photo")
    reply = await photos.handle(request(fetch))
    assert fetch.calls == 1 and identifier.seen == [b"the photo"]
    assert reply.card.scientific_name == "Naja naja"
    assert [(p, t) for p, _c, t, _ in log.rows] == [("discord", "Naja naja")]


@pytest.mark.parametrize(("error", "words"), [
    (FetchTooLarge("20 MB"), "too big"),
    (FetchFailed("HTTP 500"), m.DOWNLOAD_FAILED_TEXT),
])
async def test_a_failed_download_is_a_kind_answer_and_runs_no_model(species, error, words):
    photos, identifier, log = use_case(species, COBRA)
    reply = await photos.handle(request(Fetch(error=error)))
    assert reply.card.kind is CardKind.PROBLEM and words in reply.card.body
    assert identifier.seen == [] and log.rows == [] and reply.quiz_offer is None


async def test_busy_model_is_a_kind_answer(species):
    photos, _identifier, _log = use_case(species, Busy())
    reply = await photos.handle(request(Fetch()))
    assert reply.card.kind is CardKind.PROBLEM and "busy" in reply.card.body
    assert reply.quiz_offer is None


async def test_quiz_offer_only_for_quizzable_answers(species):
    confident, _, _ = use_case(species, COBRA)
    offer = (await confident.handle(request(Fetch()))).quiz_offer
    assert offer is not None and offer.scientific_name == "Naja naja"

    unsure, _, _ = use_case(species, reptile("Naja naja", "snake", 0.41, confident=False))
    reply = await unsure.handle(request(Fetch()))
    assert reply.card.kind is CardKind.REPTILE and reply.quiz_offer is None
    assert not reply.card.quizzable

    from_pack, _, _ = use_case(species, reptile("Thamnophis elegans", "snake", 0.95, confident=True))
    reply = await from_pack.handle(request(Fetch()))
    assert reply.card.scientific_name == "Thamnophis elegans"
    assert reply.quiz_offer is None  # never a quiz about facts nobody reviewed

    not_reptile = Identification(False, 0.05, None, 0.0, (), non_reptile_kind="object")
    nothing, _, _ = use_case(species, not_reptile)
    reply = await nothing.handle(request(Fetch()))
    assert reply.card.kind is CardKind.NOT_REPTILE and reply.quiz_offer is None
