"""Discord's side of quiz rounds (the transport's contract), end to end, through discord.py's own
interaction, view-store and webhook code. The round's lifecycle itself (early close, the real timer,
stop policy, shutdown, restart notice once, one round per chat) is tested once, with a fake transport, in
``tests/test_round_session.py``; here only what Discord shows: embeds with answer buttons, presses and
their private feedback, the reveal as a message edit with the buttons disabled, the moderator check,
the restart clean-up and the photo button.

Slash commands and button presses are Discord's documented INTERACTION_CREATE payloads parsed by
discord.py's connection state; button presses carry the message exactly as the bot left it on the
fake Discord API (:attr:`tests.fakes.fake_discord.FakeDiscord.messages`), so the dynamic-item routing of the
real custom_ids is exercised. The quiz engine, the state database and the species database are real.
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import discord
import discord.http
import pytest

from bot.adapters.discord import quiz as dq
from bot.adapters.discord.client import ReptileBot
from bot.core.identify import IdentifyOutcome
from bot.core.quiz.engine import ALREADY_RUNNING_TEXT, INTERRUPTED_TEXT, ChatRef
from bot.services import Services, open_services
from bot.settings import Settings
from inference.types import Identification, TaxonScore
from tests.fakes.fake_discord import (
    CHANNEL_MESSAGE_WITH_SOURCE,
    EPHEMERAL,
    UPDATE_MESSAGE,
    FakeDiscord,
    Payloads,
    RecordedRequest,
)
from tests.quiz_clock import QuestionClock
from tests.quiz_clock import install as install_clock
from tests.species_rows import build_db

REAL_DB = Settings(_env_file=None).species_db_path
GUILD_ID = 1400000000000000001
CHANNEL_ID = FakeDiscord.__init__.__defaults__[1]  # the fake's default channel
ALICE = (1500000000000000011, "alice")
BOB = (1500000000000000012, "bob")
#: Question period of every round here: long enough never to run out during a test. When a question's
#: time is up is decided by the test (:class:`QuestionClock`), not by the machine's speed.
LONG = 120.0
#: Upper bound of every wait, seconds (a hang guard; the waits end as soon as the event happens).
WAIT = 30.0
SUCCESS_STYLE = 3
MANAGE_MESSAGES = 1 << 13  # Discord permission bit: who may stop anyone's round


# ---------------------------------------------------------------------------------------------- fixtures
def _settings(tmp_path: Path) -> Settings:
    db = REAL_DB if REAL_DB.is_file() else build_db(tmp_path / "species.sqlite")
    return Settings(_env_file=None, species_db_path=db, state_db_path=tmp_path / "state.sqlite")


@pytest.fixture
async def services(tmp_path: Path) -> Services:
    svc = await open_services(_settings(tmp_path))
    yield svc
    await svc.close()


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    async with FakeDiscord() as server:
        monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
        yield server


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> QuestionClock:
    """The open periods end when the test says so (see :mod:`tests.quiz_clock`)."""
    return install_clock(monkeypatch)


async def _bot(services: Services, period: float = LONG) -> ReptileBot:
    client = ReptileBot(services, quiz_open_period=period, quiz_reveal_pause=0.0)
    await client.login("fake-token")
    return client


@pytest.fixture
async def bot(services: Services, fake: FakeDiscord) -> ReptileBot:
    client = await _bot(services)
    yield client
    await client.close()


@pytest.fixture
def alice(fake: FakeDiscord) -> Payloads:
    return Payloads(fake, guild_id=GUILD_ID).as_user(*ALICE)


@pytest.fixture
def bob(fake: FakeDiscord) -> Payloads:
    return Payloads(fake, guild_id=GUILD_ID).as_user(*BOB)


# ---------------------------------------------------------------------------------------------- helpers
async def dispatch(bot: ReptileBot, payload: dict) -> None:
    """Feed an INTERACTION_CREATE payload to discord.py as the gateway would, and wait for its handler
    (the command tree for commands, the view store's dynamic-item task for buttons)."""
    before = set(asyncio.all_tasks())
    bot._connection.parse_interaction_create(payload)
    started = [t for t in asyncio.all_tasks() - before
               if t.get_name() == "CommandTree-invoker" or t.get_name().startswith("discord-ui-")]
    assert started, "discord.py did not pick up the interaction"
    await asyncio.wait_for(asyncio.gather(*started), timeout=WAIT)


def quiz_start(p: Payloads, questions: int | None = None, level: str | None = None) -> dict:
    options = []
    if questions is not None:
        options.append({"name": "questions", "type": 4, "value": questions})
    if level is not None:
        options.append({"name": "level", "type": 3, "value": level})
    return p.slash("quiz", [{"name": "start", "type": 1, "options": options}])


def quiz_stop(p: Payloads) -> dict:
    return p.slash("quiz", [{"name": "stop", "type": 1, "options": []}])


def chat() -> ChatRef:
    return ChatRef("discord", str(CHANNEL_ID), scope_id=str(GUILD_ID))


def buttons(message: dict) -> list[dict]:
    return [c for row in message["components"] for c in row["components"]]


def only_callback(fake: FakeDiscord, payload: dict) -> RecordedRequest:
    (callback,) = fake.callbacks(payload["id"])
    return callback


def private_text(fake: FakeDiscord, payload: dict) -> str:
    """The text of an ephemeral answer (the first response or an ephemeral follow-up)."""
    for req in fake.for_token(payload["token"]):
        body = req.json or {}
        data = body.get("data", body) if req.path.endswith("/callback") else body
        if (data.get("flags") or 0) & EPHEMERAL:
            return data.get("content") or data["embeds"][0].get("description", "")
    raise AssertionError(f"no ephemeral answer for {payload['token']}")


def public_message(fake: FakeDiscord, payload: dict) -> dict:
    """The public message an interaction's response created (as stored by the fake API)."""
    callback = only_callback(fake, payload)
    assert callback.json["type"] == CHANNEL_MESSAGE_WITH_SOURCE
    assert not (callback.json["data"].get("flags") or 0) & EPHEMERAL
    message = fake.original(payload["token"])
    assert message is not None
    return message


async def press(bot: ReptileBot, who: Payloads, message: dict, option: int) -> dict:
    fresh = who.fake.messages[message["id"]]  # the message in its current state
    payload = who.component(buttons(fresh)[option]["custom_id"], fresh)
    await dispatch(bot, payload)
    return payload


async def wait_edit(fake: FakeDiscord, message_id: str, count: int = 1) -> RecordedRequest:
    await fake.wait_for(lambda f: len(f.message_edits(message_id)) >= count, timeout=WAIT)
    return fake.message_edits(message_id)[count - 1]


# ---------------------------------------------------------------------------------------------- a round
async def test_a_quiz_round_with_two_players(
    bot: ReptileBot, fake: FakeDiscord, services: Services, alice: Payloads, bob: Payloads,
    clock: QuestionClock,
) -> None:
    start = quiz_start(alice, questions=2, level="kids")
    await dispatch(bot, start)

    # Question 1: an embed with the options in the text and one numbered button per option.
    q1 = public_message(fake, start)
    (embed,) = q1["embeds"]
    rq = services.quiz.current(chat())
    assert rq is not None and rq.total == 2 and rq.number == 1
    assert embed["title"] == "Question 1 of 2"
    for i, option in enumerate(rq.question.options, start=1):
        assert f"**{i}.**" in embed["description"]
        assert discord.utils.escape_markdown(option, as_needed=True) in embed["description"]
    assert [b["label"] for b in buttons(q1)] == [str(i) for i in range(1, len(rq.question.options) + 1)]
    assert [b["custom_id"] for b in buttons(q1)] == [
        f"quiz:{rq.question_id}:{i}" for i in range(len(rq.question.options))
    ]
    assert not any(b.get("disabled") for b in buttons(q1))
    assert re.search(r"<t:\d+:R>", embed["description"])  # countdown

    right = rq.question.correct_index
    wrong = (right + 1) % len(rq.question.options)
    a1 = await press(bot, alice, q1, right)
    b1 = await press(bot, bob, q1, wrong)
    a2 = await press(bot, alice, q1, wrong)  # a second answer does not count

    for payload in (a1, b1, a2):
        assert only_callback(fake, payload).json["type"] == CHANNEL_MESSAGE_WITH_SOURCE
    assert private_text(fake, a1) == dq.ANSWER_RECORDED_TEXT.format(number=right + 1)
    assert private_text(fake, b1) == dq.ANSWER_RECORDED_TEXT.format(number=wrong + 1)  # no spoiler
    assert private_text(fake, a2) == dq.ALREADY_ANSWERED_TEXT
    assert fake.message_edits(q1["id"]) == []  # nothing revealed before time is up

    # Time is up: the question message shows the answer and the buttons are disabled, right one green.
    clock.time_up()
    edit = await wait_edit(fake, q1["id"])
    revealed = edit.json["embeds"][0]["description"]
    assert f"The answer is: {discord.utils.escape_markdown(rq.question.correct_option, as_needed=True)}" \
        in revealed
    assert "1 of 2 got it right." in revealed
    closed = [c for row in edit.json["components"] for c in row["components"]]
    assert all(b["disabled"] for b in closed)
    assert [b["style"] == SUCCESS_STYLE for b in closed] == [
        i == right for i in range(len(rq.question.options))
    ]

    # Question 2 follows as a follow-up message.
    await fake.wait_for(lambda f: len(f.followups(start["token"])) >= 1, timeout=WAIT)
    (q2,) = fake.followup_messages(start["token"])
    assert q2["embeds"][0]["title"] == "Question 2 of 2"
    rq2 = services.quiz.current(chat())
    assert rq2 is not None and rq2.number == 2
    await press(bot, alice, q2, rq2.question.correct_index)
    late = await press(bot, bob, q1, right)  # the old question's buttons no longer count
    assert private_text(fake, late) == dq.QUESTION_CLOSED_TEXT
    await press(bot, bob, q2, rq2.question.correct_index)

    # Both who played question 1 answered question 2: it closes early, then the summary.
    await fake.wait_for(lambda f: len(f.followups(start["token"])) >= 2, timeout=WAIT)
    summary = fake.followups(start["token"])[1].json["embeds"][0]
    assert summary["title"] == "🏁 That's the end of the quiz!"
    assert "alice: 2 of 2 right" in summary["description"]
    assert "bob: 1 of 2 right" in summary["description"]
    await asyncio.wait_for(bot.quiz.wait_idle(), timeout=WAIT)
    assert not services.quiz.is_running(chat())

    # The server's leaderboard, best first, and each member's own score (private).
    board = alice.slash("leaderboard")
    await dispatch(bot, board)
    lines = only_callback(fake, board).json["data"]["embeds"][0]["description"].splitlines()
    assert lines == ["🥇 alice: 2 points", "🥈 bob: 1 point"]
    score = bob.slash("score")
    await dispatch(bot, score)
    assert "bob: 1 point (1 of 2 right), number 2 here." in private_text(fake, score)


async def test_a_second_round_is_refused_and_a_moderator_stops_the_round(
    bot: ReptileBot, fake: FakeDiscord, services: Services, alice: Payloads, bob: Payloads
) -> None:
    start = quiz_start(alice)  # defaults: 5 kids questions
    await dispatch(bot, start)
    q1 = public_message(fake, start)
    rq = services.quiz.current(chat())
    assert rq is not None and rq.total == 5 and rq.question.difficulty == "kids"
    await press(bot, bob, q1, rq.question.correct_index)

    again = quiz_start(bob, questions=3)
    await dispatch(bot, again)
    assert private_text(fake, again) == ALREADY_RUNNING_TEXT

    not_yours = quiz_stop(bob)  # bob did not start it and is not a moderator
    await dispatch(bot, not_yours)
    assert private_text(fake, not_yours) == dq.STOP_NOT_ALLOWED_TEXT
    assert services.quiz.is_running(chat())

    stop = quiz_stop(bob)
    stop["member"]["permissions"] = str(int(stop["member"]["permissions"]) | MANAGE_MESSAGES)  # a moderator
    await dispatch(bot, stop)
    summary = public_message(fake, stop)["embeds"][0]
    assert summary["title"] == "🛑 Quiz stopped."
    assert "bob: 1 of 5 right" in summary["description"]
    assert not services.quiz.is_running(chat())

    # The open question shows its answer and its buttons are disabled.
    edit = await wait_edit(fake, q1["id"])
    assert "The quiz was stopped" in edit.json["embeds"][0]["description"]
    assert all(b["disabled"] for row in edit.json["components"] for b in row["components"])

    again = quiz_stop(alice)
    await dispatch(bot, again)
    assert private_text(fake, again) == dq.NO_QUIZ_TEXT


# ---------------------------------------------------------------------------------------------- restarts
async def test_a_press_after_a_restart_is_answered_politely(
    fake: FakeDiscord, tmp_path: Path, alice: Payloads, bob: Payloads, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    first = await open_services(settings)
    old_bot = await _bot(first)
    second: Services | None = None
    new_bot: ReptileBot | None = None
    try:
        start = quiz_start(alice, questions=3)
        await dispatch(old_bot, start)
        q1 = public_message(fake, start)

        # "Restart": new services over the same state database (the old process died mid-round).
        second = await open_services(settings)
        assert [r.platform for r in second.interrupted_rounds] == ["discord"]
        caplog.set_level("INFO", logger="bot.adapters.discord.client")
        new_bot = await _bot(second)
        await asyncio.wait_for(new_bot.interrupted_notice, timeout=WAIT)
        (notice,) = fake.channel_posts(fake.channel_id)
        assert notice.json["content"] == INTERRUPTED_TEXT
        assert "told 1 of 1 channel(s)" in caplog.text

        # A press on the old question's button: a polite private answer, and the buttons are disabled.
        stale = await press(new_bot, bob, q1, 0)
        callback = only_callback(fake, stale)
        assert callback.json["type"] == UPDATE_MESSAGE
        assert all(b["disabled"] for row in callback.json["data"]["components"] for b in row["components"])
        assert private_text(fake, stale) == dq.QUIZ_ENDED_TEXT
        assert not second.quiz.is_running(chat())

        # The new client still works, and a new round can start in that channel.
        start2 = quiz_start(alice, questions=1)
        await dispatch(new_bot, start2)
        assert public_message(fake, start2)["embeds"][0]["title"] == "Quiz question"
    finally:
        if new_bot is not None:
            await new_bot.close()
        await old_bot.close()
        if second is not None:
            await second.close()
        await first.close()


async def test_a_restart_notice_the_channel_refuses_is_ignored(
    fake: FakeDiscord, tmp_path: Path, alice: Payloads
) -> None:
    settings = _settings(tmp_path)
    first = await open_services(settings)
    old_bot = await _bot(first)
    await dispatch(old_bot, quiz_start(alice, questions=2))
    second = await open_services(settings)
    client: ReptileBot | None = None
    try:
        fake.fail("POST", r"/channels/\d+/messages", 403, {"message": "Missing Access", "code": 50001})
        client = await _bot(second)
        await asyncio.wait_for(client.interrupted_notice, timeout=WAIT)  # the 403 was not raised
        assert len(fake.channel_posts()) == 1  # tried once
        start = quiz_start(alice, questions=1)  # the client still works
        await dispatch(client, start)
        assert public_message(fake, start)["embeds"][0]["title"] == "Quiz question"
    finally:
        if client is not None:
            await client.close()
        await old_bot.close()
        await second.close()
        await first.close()


# ---------------------------------------------------------------------------------------------- photos
async def test_quiz_the_group_after_a_confident_identification(
    bot: ReptileBot, fake: FakeDiscord, services: Services, alice: Payloads, bob: Payloads,
    monkeypatch: pytest.MonkeyPatch, clock: QuestionClock,
) -> None:
    taxon = next(t for t in services.species.taxa
                 if t.rank == "species" and services.quiz.generator.photo_question(t.scientific_name, "x"))
    ident = Identification(
        is_reptile=True, reptile_probability=0.99, reptile_type=taxon.reptile_type, type_confidence=0.99,
        top=(TaxonScore(taxon.scientific_name, taxon.rank, taxon.reptile_type, 0.93),), confident=True,
    )
    card = await services.identify.card_for(ident)
    assert card.quizzable

    async def identify(data: bytes) -> IdentifyOutcome:  # the model is sure; everything else is real
        return IdentifyOutcome(card, ident)

    monkeypatch.setattr(services.identify, "_identify", identify)
    url = fake.add_file("lizard.png", b"\x89PNG fake", "image/png")
    att = alice.attachment("lizard.png", url, size=10, content_type="image/png")
    reptile = alice.slash_with_attachment("reptile", "photo", att)
    await dispatch(bot, reptile)

    # The fact card has a "Quiz the group!" button; the identification was logged.
    answer = fake.original(reptile["token"])
    assert answer is not None
    (button,) = buttons(answer)
    assert button["label"] == dq.PHOTO_BUTTON_LABEL
    key = button["custom_id"].removeprefix("quizphoto:")
    assert services.quiz._photos[key].file_id == url  # only the URL is remembered
    assert await services.state.identification_count() == 1

    # Bob presses it: a one-question photo round in this channel, showing the photo.
    go = bob.component(button["custom_id"], answer)
    await dispatch(bot, go)
    question = public_message(fake, go)
    (embed,) = question["embeds"]
    assert embed["title"] == "📷 Quiz question"
    assert embed["image"]["url"] == url
    rq = services.quiz.current(chat())
    assert rq is not None and rq.total == 1 and rq.question.scientific_name == taxon.scientific_name
    await press(bot, alice, question, rq.question.correct_index)

    twice = bob.component(button["custom_id"], answer)  # one round per channel
    await dispatch(bot, twice)
    assert private_text(fake, twice) == ALREADY_RUNNING_TEXT
    assert fake.message_edits(question["id"]) == []  # still open

    clock.time_up()
    edit = await wait_edit(fake, question["id"])
    assert "You got it right!" in edit.json["embeds"][0]["description"]
    await fake.wait_for(lambda f: len(f.followups(go["token"])) >= 1, timeout=WAIT)
    summary = fake.followups(go["token"])[0].json["embeds"][0]
    assert "alice: 1 of 1 right" in summary["description"]


async def test_a_forgotten_photo_is_answered_politely(
    bot: ReptileBot, fake: FakeDiscord, alice: Payloads
) -> None:
    message = alice.message(content="")
    message["author"] = fake.user_payload()
    message["components"] = [{"type": 1, "components": [
        {"type": 2, "style": 3, "label": dq.PHOTO_BUTTON_LABEL, "custom_id": "quizphoto:gone1234"}]}]
    payload = alice.component("quizphoto:gone1234", message)
    await dispatch(bot, payload)
    assert only_callback(fake, payload).json["type"] == UPDATE_MESSAGE
    assert "I don't remember that photo" in private_text(fake, payload)


async def test_help_mentions_the_quiz_commands(bot: ReptileBot, fake: FakeDiscord, alice: Payloads) -> None:
    payload = alice.slash("help")
    await dispatch(bot, payload)
    text = private_text(fake, payload)
    for command in ("/quiz start", "/quiz stop", "/leaderboard", "/score", "Quiz the group!"):
        assert command in text
