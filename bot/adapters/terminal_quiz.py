"""Quizzes in the terminal chat: ``/quiz [number] [kids|expert]``, ``/quiz stop``, ``/leaderboard``,
``/score``. The player answers by typing an option's number, letter or text.

The round runs in the core's :class:`~bot.core.quiz.session.RoundSession` with :class:`TerminalTransport`,
which collects what the round posts; each command returns what was posted until the round waits for the
next answer. The terminal plays in turns (one player, no open period and no pause: see
:func:`bot.core.quiz.session.round_config`).
"""

from __future__ import annotations

import getpass

from bot.core.quiz.engine import (
    ChatRef,
    NoQuestions,
    QuizEngine,
    Reveal,
    RoundAlreadyRunning,
    RoundQuestion,
    format_question_text,
    parse_text_answer,
)
from bot.core.quiz.session import (
    Posted,
    RoundConfig,
    RoundSessions,
    TextKind,
    parse_quiz_args,
)

#: The terminal is one chat with one player.
TERMINAL_CHAT = ChatRef("terminal", "local")
QUIZ_USAGE = "Usage: /quiz [number of questions 1-20] [kids|expert], or /quiz stop"
#: One player answering in turns: no open period, no pause.
TERMINAL_CONFIG = RoundConfig(open_period_s=None, grace_s=0.0, reveal_pause_s=0.0)


def player_id() -> str:
    """The terminal player's id (the login name)."""
    return _player()[0]


def _player() -> tuple[str, str]:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "player"
    return name, name


def _ask(rq: RoundQuestion) -> str:
    return format_question_text(rq.question, rq.number, rq.total) + "\n(Type the number of your answer.)"


class TerminalTransport:
    """Collects the round's posts for the next reply (see :class:`bot.core.quiz.session.QuizTransport`)."""

    def __init__(self) -> None:
        self.outbox: list[str] = []

    def take(self) -> str:
        """Everything posted since the last call, as one reply."""
        text = "\n\n".join(p for p in self.outbox if p)
        self.outbox.clear()
        return text

    def known_players(self) -> int | None:
        return 1

    async def post_question(self, rq: RoundQuestion, closes_at: float | None) -> Posted:
        self.outbox.append(_ask(rq))
        return Posted(f"q{rq.number}")

    async def close_early(self, rq: RoundQuestion, posted: Posted) -> None:
        return None

    async def show_reveal(self, rq: RoundQuestion, posted: Posted, reveal: Reveal) -> None:
        self.outbox.append(reveal.text)

    async def show_stopped(self, rq: RoundQuestion, posted: Posted) -> None:
        return None

    async def post_text(self, text: str, kind: TextKind) -> None:
        self.outbox.append(text)

    async def is_admin(self, user_id: str) -> bool:
        return True  # the only player


def _sessions(engine: QuizEngine) -> RoundSessions:
    sessions = engine.sessions.get(TERMINAL_CHAT.platform)
    if sessions is None:
        sessions = RoundSessions(engine, TERMINAL_CHAT.platform, TERMINAL_CONFIG)
    return sessions


async def quiz_command(engine: QuizEngine, args: str) -> str:
    """Handle ``/quiz ARGS``: start a round (answering with its first question) or stop it."""
    request = parse_quiz_args(args)
    if request is None:
        return QUIZ_USAGE
    sessions = _sessions(engine)
    if request.stop:
        summary = await sessions.stop(TERMINAL_CHAT, player_id())
        return summary.text if summary else "There is no quiz running."
    transport = TerminalTransport()
    try:
        session = await sessions.start(TERMINAL_CHAT, transport, player_id(), request.n, request.difficulty)
    except (RoundAlreadyRunning, NoQuestions) as exc:
        return str(exc)
    await session.until_settled()
    return transport.take()


async def quiz_answer(engine: QuizEngine, text: str) -> str | None:
    """Treat ``text`` as an answer when a round is running; ``None`` when no quiz is running.

    Returns the reveal (right answer + explanation) followed by the next question or the summary.
    """
    rq = engine.current(TERMINAL_CHAT)
    sessions = _sessions(engine)
    session = sessions.get(TERMINAL_CHAT)
    if rq is None or session is None:
        return None
    option = parse_text_answer(rq.question, text)
    if option is None:
        return f"Please answer with a number from 1 to {len(rq.question.options)}, or /quiz stop."
    user_id, name = _player()
    await sessions.answer(TERMINAL_CHAT, user_id, name, option)
    await session.until_settled()
    transport = session.transport
    return transport.take() if isinstance(transport, TerminalTransport) else ""


async def shutdown_quiz(engine: QuizEngine) -> None:
    """End the terminal's round, if any (the terminal chat is closing)."""
    sessions = engine.sessions.get(TERMINAL_CHAT.platform)
    if sessions is not None:
        await sessions.shutdown()


async def leaderboard_command(engine: QuizEngine) -> str:
    """The terminal's leaderboard."""
    return await engine.leaderboard_text(TERMINAL_CHAT.platform, TERMINAL_CHAT.chat_id)


async def score_command(engine: QuizEngine) -> str:
    """The terminal player's own score."""
    return await engine.my_score_text(TERMINAL_CHAT.platform, TERMINAL_CHAT.chat_id, _player()[0])
