"""One photo use case for every platform: :class:`IdentifyPhoto` (platform-neutral).

An adapter parses its event into a :class:`PhotoRequest` (who sent it, what the platform declares about
the file, and an async ``fetch`` that downloads it), calls :meth:`IdentifyPhoto.handle` and renders the
:class:`Reply`. The order is fixed here, once:

1. **precheck**: the declared size and MIME type (:meth:`IdentifyService.precheck`); a refused file is
   never fetched and costs no quota;
2. **rate limit**: one photo counted for ``platform:user`` (Redis or in memory); a limited user's file
   is never fetched;
3. **fetch**: the adapter's callable (Telegram ``getFile`` + download, Discord CDN download);
4. **identify**: decode + model in the bounded worker pool (:class:`inference.runner.InferenceRunner`),
   then the fact card (:meth:`IdentifyService.card_for`);
5. **log**: the identification log (platform, hashed chat id, taxon, confidence);
6. **quiz offer**: a "Quiz the group!" offer for a quizzable card (:meth:`IdentifyService.quizzable`).

Every kind answer (too big, not an image, busy, rate limited, not a reptile, download failed) is the
same card as before; only the order is now the same on every platform.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core import messages as m
from bot.core.card import FactCard
from bot.core.cards import problem_card
from bot.core.identify import IdentifyService

log = logging.getLogger(__name__)

#: Downloads the photo's bytes; may raise :class:`FetchTooLarge` or :class:`FetchFailed`.
Fetch = Callable[[], Awaitable[bytes]]
#: Counts one photo of ``(platform, user)``: a kind card when over the limit, else ``None``.
RateCheck = Callable[[str, "str | int"], Awaitable[FactCard | None]]


class FetchTooLarge(Exception):
    """The download went past the byte limit (or the platform refused the file as too big)."""


class FetchFailed(Exception):
    """The picture could not be downloaded (network error, timeout, non-200 status)."""


@dataclass(frozen=True, slots=True)
class PhotoRequest:
    """One photo to identify, as an adapter parsed it.

    Attributes:
        platform: ``"telegram"``, ``"discord"`` or ``"terminal"``.
        chat: the chat (Telegram chat, Discord channel) the answer goes to; logged only as a hash.
        user: the sender, counted by the rate limit.
        size: the file size the platform declares, in bytes, or ``None`` when unknown.
        mime: the MIME type the platform declares, or ``None``.
        fetch: downloads the file (called at most once, only after the precheck and the rate limit).
    """

    platform: str
    chat: str | int
    user: str | int
    size: int | None
    mime: str | None
    fetch: Fetch


@dataclass(frozen=True, slots=True)
class QuizOffer:
    """A "Quiz the group!" offer: the taxon the card named (scientific name, possibly a group)."""

    scientific_name: str


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer: the card, and a quiz offer for a quizzable identification (else ``None``)."""

    card: FactCard
    quiz_offer: QuizOffer | None = None


class IdentifyPhoto:
    """The photo use case (see the module docstring for the order of its steps).

    Args:
        identify: the identification service (precheck, worker pool, card, log).
        rate_check: counts one photo per ``(platform, user)``; ``None`` = unlimited.
    """

    def __init__(self, identify: IdentifyService, rate_check: RateCheck | None = None) -> None:
        self.identify = identify
        self.rate_check = rate_check

    async def handle(self, request: PhotoRequest) -> Reply:
        """Answer one photo. Never raises for a bad file, a full queue or a failed download: each is a
        kind card. Errors of the adapter's ``fetch`` other than :class:`FetchTooLarge` and
        :class:`FetchFailed` propagate (the adapter's error handler answers them)."""
        refusal = self.identify.precheck(request.size, request.mime)
        if refusal is not None:
            return Reply(refusal)
        if self.rate_check is not None:
            limited = await self.rate_check(request.platform, request.user)
            if limited is not None:
                return Reply(limited)
        try:
            data = await request.fetch()
        except FetchTooLarge:
            log.info("%s: download refused as too big", request.platform)
            return Reply(problem_card(m.too_large_text(self.identify.max_bytes)))
        except FetchFailed as exc:
            log.warning("%s: download failed: %s", request.platform, exc)
            return Reply(problem_card(m.DOWNLOAD_FAILED_TEXT))
        outcome = await self.identify.identify(bytes(data), platform=request.platform, chat_id=request.chat)
        card = outcome.card
        offer = QuizOffer(card.scientific_name) if card.quizzable and card.scientific_name else None
        return Reply(card, offer)
