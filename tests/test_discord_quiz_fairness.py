"""Fair Discord quizzes (issue 15), end to end through discord.py against the fake Discord API: a restart
closes the question it cut where it was posted (message edited into the answer, buttons disabled). That
a score query during an open question sees the old score is the engine's rule, tested once in
``tests/test_quiz_fairness.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord

from bot.adapters.discord.client import ReptileBot
from bot.core.quiz.engine import INTERRUPTED_TEXT, RESTART_STOPPED_TEXT
from bot.services import Services, open_services
from tests import test_discord_quiz as _dq
from tests.fakes.fake_discord import FakeDiscord, Payloads
from tests.test_discord_quiz import (
    LONG,
    SUCCESS_STYLE,
    WAIT,
    _bot,
    _settings,
    chat,
    dispatch,
    press,
    public_message,
    quiz_start,
)

# The Discord quiz module's fixtures, shared by name.
fake = _dq.fake
alice = _dq.alice
bob = _dq.bob


async def test_a_restart_closes_the_cut_question_where_it_was_posted(
    fake: FakeDiscord, tmp_path: Path, alice: Payloads, bob: Payloads
) -> None:
    settings = _settings(tmp_path)
    first = await open_services(settings)
    old_bot = await _bot(first, LONG)
    second: Services | None = None
    new_bot: ReptileBot | None = None
    try:
        start = quiz_start(alice, questions=3)
        await dispatch(old_bot, start)
        q1 = public_message(fake, start)
        rq = first.quiz.current(chat())
        assert rq is not None
        right = rq.question.correct_index
        await press(old_bot, bob, q1, right)

        # "Restart": new services over the same state database (the old process died mid-question).
        second = await open_services(settings)
        assert [c.post_message_id for c in second.cut_questions] == [str(q1["id"])]
        new_bot = await _bot(second, LONG)
        await asyncio.wait_for(new_bot.interrupted_notice, timeout=WAIT)

        (edit,) = fake.message_edits(q1["id"])
        assert f"/channels/{fake.channel_id}/messages/{q1['id']}" in edit.path  # where it was posted
        description = edit.json["embeds"][0]["description"]
        assert RESTART_STOPPED_TEXT in description
        answer = discord.utils.escape_markdown(rq.question.correct_option, as_needed=True)
        assert f"The answer is: {answer}" in description
        closed = [c for row in edit.json["components"] for c in row["components"]]
        assert len(closed) == len(rq.question.options) and all(b["disabled"] for b in closed)
        assert [b["style"] == SUCCESS_STYLE for b in closed] == [
            i == right for i in range(len(rq.question.options))
        ]
        (notice,) = fake.channel_posts(fake.channel_id)
        assert notice.json["content"] == INTERRUPTED_TEXT
        score = await second.state.user_score("discord", chat().scope_id, bob.user["id"])
        assert score is not None and score.points == 1  # bob's answer before the restart counts
    finally:
        if new_bot is not None:
            await new_bot.close()
        await old_bot.close()
        if second is not None:
            await second.close()
        await first.close()
