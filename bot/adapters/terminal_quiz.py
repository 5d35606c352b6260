"""Quizzes in the terminal chat: ``/quiz [number] [kids|expert]``, ``/quiz stop``, ``/leaderboard``,
``/score``. The player answers by typing an option's number, letter or text."""

from __future__ import annotations

import getpass

from bot.core.quiz.engine import (
    ChatRef,
    NoQuestions,
    QuizEngine,
    RoundAlreadyRunning,
    RoundQuestion,
    format_question_text,
    parse_text_answer,
)

#: The terminal is one chat with one player.
TERMINAL_CHAT = ChatRef("terminal", "local")
QUIZ_USAGE = "Usage: /quiz [number of questions 1-20] [kids|expert], or /quiz stop"


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


async def quiz_command(engine: QuizEngine, args: str) -> str:
    """Handle ``/quiz ARGS``: start a round (answering with its first question) or stop it."""
    words = args.lower().split()
    if words[:1] == ["stop"]:
        summary = await engine.stop(TERMINAL_CHAT)
        return summary.text if summary else "There is no quiz running."
    n, level = 5, "kids"
    for w in words:
        if w.isdigit():
            n = int(w)
        elif w in ("kids", "expert"):
            level = w
        else:
            return QUIZ_USAGE
    try:
        rq = await engine.start(TERMINAL_CHAT, n=n, difficulty=level)
    except (RoundAlreadyRunning, NoQuestions) as exc:
        return str(exc)
    await engine.question_posted(TERMINAL_CHAT, f"q{rq.number}")
    return _ask(rq)


async def quiz_answer(engine: QuizEngine, text: str) -> str | None:
    """Treat ``text`` as an answer when a round is running; ``None`` when no quiz is running.

    Returns the reveal (right answer + explanation) followed by the next question or the summary.
    """
    rq = engine.current(TERMINAL_CHAT)
    if rq is None:
        return None
    option = parse_text_answer(rq.question, text)
    if option is None:
        return f"Please answer with a number from 1 to {len(rq.question.options)}, or /quiz stop."
    user_id, name = _player()
    await engine.answer(TERMINAL_CHAT, user_id, name, option)
    reveal = await engine.close_question(TERMINAL_CHAT)
    parts = [reveal.text if reveal else ""]
    nxt = await engine.next_question(TERMINAL_CHAT)
    if nxt is None:
        summary = await engine.finish(TERMINAL_CHAT)
        if summary:
            parts.append(summary.text)
    else:
        await engine.question_posted(TERMINAL_CHAT, f"q{nxt.number}")
        parts.append(_ask(nxt))
    return "\n\n".join(p for p in parts if p)


async def leaderboard_command(engine: QuizEngine) -> str:
    """The terminal's leaderboard."""
    return await engine.leaderboard_text(TERMINAL_CHAT.platform, TERMINAL_CHAT.chat_id)


async def score_command(engine: QuizEngine) -> str:
    """The terminal player's own score."""
    return await engine.my_score_text(TERMINAL_CHAT.platform, TERMINAL_CHAT.chat_id, _player()[0])
