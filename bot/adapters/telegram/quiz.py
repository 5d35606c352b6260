"""Telegram quiz rounds: the transport of :class:`bot.core.quiz.session.RoundSession` over native quiz
polls.

The session (in the core) runs the round; this module only posts: each question as a quiz poll
(``sendPoll`` with ``type=quiz``, ``is_anonymous=False``, ``correct_option_ids``, ``explanation`` and
``open_period``), ``stopPoll`` when everyone answered early or the round was stopped, the reveal in
reply to the poll, and the texts. A private chat has one player, so its single answer closes each
question; in a group the core's rule applies (from question 2 on, once everyone who played answered).
Stopping: the starter or a chat admin (``getChatMember``: creator or administrator).

Scores come from ``poll_answer`` updates (:meth:`QuizRunner.on_poll_answer`); the engine keeps only the
first answer of each user. Players are named by their Telegram first name only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from telegram import Bot, Poll, ReplyParameters
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, TelegramError

from bot.core.quiz.engine import (
    INTERRUPTED_TEXT,
    ChatRef,
    Reveal,
    RoundQuestion,
    restart_reveal_text,
)
from bot.core.quiz.questions import Difficulty
from bot.core.quiz.session import (
    QUIZ_BROKEN_TEXT,
    STOP_NOT_ALLOWED_TEXT,
    Posted,
    QuizRequest,
    RoundSessions,
    StopRefused,
    TextKind,
    announce_restart,
    parse_quiz_args,
    round_config,
)
from bot.services import Services
from bot.state.quiz import AskedQuestion, CutQuestion, Round

__all__ = [
    "NOT_RUNNING_TEXT", "PHOTO_BUTTON_TEXT", "PHOTO_CALLBACK_RE", "QUIZ_BROKEN_TEXT", "QUIZ_USAGE_TEXT",
    "QuizRequest", "QuizRunner", "TelegramTransport", "close_cut_question", "parse_quiz_args",
    "post_interrupted", "start_text",
]

log = logging.getLogger(__name__)

PLATFORM = "telegram"

#: Longest wait for a best-effort request (``stopPoll``, notices at start-up and shutdown).
BEST_EFFORT_TIMEOUT_S = 5.0

#: ``callback_data`` of the "Quiz the group!" button: this prefix and the engine's photo key.
PHOTO_CALLBACK_PREFIX = "quiz:"
PHOTO_CALLBACK_RE = re.compile(r"^quiz:([A-Za-z0-9_-]{1,40})$")
PHOTO_BUTTON_TEXT = "Quiz the group!"

QUIZ_USAGE_TEXT = (
    "Start a quiz with /quiz, or choose how many questions (1-20) and how hard: "
    "for example /quiz 10 expert or /quiz 3 kids. Stop it with /quiz stop."
)
NOT_RUNNING_TEXT = "There is no quiz running in this chat right now. Start one with /quiz!"


def start_text(total: int, difficulty: Difficulty, open_period: int) -> str:
    """The announcement of a new round (plain text)."""
    questions = "1 question" if total == 1 else f"{total} questions"
    level = "for experts" if difficulty is Difficulty.EXPERT else "for kids"
    return (
        f"🦎 Quiz time! {questions} {level}. Tap your answer in each poll: you have "
        f"{open_period} seconds for each question. Stop the quiz with /quiz stop."
    )


class TelegramTransport:
    """One chat's round on Telegram (see :class:`bot.core.quiz.session.QuizTransport`).

    Args:
        bot: the PTB bot.
        chat_id: the Telegram chat.
        thread_id: the forum topic the round was started in (``None``: none).
        private: a private chat (one player).
        open_period: seconds each poll stays open (``open_period`` of ``sendPoll``, 5-600).
        intro_reply_to: message the intro replies to (the ``/quiz`` command).
    """

    def __init__(self, bot: Bot, chat_id: int, thread_id: int | None, private: bool, open_period: int,
                 intro_reply_to: int | None = None) -> None:
        self.bot = bot
        self.chat_id = int(chat_id)
        self.thread_id = thread_id
        self.private = private
        self.open_period = int(open_period)
        self.intro_reply_to = intro_reply_to

    def known_players(self) -> int | None:
        return 1 if self.private else None

    async def post_question(self, rq: RoundQuestion, closes_at: float | None) -> Posted:
        q = rq.question
        if q.photo_file_id:
            await self._send_photo(q.photo_file_id)
        message = await self.bot.send_poll(
            self.chat_id, rq.poll_text, list(q.options), is_anonymous=False, type=Poll.QUIZ,
            correct_option_ids=[q.correct_index], explanation=q.explanation or None,
            open_period=self.open_period, message_thread_id=self.thread_id,
        )
        if message.poll is None:
            raise RuntimeError("sendPoll answered without a poll")
        return Posted(str(message.poll.id), str(message.message_id),
                      str(self.thread_id) if self.thread_id is not None else None)

    async def close_early(self, rq: RoundQuestion, posted: Posted) -> None:
        await self._stop_poll(posted)

    async def show_reveal(self, rq: RoundQuestion, posted: Posted, reveal: Reveal) -> None:
        reply_to = int(posted.post_message_id) if posted.post_message_id else None
        await self._send(reveal.text, reply_to=reply_to)

    async def show_stopped(self, rq: RoundQuestion, posted: Posted) -> None:
        await self._stop_poll(posted)

    async def post_text(self, text: str, kind: TextKind) -> None:
        if kind == "intro":
            await self._send(text, reply_to=self.intro_reply_to)
        elif kind == "interrupted":
            await asyncio.wait_for(self._send(text), BEST_EFFORT_TIMEOUT_S)
        else:
            await self._send(text)

    async def is_admin(self, user_id: str) -> bool:
        if self.private:
            return True
        try:
            member = await asyncio.wait_for(self.bot.get_chat_member(self.chat_id, int(user_id)),
                                            BEST_EFFORT_TIMEOUT_S)
        except (TelegramError, TimeoutError, ValueError):
            return False
        return member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)

    async def _send_photo(self, file_id: str) -> None:
        """Send the remembered photo again by its file id (an image sent as a file needs sendDocument)."""
        try:
            await self.bot.send_photo(self.chat_id, file_id, message_thread_id=self.thread_id)
        except BadRequest:
            await self.bot.send_document(self.chat_id, file_id, message_thread_id=self.thread_id)

    async def _stop_poll(self, posted: Posted) -> None:
        """Close the poll on Telegram now; it may already be closed, so failures are only logged."""
        if posted.post_message_id is None:
            return
        try:
            await asyncio.wait_for(self.bot.stop_poll(self.chat_id, int(posted.post_message_id)),
                                   BEST_EFFORT_TIMEOUT_S)
        except (TelegramError, TimeoutError) as exc:
            log.debug("telegram: stopPoll failed (%s)", type(exc).__name__)

    async def _send(self, text: str, reply_to: int | None = None) -> None:
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        await self.bot.send_message(self.chat_id, text, message_thread_id=self.thread_id,
                                    reply_parameters=reply)


class QuizRunner:
    """Telegram's side of quiz rounds: starts :class:`~bot.core.quiz.session.RoundSession` s with a
    :class:`TelegramTransport`, forwards poll answers, stops and shuts them down."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.engine = services.quiz
        self.sessions = RoundSessions(self.engine, PLATFORM, round_config(services.settings),
                                      leases=services.leases)
        self.sessions.owner = self

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
               intro_reply_to: int | None = None, starter_id: int | str = "") -> None:
        """Run the round whose first question the engine just returned, in a task of its own.

        Call it right after ``engine.start``/``start_photo_round`` with no ``await`` in between, so a
        failure can never leave the engine with a round that no task drives. ``intro`` (plain text) is
        posted before the first question, replying to ``intro_reply_to``. ``starter_id`` may stop it.
        """
        self.sessions.config = round_config(self.services.settings)
        transport = TelegramTransport(bot, chat_id, thread_id, chat_type == ChatType.PRIVATE,
                                      self.open_period, intro_reply_to)
        self.sessions.launch(first, self.chat_ref(chat_id), transport, starter_id, intro=intro)

    async def stop(self, bot: Bot, chat_id: int, user_id: int | str = "") -> str | None:
        """``/quiz stop`` by ``user_id``: the summary text, :data:`STOP_NOT_ALLOWED_TEXT` when they may
        not stop it, or ``None`` when no round was running."""
        admins = TelegramTransport(bot, chat_id, None, int(chat_id) > 0, self.open_period)
        try:
            summary = await self.sessions.stop(self.chat_ref(chat_id), user_id, transport=admins)
        except StopRefused:
            return STOP_NOT_ALLOWED_TEXT
        return summary.text if summary else None

    def serve_takeovers(self, bot: Bot) -> None:
        """Continue rounds other replicas stopped driving (their lease expired), with ``bot``; renew this
        replica's leases (see :mod:`bot.core.quiz.takeover`)."""
        self.sessions.resume = lambda rnd, last: self._resume(bot, rnd, last)
        self.sessions.start_keeper()

    def _resume(self, bot: Bot, rnd: Round, last: AskedQuestion | None) -> TelegramTransport:
        chat_id = int(rnd.chat_id)
        thread = int(last.thread_id) if last is not None and last.thread_id else None
        return TelegramTransport(bot, chat_id, thread, chat_id > 0, self.open_period)  # users' ids are > 0

    async def shutdown(self, bot: Bot) -> None:
        """End every round: cancel and drain its task, stop its poll and tell the chat (best effort)."""
        await self.sessions.shutdown()

    async def on_poll_answer(self, poll_id: str, user_id: int, first_name: str,
                             option_ids: Sequence[int]) -> None:
        """Record a ``poll_answer``; closes the question early once everyone playing has answered."""
        if not option_ids:
            return  # a retracted vote (not possible in quizzes, but cheap to ignore)
        await self.sessions.answer_by_message(poll_id, user_id, first_name, int(option_ids[0]))


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
    """Close each Telegram question the last stop cut (poll stopped, answer shown) and tell each chat
    whose round it cut off, once per process (:func:`bot.core.quiz.session.announce_restart`).
    Failures are ignored; one log line each. Then this replica starts taking over rounds whose replica
    stopped renewing their lease (:meth:`QuizRunner.serve_takeovers`)."""
    sessions = services.quiz.sessions.get(PLATFORM)
    runner = getattr(sessions, "owner", None)
    if isinstance(runner, QuizRunner):
        runner.serve_takeovers(bot)

    async def tell(chat_id: str) -> None:
        await asyncio.wait_for(bot.send_message(int(chat_id), INTERRUPTED_TEXT), BEST_EFFORT_TIMEOUT_S)

    closed, cut, told, chats = await announce_restart(
        services.quiz, PLATFORM, lambda q: close_cut_question(bot, q), tell,
        errors=(TelegramError, TimeoutError, ValueError))
    if cut:
        log.info("telegram: closed %d of %d quiz question(s) cut by the restart", closed, cut)
    if chats:
        log.info("telegram: told %d chat(s) their quiz was interrupted by a restart (%d failed)",
                 told, chats - told)
