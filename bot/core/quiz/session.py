"""One quiz round as a running thing: :class:`RoundSession` owns its task, its question loop, the open
period, the early close, the reveal pause, who may stop it, the shutdown, and (with a lease) which
replica drives it. Platform-neutral: each platform supplies a small :class:`QuizTransport`.

Modelled on Red-DiscordBot's ``TriviaSession``: the session owns the loop, the adapter only reacts (it
posts what the transport is asked to post, and forwards answers). A round, as the session runs it::

    post question -> wait until the open period ends or everyone playing answered
      (early: transport.close_early) -> engine.close_question -> transport.show_reveal
      -> pause REVEAL_PAUSE -> next question ... -> engine.finish -> transport.post_text(summary)

The rules, the same on every platform (named settings in :class:`RoundConfig`, built from the settings
by :func:`round_config`, the one place):

* **Open period** ``QUIZ_OPEN_PERIOD_S`` plus :data:`GRACE_S` for answers still on their way; ``None``
  (the terminal, which plays in turns) waits for the answer.
* **Early close**: when the transport knows how many play (a private chat, a DM, the terminal: 1), as
  soon as that many answered; in a group, from question 2 on, once everyone who answered an earlier
  question of the round has answered this one (nobody is known to play before question 1 ends).
* **Reveal pause** ``QUIZ_REVEAL_PAUSE_S`` (default 3 s; Telegram had 2 s and Discord 5 s).
* **Stop**: the starter or a chat admin (:meth:`RoundSession.stop`, :class:`StopRefused` otherwise).
* **Shutdown** (and stop): cancel the round's task and wait for it (the engine's calls are shielded, so
  no database transaction is cut), end the round, close the open question where it was posted
  (:meth:`QuizTransport.show_stopped`), and on shutdown tell the chat :data:`INTERRUPTED_TEXT`.
* **Restart notice**: rounds cut by a restart are announced once per process by
  :func:`announce_restart` (the state is in the engine: :meth:`QuizEngine.take_restart_notices`).

Answers: :meth:`RoundSessions.answer` (the adapter knows the chat: Discord buttons, the terminal) or
:meth:`RoundSessions.answer_by_message` (Telegram poll answers carry only the poll id; an answer that
overtakes the registration of a poll being posted waits for it, at most :data:`REGISTRATION_WAIT_S`).

Several replicas (issue 13): with a :class:`~bot.core.quiz.takeover.LeaseStore`, a session holds its
round's lease and renews it every ``renew_s``; :meth:`RoundSessions.take_over_expired` (run periodically
by :meth:`RoundSessions.run_takeover`) continues rounds whose owner stopped renewing. See
:mod:`bot.core.quiz.takeover`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from bot.core.quiz.engine import (
    DEFAULT_QUESTIONS,
    INTERRUPTED_TEXT,
    MAX_QUESTIONS,
    MIN_QUESTIONS,
    ChatRef,
    QuizEngine,
    Reveal,
    RoundQuestion,
    RoundSummary,
)
from bot.core.quiz.questions import Difficulty
from bot.state.quiz import AnswerResult, AskedQuestion, CutQuestion, Round

if TYPE_CHECKING:
    from bot.core.quiz.takeover import LeaseStore

log = logging.getLogger(__name__)

__all__ = [
    "GRACE_S",
    "QUIZ_BROKEN_TEXT",
    "REGISTRATION_WAIT_S",
    "REVEAL_PAUSE_S",
    "STOP_NOT_ALLOWED_TEXT",
    "Posted",
    "QuestionTimer",
    "QuizRequest",
    "QuizTransport",
    "RealTimer",
    "RoundConfig",
    "RoundSession",
    "RoundSessions",
    "StopRefused",
    "announce_restart",
    "may_stop",
    "parse_quiz_args",
    "round_config",
]

#: Seconds a question stays open after its period, so answers given just before the platform closed it
#: (and still on their way to us) count.
GRACE_S = 1.0
#: Default pause between a reveal and the next question, seconds (``QUIZ_REVEAL_PAUSE_S``).
REVEAL_PAUSE_S = 3.0
#: How long an answer to an unknown message waits for a question being registered right now (by this
#: replica, or by another one through the shared database), seconds.
REGISTRATION_WAIT_S = 5.0
#: How often an answer to an unknown message looks for it again in the shared database, seconds.
REGISTRATION_POLL_S = 0.25

STOP_NOT_ALLOWED_TEXT = "Only the person who started this quiz (or an admin of this chat) can stop it."
QUIZ_BROKEN_TEXT = "Oops, something went wrong, so I had to stop the quiz. Points already won are saved."

TextKind = Literal["intro", "summary", "error", "interrupted"]


class StopRefused(Exception):
    """The user may not stop this round (text: :data:`STOP_NOT_ALLOWED_TEXT`)."""


async def may_stop(
    starter_id: str | None, user_id: str | int, admin: bool | None, transport: QuizTransport | None
) -> bool:
    """The one stop policy: the round's starter (``starter_id``; ``None`` when unknown), or an admin of
    the chat (``admin``; ``None``: ask ``transport.is_admin``, and a failing or missing transport means
    no)."""
    if starter_id is not None and str(user_id) == starter_id:
        return True
    if admin is None and transport is not None:
        try:
            admin = await transport.is_admin(str(user_id))
        except Exception:
            admin = False
    return bool(admin)


# ---------------------------------------------------------------------------------------------------
# Settings and the one /quiz parser
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundConfig:
    """How rounds run, the same on every platform.

    Attributes:
        open_period_s: seconds a question is open (``None``: until everyone answered; the terminal).
        grace_s: extra seconds after the period in which late-arriving answers still count.
        reveal_pause_s: seconds between a reveal and the next question.
        renew_s: seconds between renewals of the round's lease (when leases are used).
    """

    open_period_s: float | None = 30.0
    grace_s: float = GRACE_S
    reveal_pause_s: float = REVEAL_PAUSE_S
    renew_s: float = 5.0


def round_config(settings: Any, *, turns: bool = False) -> RoundConfig:
    """The :class:`RoundConfig` of ``settings`` (``QUIZ_OPEN_PERIOD_S``, ``QUIZ_REVEAL_PAUSE_S``,
    ``QUIZ_LEASE_RENEW_S``). ``turns=True`` (the terminal: one player answering in turns) has no open
    period and no pause: the reveal and the next question are shown as the answer's reply."""
    renew = float(getattr(settings, "quiz_lease_renew_s", 5.0))
    if turns:
        return RoundConfig(open_period_s=None, grace_s=0.0, reveal_pause_s=0.0, renew_s=renew)
    return RoundConfig(
        open_period_s=float(settings.quiz_open_period_s),
        reveal_pause_s=float(getattr(settings, "quiz_reveal_pause_s", REVEAL_PAUSE_S)),
        renew_s=renew,
    )


STOP_WORDS = frozenset({"stop", "end", "cancel"})
DIFFICULTY_WORDS: dict[str, Difficulty] = {
    "kids": Difficulty.KIDS, "kid": Difficulty.KIDS, "easy": Difficulty.KIDS,
    "expert": Difficulty.EXPERT, "experts": Difficulty.EXPERT, "hard": Difficulty.EXPERT,
}


@dataclass(frozen=True, slots=True)
class QuizRequest:
    """A parsed ``/quiz`` command: ``stop``, or start ``n`` questions at ``difficulty``."""

    stop: bool = False
    n: int = DEFAULT_QUESTIONS
    difficulty: Difficulty = Difficulty.KIDS


def parse_quiz_args(args: Sequence[str] | str) -> QuizRequest | None:
    """``/quiz [number] [kids|expert]`` in any order, or ``/quiz stop``; ``None`` when not understood.

    ``args``: the words after the command (or the text, split on white space). The number is clamped
    to 1-20. Used by every platform (Telegram's ``/quiz``, the terminal; Discord has typed options).
    """
    if isinstance(args, str):
        args = args.split()
    words = [a.strip().casefold() for a in args if a.strip()]
    if len(words) == 1 and words[0] in STOP_WORDS:
        return QuizRequest(stop=True)
    n, difficulty = DEFAULT_QUESTIONS, Difficulty.KIDS
    seen_n = seen_level = False
    for word in words:
        if re.fullmatch(r"\d{1,6}", word) and not seen_n:
            n, seen_n = max(MIN_QUESTIONS, min(int(word), MAX_QUESTIONS)), True
        elif word in DIFFICULTY_WORDS and not seen_level:
            difficulty, seen_level = DIFFICULTY_WORDS[word], True
        else:
            return None
    return QuizRequest(False, n, difficulty)


# ---------------------------------------------------------------------------------------------------
# What a platform provides
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Posted:
    """A question as posted: ``message_id`` is what answers name (Telegram: the poll id; Discord: the
    message id); ``post_message_id`` and ``thread_id`` are where it was posted (Telegram: the poll's
    message id and forum topic), stored so that another run can close it there."""

    message_id: str
    post_message_id: str | None = None
    thread_id: str | None = None


class QuizTransport(Protocol):
    """What a platform does for a round. Every method may raise the platform's errors; the session
    logs them and ends the round with :data:`QUIZ_BROKEN_TEXT` (except best-effort calls at the end)."""

    def known_players(self) -> int | None:
        """How many can answer, when the platform knows (private chat, DM, terminal: 1), else ``None``."""
        ...

    async def post_question(self, rq: RoundQuestion, closes_at: float | None) -> Posted:
        """Post ``rq`` (its photo first for a photo question); ``closes_at``: Unix time its period ends
        (for a countdown; ``None``: no period)."""
        ...

    async def close_early(self, rq: RoundQuestion, posted: Posted) -> None:
        """Everyone answered before the period ended: close the question on the platform (Telegram
        ``stopPoll``; nothing where the reveal closes it)."""
        ...

    async def show_reveal(self, rq: RoundQuestion, posted: Posted, reveal: Reveal) -> None:
        """Show the right answer (``reveal.text``, plain text) for the closed question."""
        ...

    async def show_stopped(self, rq: RoundQuestion, posted: Posted) -> None:
        """The round ended (stop, shutdown, error) while ``rq`` was open: close it where it was posted."""
        ...

    async def post_text(self, text: str, kind: TextKind) -> None:
        """Post plain ``text`` in the round's chat: the intro, the summary, an error, the shutdown notice."""
        ...

    async def is_admin(self, user_id: str) -> bool:
        """True when ``user_id`` administers the chat (may stop anyone's round)."""
        ...


class QuestionTimer(Protocol):
    """Waits for an event for at most some seconds (tests pass a clock they drive)."""

    async def wait(self, event: asyncio.Event, seconds: float | None) -> bool:
        """Wait until ``event`` is set (returns ``True``) or ``seconds`` passed (returns whether it is
        set by then). ``None``: no limit."""
        ...


class RealTimer:
    """The :class:`QuestionTimer` of production: :func:`asyncio.wait_for` on the event."""

    async def wait(self, event: asyncio.Event, seconds: float | None) -> bool:
        """See :meth:`QuestionTimer.wait`."""
        if seconds is None:
            await event.wait()
            return True
        if event.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, seconds))
        return event.is_set()


#: The timer used by sessions created without one (tests may replace it).
TIMER: QuestionTimer = RealTimer()

_T = TypeVar("_T")


async def _shielded(call: Awaitable[_T]) -> _T:
    """Run an engine call shielded from cancellation, so a stop or a shutdown never cuts a state-database
    transaction or the engine's bookkeeping in half."""
    return await asyncio.shield(call)


# ---------------------------------------------------------------------------------------------------
# One round
# ---------------------------------------------------------------------------------------------------


class RoundSession:
    """One running round in one chat: create it with :meth:`RoundSessions.start` (or ``launch``).

    Attributes:
        chat: where the round is played.
        starter_id: who started it (may stop it), as text.
        round_id: the round's id in the state database.
    """

    def __init__(
        self,
        engine: QuizEngine,
        transport: QuizTransport,
        first: RoundQuestion,
        chat: ChatRef,
        starter_id: str,
        config: RoundConfig,
        *,
        intro: str | None = None,
        timer: QuestionTimer | None = None,
        clock: Callable[[], float] = time.time,
        on_end: Callable[[RoundSession], None] | None = None,
        leases: LeaseStore | None = None,
        adopted: bool = False,
        resume: Posted | None = None,
        resume_closes_at: float | None = None,
    ) -> None:
        self.engine = engine
        self.transport = transport
        self.chat = chat
        self.starter_id = str(starter_id)
        self.round_id = first.round_id
        self.config = config
        self._first = first
        self._intro = intro
        self._timer = timer
        self._clock = clock
        self._on_end = on_end
        self.leases = leases
        #: Taken over from another replica (its lease and plan are stored already).
        self.adopted = adopted
        self._resume = resume
        self._resume_closes_at = resume_closes_at
        self.players: set[str] = set()
        self.answered: set[str] = set()
        self.current: RoundQuestion | None = None
        self.posted: Posted | None = None
        self._revealed = False
        self._everyone = asyncio.Event()
        self._never = asyncio.Event()
        #: Set while a question is open for answers, or once the round is over.
        self._settled = asyncio.Event()
        self._step = asyncio.Event()
        self._generation = 0
        #: Cleared while a question is being posted and registered (an answer can arrive in between).
        self.registered = asyncio.Event()
        self.registered.set()
        self._ending = False
        self.task: asyncio.Task[None] | None = None

    # -- running -----------------------------------------------------------------------------------

    def begin(self) -> None:
        """Start the round's task (no ``await`` between ``engine.start`` and this, so no round is ever
        left in the engine without a task driving it)."""
        self.task = asyncio.create_task(self._run(), name=f"quiz-{self.chat.platform}-{self.chat.chat_id}")

    @property
    def done(self) -> bool:
        """True once the round's task has ended."""
        return self.task is not None and self.task.done()

    @property
    def generation(self) -> int:
        """How many times the round became ready for answers (a question opened, or the round ended)."""
        return self._generation

    async def until_settled(self, since: int | None = None) -> None:
        """Wait until a question is open for answers, or the round is over; with ``since`` (a
        :attr:`generation`), until that happened after it. The terminal and the Discord start wait for
        this; tests too."""
        while self.task is not None and not self.task.done():
            if self._settled.is_set() and (since is None or self._generation > since):
                return
            step = asyncio.ensure_future(self._step.wait())
            try:
                await asyncio.wait({step, self.task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                step.cancel()

    @property
    def is_open(self) -> bool:
        """True while the current question is posted and open for answers."""
        return self._settled.is_set() and not self.done and self.posted is not None

    def _mark_settled(self) -> None:
        self._settled.set()
        self._generation += 1
        self._step.set()
        self._step = asyncio.Event()

    def _wait(self, event: asyncio.Event, seconds: float | None) -> Awaitable[bool]:
        return (self._timer or TIMER).wait(event, seconds)

    def everyone_answered(self) -> bool:
        """The early-close rule (see the module docstring)."""
        known = self.transport.known_players()
        if known is not None:
            return len(self.answered) >= known
        if self.current is None or self.current.index == 0:
            return False  # nobody is known to be playing yet: only the timer closes question 1
        return bool(self.players) and self.players <= self.answered

    def note_answer(self, user_id: str | int) -> None:
        """An accepted answer of ``user_id`` to the open question: may close it early."""
        self.answered.add(str(user_id))
        self.players.add(str(user_id))
        if self.everyone_answered():
            self._settled.clear()  # no longer open: :meth:`until_settled` waits for the next question
            self._everyone.set()

    async def _run(self) -> None:
        engine, chat, transport = self.engine, self.chat, self.transport
        rq: RoundQuestion | None = self._first
        try:
            if self.leases is not None and not self.adopted:
                await _shielded(self.leases.start(self.round_id, engine.plan(chat), self.starter_id))
            if self._intro:
                await transport.post_text(self._intro, "intro")
            while rq is not None:
                await self._ask(rq)
                early = await self._wait(self._everyone, self._period(rq))
                self._settled.clear()
                if early:
                    await transport.close_early(rq, self._posted())
                reveal = await _shielded(engine.close_question(chat))
                self._revealed = True
                if reveal is not None:
                    await transport.show_reveal(rq, self._posted(), reveal)
                rq = await _shielded(engine.next_question(chat))
                if rq is not None and self.config.reveal_pause_s > 0:
                    await self._wait(self._never, self.config.reveal_pause_s)
            summary = await _shielded(engine.finish(chat))
            await self._release()
            if summary is not None:
                await transport.post_text(summary.text, "summary")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("quiz round on %s failed (%s: %s)", chat.platform, type(exc).__name__, str(exc)[:200])
            with contextlib.suppress(Exception):
                stopped = await _shielded(engine.stop(chat))
                await self._release()
                if stopped is not None:
                    await self._show_stopped()
                    await transport.post_text(QUIZ_BROKEN_TEXT, "error")
        finally:
            self._mark_settled()
            if self._on_end is not None:
                self._on_end(self)

    def _period(self, rq: RoundQuestion) -> float | None:
        if self._resume is not None and rq.index == self._first.index:
            # taken over while open: what is left of its period (it is revealed at once when it is over)
            return max(0.0, self._resume_closes_at - self._clock()) if self._resume_closes_at else 0.0
        if self.config.open_period_s is None:
            return None
        return self.config.open_period_s + self.config.grace_s

    async def _release(self) -> None:
        if self.leases is not None:
            try:
                await _shielded(self.leases.release(self.round_id))
            except Exception as exc:
                log.info("quiz: could not release a round's lease (%s)", type(exc).__name__)

    def _posted(self) -> Posted:
        assert self.posted is not None
        return self.posted

    async def _ask(self, rq: RoundQuestion) -> None:
        """Post one question and register it in the engine (or, taking over, adopt the posted one)."""
        self.current, self.posted, self._revealed = rq, None, False
        self.answered = set()
        self._everyone.clear()
        if self._resume is not None and rq.index == self._first.index:
            self.posted = self._resume  # taken over: the question is already posted and registered
            self._mark_settled()
            return
        period = self.config.open_period_s
        now = self._clock()
        self.registered.clear()
        try:
            posted = await self.transport.post_question(rq, now + period if period is not None else None)
            closes_at = now + period + self.config.grace_s if period is not None else None
            self.posted = posted
            await _shielded(self.engine.question_posted(
                self.chat, posted.message_id, closes_at,
                post_message_id=posted.post_message_id, thread_id=posted.thread_id))
        finally:
            self.registered.set()
        self._mark_settled()

    # -- ending ------------------------------------------------------------------------------------

    async def _cancel(self) -> None:
        task = self.task
        if task is None or task.done() or task is asyncio.current_task():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def _show_stopped(self) -> None:
        if self.current is not None and self.posted is not None and not self._revealed:
            self._revealed = True
            try:
                await self.transport.show_stopped(self.current, self.posted)
            except Exception as exc:
                log.info("quiz: could not close a stopped question on %s (%s)", self.chat.platform,
                         type(exc).__name__)

    async def stop(self, user_id: str | int, admin: bool | None = None) -> RoundSummary | None:
        """End the round early for ``user_id``: cancel and drain its task, end it in the engine (points
        won are kept), close the open question where it was posted. Returns the summary (the caller
        posts it, e.g. as the command's reply), ``None`` when it had ended already.

        Raises:
            StopRefused: ``user_id`` neither started the round nor administers the chat.
        """
        if not await may_stop(self.starter_id, user_id, admin, self.transport):
            raise StopRefused(STOP_NOT_ALLOWED_TEXT)
        return await self._end(notice=None)

    async def shutdown(self) -> None:
        """The process is stopping: cancel and drain the task, end the round, close the open question
        and tell the chat :data:`INTERRUPTED_TEXT` (best effort)."""
        await self._end(notice=INTERRUPTED_TEXT)

    async def _end(self, notice: str | None) -> RoundSummary | None:
        if self._ending:
            await self._cancel()
            return None
        self._ending = True
        await self._cancel()
        summary = await _shielded(self.engine.stop(self.chat))
        await self._release()
        if summary is None or summary.round_id != self.round_id:
            return summary
        await self._show_stopped()
        if notice is not None:
            try:
                await self.transport.post_text(notice, "interrupted")
            except Exception as exc:
                log.info("quiz: could not tell a chat its round was stopped (%s)", type(exc).__name__)
        return summary

    async def ended_elsewhere(self) -> None:
        """Another replica ended the round (``/quiz stop`` arrived there): stop driving it, close the
        open question where it was posted, give the lease up."""
        self._ending = True
        await self._cancel()
        self.engine.forget(self.chat)
        await self._show_stopped()
        await self._release()

    async def abandon(self) -> None:
        """Stop driving the round without ending it (another replica owns it now, or a simulated
        crash): the task is cancelled and the engine forgets the round; the database keeps it running."""
        self._ending = True
        await self._cancel()
        self.engine.forget(self.chat)


# ---------------------------------------------------------------------------------------------------
# The rounds of one platform
# ---------------------------------------------------------------------------------------------------


class RoundSessions:
    """The running :class:`RoundSession` s of one platform in this process.

    Args:
        engine: the shared quiz engine.
        platform: ``"telegram"``, ``"discord"`` or ``"terminal"``.
        config: how rounds run (:func:`round_config`).
        timer: waits for the open period and the pause (``None``: :data:`TIMER`).
        clock: Unix time.
        leases: the round leases (several replicas on one database); ``None``: no leases.
        resume: makes the transport of a round taken over from another replica, from the round and the
            question it asked last (``None``: this platform takes no rounds over), see
            :meth:`take_over_expired`; may be set later (when the platform's client is known).
        keeper: run :meth:`run_takeover` in the background once a round starts or
            :meth:`start_keeper` is called (tests drive :meth:`renew` and :meth:`take_over_expired`).
    """

    def __init__(
        self,
        engine: QuizEngine,
        platform: str,
        config: RoundConfig,
        *,
        timer: QuestionTimer | None = None,
        clock: Callable[[], float] = time.time,
        leases: LeaseStore | None = None,
        resume: Callable[[Round, AskedQuestion | None], QuizTransport | None] | None = None,
        keeper: bool = True,
    ) -> None:
        self.engine = engine
        self.platform = platform
        self.config = config
        self.timer = timer
        self.clock = clock
        self.leases = leases
        self.resume = resume
        self.keeper = keeper
        #: The adapter object that runs these sessions (its quiz runner), for the adapter's own use.
        self.owner: Any = None
        self.sessions: dict[tuple[str, str], RoundSession] = {}
        self._keeper: asyncio.Task[None] | None = None
        self._takeover_lock = asyncio.Lock()
        engine.sessions[platform] = self

    def get(self, chat: ChatRef) -> RoundSession | None:
        """The running session of ``chat``, or ``None``."""
        return self.sessions.get(chat.key)

    def launch(
        self,
        first: RoundQuestion,
        chat: ChatRef,
        transport: QuizTransport,
        starter_id: str | int,
        *,
        intro: str | None = None,
    ) -> RoundSession:
        """Run the round whose first question ``engine.start``/``start_photo_round`` just returned, in
        a task of its own. Call it with no ``await`` in between (see :meth:`RoundSession.begin`)."""
        session = self._session(first, chat, transport, starter_id, intro=intro)
        if self.leases is not None:
            self._ensure_keeper()
        session.begin()
        return session

    def adopt(
        self,
        first: RoundQuestion,
        chat: ChatRef,
        transport: QuizTransport,
        starter_id: str,
        *,
        posted: Posted | None = None,
        closes_at: float | None = None,
    ) -> RoundSession:
        """A session for a round taken over from another replica (see
        :func:`bot.core.quiz.takeover.take_over`): ``first`` is the question to go on with; ``posted``
        when it is posted already (then it is revealed when ``closes_at`` has passed). Not started yet:
        call :meth:`RoundSession.begin`."""
        return self._session(first, chat, transport, starter_id, adopted=True, resume=posted,
                             resume_closes_at=closes_at)

    def _session(self, first: RoundQuestion, chat: ChatRef, transport: QuizTransport, starter_id: str | int,
                 **kwargs: Any) -> RoundSession:
        session = RoundSession(self.engine, transport, first, chat, str(starter_id), self.config,
                               timer=self.timer, clock=self.clock, on_end=self._ended, leases=self.leases,
                               **kwargs)
        old = self.sessions.get(chat.key)
        if old is not None and not old.done and old.task is not None:
            old.task.cancel()  # the engine refused a second round, so this one is over
        self.sessions[chat.key] = session
        return session

    async def start(
        self,
        chat: ChatRef,
        transport: QuizTransport,
        starter_id: str | int,
        n: int = DEFAULT_QUESTIONS,
        difficulty: Difficulty | str = Difficulty.KIDS,
        *,
        intro: Callable[[RoundQuestion], str] | None = None,
    ) -> RoundSession:
        """Start a round of ``n`` questions in ``chat`` and run it.

        Raises:
            RoundAlreadyRunning, NoQuestions: as :meth:`QuizEngine.start`.
        """
        first = await self.engine.start(chat, n=n, difficulty=difficulty)
        return self.launch(first, chat, transport, starter_id, intro=intro(first) if intro else None)

    async def start_photo(
        self, chat: ChatRef, transport: QuizTransport, starter_id: str | int, photo_key: str
    ) -> RoundSession:
        """Start the one-question round about a remembered photo and run it.

        Raises:
            KeyError, RoundAlreadyRunning, NoQuestions: as :meth:`QuizEngine.start_photo_round`.
        """
        first = await self.engine.start_photo_round(chat, photo_key)
        return self.launch(first, chat, transport, starter_id)

    def _ended(self, session: RoundSession) -> None:
        if self.sessions.get(session.chat.key) is session:
            del self.sessions[session.chat.key]

    # -- answers -----------------------------------------------------------------------------------

    async def answer(self, chat: ChatRef, user_id: str | int, display_name: str, option: int) -> AnswerResult:
        """Record an answer to ``chat``'s open question (see :meth:`QuizEngine.answer`); an accepted
        answer may close the question early."""
        result = await _shielded(self.engine.answer(chat, user_id, display_name, option))
        session = self.sessions.get(chat.key)
        if result.accepted and session is not None:
            session.note_answer(user_id)
        return result

    async def answer_by_message(
        self, message_id: str | int, user_id: str | int, display_name: str, option: int
    ) -> tuple[ChatRef | None, AnswerResult]:
        """Record an answer to the question posted as ``message_id`` (see
        :meth:`QuizEngine.answer_by_message`). An answer that overtook the registration of a question
        being posted here waits for it (at most :data:`REGISTRATION_WAIT_S`) and is tried once more;
        with no question being posted here, the shared database is looked at again every
        :data:`REGISTRATION_POLL_S` for as long (another replica may be registering it)."""
        chat, result = await _shielded(
            self.engine.answer_by_message(self.platform, message_id, user_id, display_name, option))
        if chat is None:
            pending = [s.registered.wait() for s in self.sessions.values() if not s.registered.is_set()]
            if pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*pending), REGISTRATION_WAIT_S)
                chat, result = await _shielded(
                    self.engine.answer_by_message(self.platform, message_id, user_id, display_name, option))
            else:
                # Another replica may be registering it right now (its row is not yet in the shared
                # database): look again now and then, for as long.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + REGISTRATION_WAIT_S
                while chat is None and loop.time() < deadline:
                    await asyncio.sleep(REGISTRATION_POLL_S)
                    chat, result = await _shielded(self.engine.answer_by_message(
                        self.platform, message_id, user_id, display_name, option))
        if chat is None or not result.accepted:
            return chat, result
        session = self.sessions.get(chat.key)
        posted = session.posted if session is not None else None
        if session is not None and posted is not None and posted.message_id == str(message_id):
            session.note_answer(user_id)
        return chat, result

    # -- ending ------------------------------------------------------------------------------------

    async def stop(
        self,
        chat: ChatRef,
        user_id: str | int,
        admin: bool | None = None,
        transport: QuizTransport | None = None,
    ) -> RoundSummary | None:
        """``/quiz stop`` by ``user_id``: the summary, or ``None`` when no round runs here.

        A round another replica drives (the command reached this one) is ended in the database, with
        the same policy (its starter is in its plan; ``admin``, else ``transport.is_admin``); its replica
        notices at its next renewal and closes the open question where it was posted.

        Raises:
            StopRefused: see :meth:`RoundSession.stop`.
        """
        session = self.sessions.get(chat.key)
        if session is not None:
            return await session.stop(user_id, admin)
        if self.engine.is_running(chat):
            return await _shielded(self.engine.stop(chat))  # a round nobody drives (should not happen)
        if self.leases is None:
            return None
        from bot.core.quiz.takeover import stop_elsewhere

        return await stop_elsewhere(self.leases, chat, user_id, admin, transport)

    async def shutdown(self) -> None:
        """End every round of this platform (cancel and drain, then tell the chats), then stop the
        lease keeper."""
        sessions = list(self.sessions.values())
        self.sessions.clear()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keeper
            self._keeper = None
        if sessions:
            await asyncio.gather(*(s.shutdown() for s in sessions), return_exceptions=True)
            log.info("%s: stopped %d quiz round(s) at shutdown", self.platform, len(sessions))

    async def abandon_all(self) -> None:
        """Stop driving every round without ending them (a simulated crash, or a lost lease)."""
        sessions = list(self.sessions.values())
        self.sessions.clear()
        if self._keeper is not None:
            self._keeper.cancel()
            self._keeper = None
        for s in sessions:
            await s.abandon()

    # -- leases (several replicas) -----------------------------------------------------------------

    def _ensure_keeper(self) -> None:
        if not self.keeper:
            return
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self.run_takeover(), name=f"quiz-leases-{self.platform}")

    async def renew(self) -> None:
        """Renew the lease of every round this process drives; a round whose lease another replica
        took is abandoned here (that replica drives it now); a round ended on another replica (stopped
        there) is closed here; answers another replica stored count for the early close."""
        if self.leases is None:
            return
        for session in list(self.sessions.values()):
            rnd = await self.leases.store.get_round(session.round_id)
            if rnd is not None and rnd.status != "running":
                log.info("%s: a quiz round was stopped on another replica", self.platform)
                if self.sessions.get(session.chat.key) is session:
                    del self.sessions[session.chat.key]
                await session.ended_elsewhere()
                continue
            current = session.current
            if current is not None and session.is_open:
                # answers that reached other replicas (Telegram webhooks) count for the early close
                for user_id in await self.leases.answerers(current.question_id) - session.answered:
                    session.note_answer(user_id)
            if not await self.leases.renew(session.round_id):
                log.warning("%s: lost the lease of a quiz round; another replica drives it", self.platform)
                if self.sessions.get(session.chat.key) is session:
                    del self.sessions[session.chat.key]
                await session.abandon()

    async def take_over_expired(self) -> list[RoundSession]:
        """Continue every running round of this platform whose lease expired (its replica stopped
        renewing): acquire the lease atomically (at most one replica wins), load the round from the
        database, close the cut question where it was posted if its time passed, and run the rest.
        Returns the sessions taken over."""
        if self.leases is None or self.resume is None:
            return []
        from bot.core.quiz.takeover import take_over

        async with self._takeover_lock:
            return await take_over(self)

    async def run_takeover(self) -> None:
        """Forever: every ``renew_s`` seconds renew this process's leases and take over expired rounds
        (started with the first round, or by the adapter at start-up)."""
        while True:
            try:
                await self.renew()
                await self.take_over_expired()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: quiz lease round failed (%s: %s)", self.platform, type(exc).__name__,
                            str(exc)[:200])
            await asyncio.sleep(self.config.renew_s)

    def start_keeper(self) -> None:
        """Start :meth:`run_takeover` in the background (no-op without leases)."""
        if self.leases is not None:
            self._ensure_keeper()


# ---------------------------------------------------------------------------------------------------
# Rounds cut by a restart
# ---------------------------------------------------------------------------------------------------


async def announce_restart(
    engine: QuizEngine,
    platform: str,
    close_cut: Callable[[CutQuestion], Awaitable[None]],
    tell: Callable[[str], Awaitable[None]],
    errors: tuple[type[BaseException], ...] = (Exception,),
) -> tuple[int, int, int, int]:
    """Close each question of ``platform`` the last stop cut (``close_cut``: where it was posted) and tell
    each chat whose round it cut (``tell(chat_id)`` posts :data:`INTERRUPTED_TEXT`). Once per process:
    the engine hands each notice out once (:meth:`QuizEngine.take_restart_notices`), so a reconnecting
    client does not repeat it. Failures (``errors``) are counted, not raised.

    Returns:
        (questions closed, questions cut, chats told, chats whose round was cut).
    """
    rounds, cut = engine.take_restart_notices(platform)
    closed = 0
    for question in cut:
        try:
            await close_cut(question)
            closed += 1
        except errors:
            pass
    chats = list(dict.fromkeys(r.chat_id for r in rounds))
    told = 0
    for chat_id in chats:
        try:
            await tell(chat_id)
            told += 1
        except errors:
            pass
    return closed, len(cut), told, len(chats)
