"""Discord's side of a takeover (issue 13): a round whose replica died is finished by another through
the channel (it has no interaction token): the cut question's message is edited into the reveal, the
next question and the summary are channel posts, and presses on them count."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.adapters.discord.client import ReptileBot
from bot.services import open_services
from tests import test_discord_quiz as _dq
from tests.fakes.fake_discord import FakeDiscord, Payloads
from tests.test_discord_quiz import (
    WAIT,
    _settings,
    buttons,
    chat,
    dispatch,
    press,
    public_message,
    quiz_start,
    wait_edit,
)

# The Discord quiz module's fixtures, shared by name.
fake = _dq.fake
alice = _dq.alice
bob = _dq.bob


async def test_a_round_whose_replica_died_is_finished_through_the_channel(
    fake: FakeDiscord, tmp_path: Path, alice: Payloads, bob: Payloads
) -> None:
    base = _settings(tmp_path)
    fast = {"quiz_lease_renew_s": 0.2, "quiz_reveal_pause_s": 0.0}  # the lease lives 0.6 s
    first = await open_services(base.model_copy(update={"replica_id": "A", **fast}))
    old_bot = ReptileBot(first, quiz_open_period=0.5)
    await old_bot.login("fake-token")
    second = new_bot = None
    try:
        start = quiz_start(alice, questions=2)
        await dispatch(old_bot, start)
        q1 = public_message(fake, start)
        rq = first.quiz.current(chat())
        right = rq.question.correct_index
        await press(old_bot, alice, q1, right)
        await press(old_bot, bob, q1, (right + 1) % len(rq.question.options))
        await old_bot.quiz.sessions.abandon_all()  # replica A dies: nobody renews its lease

        second = await open_services(base.model_copy(update={"replica_id": "B", **fast}))
        assert second.interrupted_rounds == []  # A's lease was alive at B's start-up
        new_bot = ReptileBot(second, quiz_open_period=30)
        await new_bot.login("fake-token")
        await new_bot.setup_hook()  # starts B's lease keeper, which takes the round over

        edit = await wait_edit(fake, q1["id"])  # the reveal, where A posted question 1
        assert f"/channels/{fake.channel_id}/messages/{q1['id']}" in edit.path
        assert "1 of 2 got it right." in edit.json["embeds"][0]["description"]
        await fake.wait_for(lambda f: len(f.channel_posts(fake.channel_id)) >= 1, timeout=WAIT)
        q2_post = fake.channel_posts(fake.channel_id)[0]
        assert q2_post.json["embeds"][0]["title"] == "Question 2 of 2"
        q2 = next(m for m in reversed(list(fake.messages.values()))
                  if m.get("embeds") and m["embeds"][0].get("title") == "Question 2 of 2")
        rq2 = second.quiz.current(chat())
        assert buttons(q2)[0]["custom_id"] == f"quiz:{rq2.question_id}:0"
        await press(new_bot, alice, q2, rq2.question.correct_index)
        await press(new_bot, bob, q2, rq2.question.correct_index)  # both who played: early close
        await fake.wait_for(lambda f: len(f.channel_posts(fake.channel_id)) >= 2, timeout=WAIT)
        summary = fake.channel_posts(fake.channel_id)[1].json["embeds"][0]
        assert summary["title"] == "🏁 That's the end of the quiz!"
        assert "alice: 2 of 2 right" in summary["description"]
        await asyncio.wait_for(new_bot.quiz.wait_idle(), timeout=WAIT)
    finally:
        if new_bot is not None:
            await new_bot.close()
        await old_bot.close()
        if second is not None:
            await second.close()
        await first.close()
