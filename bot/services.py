"""Wiring: one species repository, one inference session and one worker pool, shared by all adapters."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core import metrics
from bot.core.admin import parse_admin_ids
from bot.core.card import FactCard
from bot.core.identify import IdentifyService
from bot.core.photo import IdentifyPhoto
from bot.core.quiz.engine import QuizEngine
from bot.core.quiz.questions import QuestionGenerator
from bot.core.quiz.takeover import LeaseStore
from bot.core.ratelimit import UserRateLimiter
from bot.core.shared_ratelimit import RedisRateLimiter, rate_check
from bot.core.species import SpeciesRepository
from bot.settings import Settings
from bot.state.quiz import CutQuestion, Round
from bot.state.store import StateStore
from inference.classifier import ReptileClassifier
from inference.pack import PackClassifier, PackError, PackTaxon
from inference.pack_heads import StackedClassifier, is_head_only, load_pack_heads
from inference.preprocess import ImageLimits
from inference.runner import InferenceRunner

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything the adapters share. Create with :func:`open_services`, release with :meth:`close`.

    Attributes:
        interrupted_rounds: quiz rounds cut off by the previous run, closed at start-up (a record; each
            adapter tells its chats once through ``quiz.take_restart_notices``, see
            ``bot.core.quiz.session.announce_restart``).
        cut_questions: the questions those rounds had open (a record, as ``interrupted_rounds``).
        leases: this replica's round leases (``REPLICA_ID``), see :mod:`bot.core.quiz.takeover`.
    """

    settings: Settings
    species: SpeciesRepository
    runner: InferenceRunner
    identify: IdentifyService
    state: StateStore
    quiz: QuizEngine
    interrupted_rounds: list[Round] = field(default_factory=list)
    cut_questions: list[CutQuestion] = field(default_factory=list)
    admin_ids: frozenset[str] = frozenset()
    started_at: float = field(default_factory=time.time)
    #: The platforms this process serves, and which of them are connected now (for ``/readyz``).
    platforms_expected: tuple[str, ...] = ()
    platforms_up: dict[str, bool] = field(default_factory=dict)
    #: Ports this process's servers listen on, by name (``"telegram_webhook"``), once they listen.
    listening: dict[str, int] = field(default_factory=dict)
    #: Per-user photo limits in Redis (``REDIS_URL``), shared by every replica; ``None`` = in memory.
    shared_limiter: RedisRateLimiter | None = None
    leases: LeaseStore | None = None

    @property
    def photos(self) -> IdentifyPhoto:
        """The photo use case over :attr:`identify` and :meth:`rate_check` (adapters call its
        :meth:`~bot.core.photo.IdentifyPhoto.handle`)."""
        return IdentifyPhoto(self.identify, self.rate_check)

    async def rate_check(self, platform: str, user_id: str | int) -> FactCard | None:
        """Count one photo of ``platform:user_id`` against the per-user limit (Redis when
        ``REDIS_URL`` is set, else this process's memory); a friendly card when over it, else ``None``."""
        return await rate_check(self.identify, self.shared_limiter, platform, user_id)

    async def close(self) -> None:
        """Stop the worker pool and close both databases."""
        self.runner.close()
        await self.state.close()
        await self.species.close()


async def open_species(
    settings: Settings, pack_rows: Sequence[Mapping[str, Any]] = (), labels: Sequence[PackTaxon] = ()
) -> SpeciesRepository:
    """Open the species database read-only, merged with the taxon rows of the species packs
    (``pack_rows``: :attr:`PackClassifier.taxon_rows`, or :func:`inference.pack.load_pack_taxa`
    ``.rows`` when no model is needed) after checking their ``labels`` against it.

    Taxa the database has keep its reviewed rows; the pack's rows serve the others (see
    :class:`SpeciesRepository`).

    Raises:
        FileNotFoundError: when the database is missing.
        inference.pack.PackError: when a pack row breaks the database schema, or a label disagrees
            with the database on rank, type or venom, or names a taxon the database lacks without a
            pack row for it.
    """
    try:
        species = await SpeciesRepository.open(settings.species_db_path, extra_rows=pack_rows, labels=labels)
    except ValueError as exc:
        raise PackError(f"{settings.reptile_pack or 'species pack'}: {exc}") from exc
    if species.pack_taxa:
        log.warning("species pack: %d taxa are not in %s and are served from the pack's rows (%s); their "
                    "facts are not reviewed and they are left out of quizzes", len(species.pack_taxa),
                    settings.species_db_path, ", ".join(t.scientific_name for t in species.pack_taxa))
    return species


async def open_services(settings: Settings) -> Services:
    """Load the model (one ``InferenceSession``) and open the species database read-only.

    With ``REPTILE_PACK``, the pack's taxon rows are merged into the species repository (the
    database's rows win for taxa it has); quizzes use the database's rows only.

    Raises:
        FileNotFoundError: when the model, the species pack or the database is missing.
        inference.pack.PackError: when ``REPTILE_PACK`` is set and the pack is corrupt, disagrees with
            the species database on a taxon's rank, type or venom, or names a taxon the database lacks
            without carrying a row for it.
    """
    limits = ImageLimits(max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
    classifier: ReptileClassifier | PackClassifier | StackedClassifier
    packs = settings.pack_dirs()
    if len(packs) > 1:
        # Several head-only packs: one backbone run, every pack's head on its embedding. Fails loudly
        # (PackError) when a pack and the species database disagree.
        if not all(is_head_only(p) for p in packs):
            raise PackError("several packs can be stacked only when all are head-only (retrain them)")
        base = ReptileClassifier(settings.model_path, threads=settings.onnx_threads, limits=limits)
        classifier = StackedClassifier(base, load_pack_heads(packs))
        species = await open_species(settings, classifier.taxon_rows, classifier.taxa)
    elif packs:  # one pack, head-only or composed
        classifier = PackClassifier(packs[0], threads=settings.onnx_threads, limits=limits)
        species = await open_species(settings, classifier.taxon_rows, classifier.taxa)
    else:
        classifier = ReptileClassifier(settings.model_path, threads=settings.onnx_threads, limits=limits)
        species = await open_species(settings)
    state: StateStore | None = None
    try:
        salt = settings.identification_salt
        state = await StateStore.open(
            settings.state_db_target(), salt=salt.get_secret_value().encode() if salt else None
        )
        quiz = QuizEngine(QuestionGenerator(species.database_taxa), state)
        leases = LeaseStore.from_settings(state, settings)
        # rounds another replica still drives under a live lease are left to it (issue 13)
        interrupted, cut = await quiz.close_cut_rounds(exclude=await leases.startup_exclusions())
        runner = InferenceRunner(
            classifier, max_workers=settings.inference_workers, max_pending=settings.inference_queue
        )
    except BaseException:
        if state is not None:
            await state.close()
        await species.close()
        raise
    log.info("model %s loaded; %d taxa in the species database, %d more from the pack", classifier.name,
             len(species.database_taxa), len(species.pack_taxa))
    limiter = UserRateLimiter(settings.user_rate_limit, settings.user_rate_window_s)
    metrics.watch_queue(lambda: runner.pending)
    identify = IdentifyService(metrics.MeteredIdentifier(runner), species, settings.max_image_bytes, limiter,
                               id_log=state)
    if interrupted:
        log.info("closed %d quiz round(s) cut off by the last stop", len(interrupted))
    shared = None
    if settings.redis_url is not None:
        shared = RedisRateLimiter(settings.redis_url.get_secret_value().strip(), settings.user_rate_limit,
                                  settings.user_rate_window_s)
        log.info("per-user rate limits are shared through Redis")
    return Services(settings, species, runner, identify, state, quiz, interrupted, cut,
                    admin_ids=parse_admin_ids(settings.admin_ids), shared_limiter=shared, leases=leases)
