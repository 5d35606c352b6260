"""Identify a photo and turn the answer into a fact card (platform-neutral)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Protocol

from bot.core import messages as m
from bot.core.card import FactCard
from bot.core.cards import not_reptile_card, problem_card, rejected_card, reptile_card
from bot.core.ratelimit import UserRateLimiter
from bot.core.species import SpeciesRepository, Taxon
from bot.core.taxonomy import Taxonomy
from bot.core.venom import VenomInput, VenomWarning, venom_warning
from inference.errors import Busy, ImageRejected, RejectReason
from inference.types import Identification

log = logging.getLogger(__name__)


class PhotoIdentifier(Protocol):
    """Anything that turns image bytes into an :class:`Identification` off the event loop.

    Implemented by :class:`inference.runner.InferenceRunner`. Raises :class:`ImageRejected` for bad
    input and :class:`Busy` when its queue is full.
    """

    async def identify(self, data: bytes) -> Identification: ...


class IdentificationLog(Protocol):
    """Where identifications are logged (implemented by
    :class:`bot.state.identifications.IdentificationLog`)."""

    async def log_identification(
        self, platform: str, chat_id: str | int, scientific_name: str, confidence: float
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """What the bot answers about one photo, before it becomes a card.

    Attributes:
        taxon: the answered taxon (rolled up the taxonomy), ``None`` for "not a reptile".
        confident: the card may say "I'm pretty sure".
        score: the answer's (summed) probability, in [0, 1].
        venom_warning: the venom rule's verdict (``identify --json`` ``venom_warning``), or ``None``.
        members_venom: venom statuses of the museum's taxa below the answer (``None`` when not a reptile).
    """

    taxon: Taxon | None
    confident: bool
    score: float
    venom_warning: VenomWarning | None
    members_venom: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class IdentifyOutcome:
    """The reply card and, when the model ran, its raw identification."""

    card: FactCard
    identification: Identification | None = None


#: MIME types that are never photos, whatever the file says; used before downloading.
_IMAGE_MIME_PREFIX = "image/"
_GENERIC_MIME = {"application/octet-stream", "binary/octet-stream", ""}


class IdentifyService:
    """Photo → identification → fact card, with kind answers for every failure.

    Args:
        identifier: runs decode + inference in a bounded worker pool.
        species: the species repository.
        max_bytes: largest accepted upload in bytes (the ``MAX_IMAGE_BYTES`` setting).
        rate_limiter: per-user photo limit; ``None`` = unlimited.
        id_log: the identification log (platform, hashed chat id, taxon, confidence, time);
            ``None`` = nothing is logged.
    """

    def __init__(
        self,
        identifier: PhotoIdentifier,
        species: SpeciesRepository,
        max_bytes: int,
        rate_limiter: UserRateLimiter | None = None,
        id_log: IdentificationLog | None = None,
    ) -> None:
        self.identifier = identifier
        self.species = species
        self.max_bytes = max_bytes
        self.rate_limiter = rate_limiter
        self.id_log = id_log
        self._taxonomy: Taxonomy | None = None
        self._venom: dict[str, str] = {}  # venom status by scientific name, built with the taxonomy

    def rate_check(self, platform: str, user_id: str | int) -> FactCard | None:
        """Count one photo for ``platform:user_id``; a friendly card when over the per-user limit
        (call before downloading), else ``None``."""
        if self.rate_limiter is None:
            return None
        key = (platform, str(user_id))
        if self.rate_limiter.allow(key):
            return None
        log.info("rate limit: %s user over %d photos per %.0f s", platform,
                 self.rate_limiter.limit, self.rate_limiter.window_s)
        return problem_card(m.rate_limited_text(self.rate_limiter.retry_after(key)))

    def precheck(self, size: int | None, mime_type: str | None = None) -> FactCard | None:
        """Check an attachment's declared size (bytes) and MIME type *before* downloading it.

        Returns a problem card to send instead of downloading, or ``None`` when it may be fetched.
        A missing size or a generic MIME type passes: the decoder checks the real bytes.
        """
        if size is not None and size > self.max_bytes:
            return problem_card(m.too_large_text(self.max_bytes))
        mime = (mime_type or "").split(";")[0].strip().lower()
        if mime and mime not in _GENERIC_MIME and not mime.startswith(_IMAGE_MIME_PREFIX):
            return rejected_card(RejectReason.NOT_AN_IMAGE)
        if mime == "image/svg+xml":
            return rejected_card(RejectReason.UNSUPPORTED)
        return None

    async def identify(
        self, data: bytes, *, platform: str | None = None, chat_id: str | int | None = None
    ) -> IdentifyOutcome:
        """Identify one photo. Never raises for bad input: every failure becomes a kind card.

        With ``platform`` and ``chat_id``, a model answer is also written to the identification log
        (:meth:`log`).
        """
        outcome = await self._identify(data)
        if platform is not None and chat_id is not None and outcome.identification is not None:
            await self.log(platform, chat_id, outcome.identification)
        return outcome

    async def log(self, platform: str, chat_id: str | int, ident: Identification) -> None:
        """Log one model answer: the top taxon and its confidence, or ``""`` (not a reptile) with the
        probability of not being a reptile. No photo and no user id. A failure is logged, never raised."""
        if self.id_log is None:
            return
        if ident.is_reptile and ident.top:
            taxon, confidence = ident.top[0].scientific_name, ident.top[0].confidence
        else:
            taxon, confidence = "", 1.0 - ident.reptile_probability
        try:
            await self.id_log.log_identification(platform, chat_id, taxon, confidence)
        except Exception as exc:
            log.warning("%s: could not log an identification (%s)", platform, type(exc).__name__)

    async def _identify(self, data: bytes) -> IdentifyOutcome:
        if len(data) > self.max_bytes:
            return IdentifyOutcome(problem_card(m.too_large_text(self.max_bytes)))
        try:
            ident = await self.identifier.identify(data)
        except ImageRejected as exc:
            log.info("image rejected: %s", exc.reason.value)
            return IdentifyOutcome(rejected_card(exc.reason, self.max_bytes))
        except Busy:
            log.warning("inference queue full; answered busy")
            return IdentifyOutcome(problem_card(m.BUSY_TEXT))
        except Exception:
            log.exception("identification failed")
            return IdentifyOutcome(problem_card(m.ERROR_TEXT))
        return IdentifyOutcome(await self.card_for(ident), ident)

    @property
    def taxonomy(self) -> Taxonomy:
        """The tree over every taxon the species repository serves (built once)."""
        if self._taxonomy is None:
            self._taxonomy = Taxonomy(self.species.taxa)
            self._venom = {t.scientific_name: t.venom for t in self.species.taxa}
        return self._taxonomy

    async def answer_for(self, ident: Identification) -> Answer:
        """Roll the model's candidates up the taxonomy and apply the venom rule (no card yet).

        Raises:
            LookupError: a scored taxon is missing from the species repository (a packaging bug).
        """
        if not ident.is_reptile or not ident.top:
            warning = venom_warning(VenomInput(ident.snake_probability, None))
            return Answer(None, False, 0.0, warning, None)
        pool = [c for c in (ident.candidates or ident.top) if c.reptile_type == ident.reptile_type]
        pool = pool or list(ident.candidates or ident.top)
        roll = self.taxonomy.roll_up({c.scientific_name: c.confidence for c in pool},
                                     ident.confident_threshold)
        name = roll.name if roll is not None and roll.rolled_up else ident.top[0].scientific_name
        top = await self.species.get(name)
        if top is None:
            raise LookupError(name)
        rolled = roll is not None and roll.rolled_up
        confident = True if rolled else ident.confident
        score = roll.score if rolled and roll is not None else ident.top[0].confidence
        tree = self.taxonomy  # also fills self._venom (in memory: no query per candidate)
        members_venom = tuple(self._venom[d] for d in tree.descendants(top.scientific_name)
                              if d in self._venom)
        venomous_share = sum(c.confidence for c in ident.candidates or ident.top
                             if self._venom.get(c.scientific_name) == "venomous")
        warning = venom_warning(VenomInput(
            snake_probability=ident.snake_probability, answer_venom=top.venom,
            members_venom=members_venom,
            confident=confident, venomous_share=min(1.0, venomous_share), answer_type=top.reptile_type,
        ))
        return Answer(top, confident, score, warning, members_venom)

    async def card_for(self, ident: Identification) -> FactCard:
        """The fact card for a model answer (reptile or not).

        The answer is rolled up the taxonomy (:meth:`answer_for`); the venom rule
        (:mod:`bot.core.venom`) decides the warning; :meth:`quizzable` sets ``card.quizzable``.
        """
        try:
            answer = await self.answer_for(ident)
        except LookupError as exc:  # a scored taxon the database lacks: only a packaging bug does this
            log.error("taxon %s missing from the species database", exc)
            return problem_card(m.ERROR_TEXT)
        if answer.taxon is None:
            return not_reptile_card(ident, answer.venom_warning)
        top = answer.taxon
        others = [t for s in ident.top if s.scientific_name != top.scientific_name
                  and (t := await self.species.get(s.scientific_name))]
        members = await self.species.members(top) if top.is_group else None
        card = reptile_card(ident, top, others, members, confident=answer.confident, score=answer.score,
                            venom_warning=answer.venom_warning)
        return dataclasses.replace(card, quizzable=self.quizzable(answer))

    def quizzable(self, answer: Answer) -> bool:
        """Whether an answered photo may become a "Quiz the group!" question: the one place this is
        decided. Only a confident answer (rolled up or not) about a taxon of the reviewed database:
        a taxon served from a species pack's rows is never quizzed, since quizzes only ask about
        reviewed facts."""
        return (answer.taxon is not None and answer.confident
                and not self.species.from_pack(answer.taxon.scientific_name))
