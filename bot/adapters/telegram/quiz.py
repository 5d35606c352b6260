"""Telegram quiz rounds: native quiz polls driven by :class:`bot.core.quiz.engine.QuizEngine`.

One asyncio task per chat runs a round (:class:`QuizRunner`): post the question as a quiz poll
(``sendPoll`` with ``type=quiz``, ``is_anonymous=False``, ``correct_option_ids``, ``explanation`` and
``open_period``), wait until the period ends or everyone playing has answered (then ``stopPoll``),
post the engine's reveal, and go on; after the last question, the round summary. The tasks belong to
the runner and are cancelled by ``/quiz stop`` and by :meth:`QuizRunner.shutdown` (``serve_telegram``'s
``finally``). No JobQueue (its APScheduler extra is not installed, and plain tasks are enough).

"Everyone playing" is the set of users who answered any question of this round. For the first question
of a group round nobody is known to be playing yet, so only the timer closes it; in a private chat the
single user's answer closes every question.

Scores come from ``poll_answer`` updates (:meth:`QuizRunner.on_poll_answer`); the engine keeps only the
first answer of each user. Players are named by their Telegram first name only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from telegram import Bot, Poll, ReplyParameters
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError

from bot.core.quiz.engine import (
    DEFAULT_QUESTIONS,
    INTERRUPTED_TEXT,
    MAX_QUESTIONS,
    MIN_QUESTIONS,
    ChatRef,
    RoundQuestion,
    restart_reveal_text,
)
from bot.core.quiz.questions import Difficulty
from bot.services import Services
from bot.state.quiz import CutQuestion

log = logging.getLogger(__name__)

PLATFORM = "telegram"

#: Seconds the round waits after a poll's ``open_period`` before closing it, so answers given just
#: before Telegram closed the poll (and still on their way to us) count.
GRACE_S = 1.0
#: How long a poll answer for an unknown poll waits for a poll being registered right now, seconds.
REGISTRATION_WAIT_S = 2.0
#: Pause between a reveal and the next question, so the reveal can be read first.
PAUSE_S = 2.0
#: Longest wait for a best-effort request (``stopPoll``, notices at start-up and shutdown).
BEST_EFFORT_TIMEOUT_S = 5.0

#: ``callback_data`` of the "Quiz the group!" button: this prefix and the engine's photo key.
PHOTO_CALLBACK_PREFIX = "quiz:"
PHOTO_CALLBACK_RE = re.compile(r"^quiz:([A-Za-z0-9_-]{1,40})$")
PHOTO_BUTTON_TEXT = "Quiz the group!"

STOP_WORDS = frozenset({"stop", "end", "cancel"})
DIFFICULTY_WORDS: dict[str, Difficulty] = {
    "kids": Difficulty.KIDS, "kid": Difficulty.KIDS, "easy": Difficulty.KIDS,
    "expert": Difficulty.EXPERT, "experts": Difficulty.EXPERT, "hard": Difficulty.EXPERT,
}

QUIZ_USAGE_TEXT = (
    "Start a quiz with /quiz, or choose how many questions (1-20) and how hard: "
    "for example /quiz 10 expert or /quiz 3 kids. Stop it with /quiz stop."
)
NOT_RUNNING_TEXT = "There is no quiz running in this chat right now. Start one with /quiz!"
QUIZ_BROKEN_TEXT = "Oops, something went wrong, so I had to stop the quiz. Points already won are saved."


def start_text(total: int, difficulty: Difficulty, open_period: int) -> str:
    """The announcement of a new round (plain text)."""
    questions = "1 question" if total == 1 else f"{total} questions"
    level = "for experts" if difficulty is Difficulty.EXPERT else "for kids"
    return (
        f"🦎 Quiz time! {questions} {level}. Tap your answer in each poll: you have "
        f"{open_period} seconds for each question. Stop the quiz with /quiz stop."
    )


@dataclass(frozen=True, slots=True)
class QuizRequest:
    """A parsed ``/quiz`` command: ``stop``, or start ``n`` questions at ``difficulty``."""

    stop: bool = False
    n: int = DEFAULT_QUESTIONS
    difficulty: Difficulty = Difficulty.KIDS


def parse_quiz_args(args: Sequence[str]) -> QuizRequest | None:
    """``/quiz [number] [kids|expert]`` in any order, or ``/quiz stop``; ``None`` when not understood.

    The number is clamped to 1-20.
    """
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


@dataclass(eq=False)
class _Round:
    """The adapter's side of a running round in one chat."""

    chat: ChatRef
    tg_chat_id: int
    thread_id: int | None
    private: bool
    players: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    index: int = 0
    poll_id: str | None = None
    poll_message_id: int | None = None
    open_period: int = 0
    everyone: asyncio.Event = field(default_factory=asyncio.Event)
    #: Cleared while a poll is being sent and registered: an answer can arrive in between.
    registered: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def everyone_answered(self) -> bool:
        if self.private:
            return bool(self.answered)
        if self.index == 0:
            return False  # nobody is known to be playing yet: only the timer closes question 1
        return bool(self.players) and self.players <= self.answered


_T = TypeVar("_T")


async def _engine(call: Awaitable[_T]) -> _T:
    """Run an engine call shielded from cancellation, so ``/quiz stop`` or a shutdown never cuts a
    state-database transaction or the engine's bookkeeping in half."""
    return await asyncio.shield(call)


class QuizRunner:
    """Runs Telegram quiz rounds: one task per chat, all cancelled by :meth:`shutdown`."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.engine = services.quiz
        self._rounds: dict[tuple[str, str], _Round] = {}

    @property
    def open_period(self) -> int:
        """Seconds a new question's poll stays open (``QUIZ_OPEN_PERIOD_S``)."""
        return int(self.services.settings.quiz_open_period_s)

    def chat_ref(self, chat_id: int) -> ChatRef:
        """Telegram rounds are per chat and scores are per chat."""
        return ChatRef(PLATFORM, str(chat_id))

    # -- starting and stopping ---------------------------------------------------------------------

    def launch(self, bot: Bot, first: RoundQuestion, chat_id: int, chat_type: str,
               thread_id: int | None = None, intro: str | None = None,
               intro_reply_to: int | None = None) -> None:
        """Run the round whose first question the engine just returned, in a task of its own.

        Call it right after ``engine.start``/``start_photo_round`` with no ``await`` in between, so a
        failure can never leave the engine with a round that no task drives. ``intro`` (plain text) is
        posted before the first question, replying to ``intro_reply_to``.
        """
        chat = self.chat_ref(chat_id)
        rnd = _Round(chat, chat_id, thread_id, chat_type == ChatType.PRIVATE)
        self._rounds[chat.key] = rnd
        rnd.task = asyncio.create_task(self._run(bot, rnd, first, intro, intro_reply_to),
                                       name=f"telegram-quiz-{chat_id}")

    async def stop(self, bot: Bot, chat_id: int) -> str | None:
        """End the chat's round early (``/quiz stop``): cancel its task, close the open poll and return
        the summary text, or ``None`` when no round was running."""
        chat = self.chat_ref(chat_id)
        rnd = self._rounds.pop(chat.key, None)
        if rnd is not None:
            await self._cancel(rnd)
        summary = await self.engine.stop(chat)
        if rnd is not None and rnd.poll_message_id is not None:
            await self._stop_poll(bot, rnd)
        return summary.text if summary else None

    async def shutdown(self, bot: Bot) -> None:
        """Cancel every round task, end their rounds and tell the chats (best effort, bounded)."""
        rounds = list(self._rounds.values())
        self._rounds.clear()
        if not rounds:
            return
        await asyncio.gather(*(self._cancel(r) for r in rounds))
        for rnd in rounds:
            with contextlib.suppress(Exception):
                await self.engine.stop(rnd.chat)

        async def tell(rnd: _Round) -> None:
            if rnd.poll_message_id is not None:
                await self._stop_poll(bot, rnd)
            await bot.send_message(rnd.tg_chat_id, INTERRUPTED_TEXT, message_thread_id=rnd.thread_id)

        results = await asyncio.gather(
            *(asyncio.wait_for(tell(r), BEST_EFFORT_TIMEOUT_S) for r in rounds), return_exceptions=True
        )
        failed = sum(isinstance(r, BaseException) for r in results)
        log.info("telegram: stopped %d quiz round(s) at shutdown (%d chat(s) not told)", len(rounds), failed)

    @staticmethod
    async def _cancel(rnd: _Round) -> None:
        task = rnd.task
        if task is None or task.done() or task is asyncio.current_task():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    # -- answers -----------------------------------------------------------------------------------

    async def on_poll_answer(self, poll_id: str, user_id: int, first_name: str,
                             option_ids: Sequence[int]) -> None:
        """Record a ``poll_answer``; closes the question early once everyone playing has answered."""
        if not option_ids:
            return  # a retracted vote (not possible in quizzes, but cheap to ignore)
        chat, result = await self.engine.answer_by_message(
            PLATFORM, poll_id, user_id, first_name, int(option_ids[0])
        )
        if chat is None:
            # The answer may have overtaken the registration of a poll just sent: wait for pending
            # registrations (bounded), then try once more, so a fast child's answer is not lost.
            pending = [r.registered.wait() for r in self._rounds.values() if not r.registered.is_set()]
            if pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*pending), REGISTRATION_WAIT_S)
                chat, result = await self.engine.answer_by_message(
                    PLATFORM, poll_id, user_id, first_name, int(option_ids[0])
                )
        if chat is None or not result.accepted:
            return
        rnd = self._rounds.get(chat.key)
        if rnd is None or rnd.poll_id != str(poll_id):
            return  # the round moved on while this answer was being stored
        rnd.answered.add(str(user_id))
        rnd.players.add(str(user_id))
        if rnd.everyone_answered():
            rnd.everyone.set()

    # -- the round ---------------------------------------------------------------------------------

    async def _run(self, bot: Bot, rnd: _Round, first: RoundQuestion, intro: str | None,
                   intro_reply_to: int | None) -> None:
        chat = rnd.chat
        rq: RoundQuestion | None = first
        try:
            if intro:
                await self._send(bot, rnd, intro, reply_to=intro_reply_to)
            while rq is not None:
                await self._ask(bot, rnd, rq)
                try:
                    await asyncio.wait_for(rnd.everyone.wait(), rnd.open_period + GRACE_S)
                    await self._stop_poll(bot, rnd)
                except TimeoutError:
                    pass
                reveal = await _engine(self.engine.close_question(chat))
                if reveal is not None:
                    await self._send(bot, rnd, reveal.text, reply_to=rnd.poll_message_id)
                rq = await _engine(self.engine.next_question(chat))
                if rq is not None and PAUSE_S > 0:
                    await asyncio.sleep(PAUSE_S)
            summary = await _engine(self.engine.finish(chat))
            if summary is not None:
                await self._send(bot, rnd, summary.text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("telegram: quiz round in a %s chat failed (%s: %s)",
                      "private" if rnd.private else "group", type(exc).__name__, str(exc)[:200])
            with contextlib.suppress(Exception):
                await _engine(self.engine.stop(chat))
            with contextlib.suppress(Exception):
                await self._send(bot, rnd, QUIZ_BROKEN_TEXT)
        finally:
            if self._rounds.get(chat.key) is rnd:
                del self._rounds[chat.key]

    async def _ask(self, bot: Bot, rnd: _Round, rq: RoundQuestion) -> None:
        """Post one question (the photo first for a photo question) and register the poll."""
        q = rq.question
        open_period = self.open_period
        if q.photo_file_id:
            await self._send_photo(bot, rnd, q.photo_file_id)
        rnd.registered.clear()
        try:
            await self._post_poll(bot, rnd, rq, open_period)
        finally:
            rnd.registered.set()

    async def _post_poll(self, bot: Bot, rnd: _Round, rq: RoundQuestion, open_period: int) -> None:
        q = rq.question
        message = await bot.send_poll(
            rnd.tg_chat_id,
            rq.poll_text,
            list(q.options),
            is_anonymous=False,
            type=Poll.QUIZ,
            correct_option_ids=[q.correct_index],
            explanation=q.explanation or None,
            open_period=open_period,
            message_thread_id=rnd.thread_id,
        )
        if message.poll is None:
            raise RuntimeError("sendPoll answered without a poll")
        rnd.index = rq.index
        rnd.answered = set()
        rnd.everyone.clear()
        rnd.poll_id = str(message.poll.id)
        rnd.poll_message_id = message.message_id
        rnd.open_period = open_period
        closes_at = time.time() + open_period + GRACE_S
        await _engine(self.engine.question_posted(rnd.chat, rnd.poll_id, closes_at,
                                                  post_message_id=message.message_id,
                                                  thread_id=rnd.thread_id))

    async def _send_photo(self, bot: Bot, rnd: _Round, file_id: str) -> None:
        """Send the remembered photo again by its file id (an image sent as a file needs sendDocument)."""
        try:
            await bot.send_photo(rnd.tg_chat_id, file_id, message_thread_id=rnd.thread_id)
        except BadRequest:
            await bot.send_document(rnd.tg_chat_id, file_id, message_thread_id=rnd.thread_id)

    async def _stop_poll(self, bot: Bot, rnd: _Round) -> None:
        """Close the poll on Telegram now; it may already be closed, so failures are only logged."""
        if rnd.poll_message_id is None:
            return
        try:
            await asyncio.wait_for(bot.stop_poll(rnd.tg_chat_id, rnd.poll_message_id),
                                   BEST_EFFORT_TIMEOUT_S)
        except (TelegramError, TimeoutError) as exc:
            log.debug("telegram: stopPoll failed (%s)", type(exc).__name__)

    @staticmethod
    async def _send(bot: Bot, rnd: _Round, text: str, reply_to: int | None = None) -> None:
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        await bot.send_message(rnd.tg_chat_id, text, message_thread_id=rnd.thread_id,
                               reply_parameters=reply)


async def close_cut_question(bot: Bot, cut: CutQuestion) -> None:
    """Close a question a restart cut, where it was posted: ``stopPoll`` on its poll (the quiz poll
    then shows the right option), and the answer with "stopped by a restart" in reply to it.

    Raises:
        TelegramError, TimeoutError, ValueError: when the chat cannot be reached (the caller counts it).
    """
    if cut.post_message_id is None:
        return  # cut before its poll was sent: nothing to close
    chat_id, poll_message = int(cut.chat_id), int(cut.post_message_id)
    thread = int(cut.thread_id) if cut.thread_id else None
    try:
        await asyncio.wait_for(bot.stop_poll(chat_id, poll_message), BEST_EFFORT_TIMEOUT_S)
    except BadRequest as exc:  # already closed by its open_period, or deleted
        log.debug("telegram: stopPoll of a cut question failed (%s)", type(exc).__name__)
    await asyncio.wait_for(
        bot.send_message(chat_id, restart_reveal_text(cut), message_thread_id=thread,
                         reply_parameters=ReplyParameters(poll_message, allow_sending_without_reply=True)),
        BEST_EFFORT_TIMEOUT_S,
    )


async def post_interrupted(bot: Bot, services: Services) -> None:
    """Close each Telegram question the last stop cut (``services.cut_questions``: poll stopped, answer
    shown) and tell each chat whose round it cut off (``services.interrupted_rounds``).

    Failures are ignored; one log line. The Telegram rounds and questions are then removed from the
    lists, so a restart of the Telegram adapter alone does not repeat the messages.
    """
    ours = [r for r in services.interrupted_rounds if r.platform == PLATFORM]
    cut = [q for q in services.cut_questions if q.platform == PLATFORM]
    if not ours and not cut:
        return
    services.interrupted_rounds[:] = [r for r in services.interrupted_rounds if r.platform != PLATFORM]
    services.cut_questions[:] = [q for q in services.cut_questions if q.platform != PLATFORM]
    closed = 0
    for question in cut:
        try:
            await close_cut_question(bot, question)
            closed += 1
        except (TelegramError, TimeoutError, ValueError):
            pass
    if cut:
        log.info("telegram: closed %d of %d quiz question(s) cut by the restart", closed, len(cut))
    failed = 0
    for rnd in ours:
        try:
            await asyncio.wait_for(bot.send_message(int(rnd.chat_id), INTERRUPTED_TEXT),
                                   BEST_EFFORT_TIMEOUT_S)
        except (TelegramError, TimeoutError, ValueError):
            failed += 1
    log.info("telegram: told %d chat(s) their quiz was interrupted by a restart (%d failed)",
             len(ours) - failed, failed)
