"""Discord's side of a takeover (issue 13): a round whose replica died is finished by another through
the channel (it has no interaction token): the cut question's message is edited into the reveal, the
next question and the summary are channel posts, and presses on them count."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from bot.adapters.discord.client import ReptileBot, shard_of
from bot.adapters.discord.quiz import DiscordQuiz
from bot.core.quiz.session import RoundConfig
from bot.services import open_services
from bot.state.quiz import Round
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


def test_a_sharded_client_takes_over_only_the_rounds_of_its_own_servers() -> None:
    """Discord sends a server's presses only to the shard that owns it, so a round is continued only by
    a client running that shard (direct messages: shard 0), through the round's channel."""
    guilds = {shard: next(g for g in range(1 << 22, 1 << 30, 1 << 22) if shard_of(g, 2) == shard)
              for shard in (0, 1)}

    def quiz(shard: int) -> DiscordQuiz:
        def channel(cid: int, guild_id: int | None = None) -> tuple[str, int, int | None]:
            return ("channel", cid, guild_id)

        client = SimpleNamespace(shard_ids=[shard], shard_count=2, get_partial_messageable=channel)
        return DiscordQuiz(client, SimpleNamespace(sessions={}), RoundConfig())  # type: ignore[arg-type]

    def rnd(chat_id: int, scope_id: int) -> Round:
        return Round(1, "discord", str(chat_id), str(scope_id), 0.0, None, "running", 3, "kids")

    on_0, on_1 = quiz(0), quiz(1)
    server_1 = rnd(77, guilds[1])
    assert on_0.sessions.resume(server_1, None) is None  # not its server: left to shard 1
    transport = on_1.sessions.resume(server_1, None)
    assert transport is not None and transport.interaction is None  # no token: through the channel
    assert transport.poster.channel == ("channel", 77, guilds[1])
    dm = rnd(88, 88)
    assert on_1.sessions.resume(dm, None) is None
    assert on_0.sessions.resume(dm, None).poster.channel == ("channel", 88, None)
