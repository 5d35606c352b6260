"""Terminal chat on the same core: type a photo's path, ``/species NAME``, ``/help`` or ``/quit``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from bot.adapters.terminal_quiz import (
    TERMINAL_CHAT,
    leaderboard_command,
    player_id,
    quiz_answer,
    quiz_command,
    score_command,
    shutdown_quiz,
)
from bot.adapters.text_render import render_text
from bot.core import messages as m
from bot.core.lookup import lookup_species
from bot.services import Services

PROMPT = "reptile> "
WELCOME = (
    "Reptile Museum terminal chat (no bot token set, so nothing is sent to Telegram or Discord).\n"
    "Type a photo's path, /species NAME, /quiz, /leaderboard, /score, /help, or /quit."
)


async def handle_line(services: Services, line: str) -> str | None:
    """Answer one line of terminal input. Returns the reply text, or ``None`` to quit."""
    text = line.strip()
    if not text:
        return m.NO_PHOTO_TEXT
    command, _, arg = text.partition(" ")
    command = command.lower()
    if command in ("/quit", "/exit"):
        return None
    if command in ("/help", "/start"):
        return m.HELP_TEXT
    if command == "/species":
        return render_text(await lookup_species(services.species, arg))
    if command == "/quiz":
        return await quiz_command(services.quiz, arg)
    if command == "/leaderboard":
        return await leaderboard_command(services.quiz)
    if command == "/score":
        return await score_command(services.quiz)
    if command == "/forgetme":
        await services.quiz.forget_user(TERMINAL_CHAT.platform, player_id())
        return m.FORGOTTEN_TEXT
    if not text.startswith("/") and (answer := await quiz_answer(services.quiz, text)) is not None:
        return answer
    if text.startswith("/") and "/" not in command[1:]:  # "/tmp/x.jpg" is a path, not a command
        return f"I don't know the command {command}. " + m.HELP_TEXT
    path = Path(text.strip("'\"")).expanduser()
    try:
        data = await asyncio.to_thread(_read_limited, path, services.settings.max_image_bytes)
    except OSError:
        return f"I can't open the file {path}. Check the path and try again."
    outcome = await services.identify.identify(data)
    return render_text(outcome.card)


def _read_limited(path: Path, max_bytes: int) -> bytes:
    """Read at most ``max_bytes + 1`` bytes, so a huge file is refused without loading all of it."""
    with path.open("rb") as fh:
        return fh.read(max_bytes + 1)


async def run_terminal(services: Services, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """Read lines until end of input or ``/quit``; reading runs in a thread so the loop stays free."""
    print(WELCOME, file=stdout, flush=True)
    while True:
        if stdin.isatty():
            print(PROMPT, end="", file=stdout, flush=True)
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        reply = await handle_line(services, line)
        if reply is None:
            break
        print(reply + "\n", file=stdout, flush=True)
    await shutdown_quiz(services.quiz)
