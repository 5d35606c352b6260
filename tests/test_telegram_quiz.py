"""Telegram's side of quiz rounds (the transport's contract), end to end: the real PTB Application
(``serve_telegram``) and the real services (real species database, a per-test state database) against the
fake Bot API server. The round's lifecycle itself (early close, reveal pause, stop policy, shutdown,
restart notice, one round per chat) is tested once, with a fake transport, in ``tests/test_round_session.py``;
here only what Telegram shows: quiz polls, ``poll_answer`` updates, ``stopPoll``, reveals in reply to
the poll, the admin check through ``getChatMember``, the photo button and the takeover of a round.

Answers are ``poll_answer`` updates; whether one is right is computed from the ``correct_option_ids``
the bot sent in its ``sendPoll``. Every wait is bounded and fails with the requests it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.telegram.app import ALLOWED_UPDATES, serve_telegram
from bot.adapters.telegram.quiz import NOT_RUNNING_TEXT, PHOTO_BUTTON_TEXT, QUIZ_USAGE_TEXT
from bot.core import messages as m
from bot.core.quiz.engine import ALREADY_RUNNING_TEXT, INTERRUPTED_TEXT, PHOTO_GONE_TEXT, ChatRef
from bot.core.quiz.questions import PHOTO_PROMPT
from bot.core.quiz.session import STOP_NOT_ALLOWED_TEXT
from bot.services import Services, open_services
from tests.fakes.fake_telegram import FakeTelegram, Recorded
from tests.paths import SHARED_PHOTOS, manifest_rows
from tests.quiz_clock import QuestionClock
from tests.quiz_clock import install as install_clock
from tests.telegram_fixtures import WAIT_S, telegram_settings, wait_polling

GROUP = -100777

ANA = FakeTelegram.user(501, "Ana")
BEN = FakeTelegram.user(502, "Ben")
CLEO = FakeTelegram.user(503, "Cleo")


@pytest.fixture(autouse=True)
def _fast_rounds(services: Services) -> None:
    """No pause between questions."""
    services.settings.quiz_reveal_pause_s = 0.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> QuestionClock:
    """The open periods end when the test says so (see :mod:`tests.quiz_clock`)."""
    return install_clock(monkeypatch)


@contextlib.asynccontextmanager
async def _serving(services: Services, fake: FakeTelegram) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(serve_telegram(services))
    try:
        await wait_polling(task, fake)
        yield task
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=WAIT_S)
        assert done, "serve_telegram did not stop within the timeout after cancel"


@pytest.fixture
async def bot(services: Services, fake: FakeTelegram) -> AsyncIterator[FakeTelegram]:
    async with _serving(services, fake):
        yield fake


# -- helpers ----------------------------------------------------------------------------------------


def _to(chat_id: int, reply_to: dict | None = None, contains: str | None = None):
    """Predicate: a request to ``chat_id`` (replying to ``reply_to``, with ``contains`` in its text)."""

    def check(p: dict) -> bool:
        if int(p.get("chat_id", 0)) != chat_id:
            return False
        if reply_to is not None:
            reply = p.get("reply_parameters") or {}
            if int(reply.get("message_id", 0)) != reply_to["message_id"]:
                return False
        return contains is None or contains in str(p.get("text", ""))

    return check


async def _poll(fake: FakeTelegram, services: Services, chat_id: int, after: int = 0) -> Recorded:
    """The next sendPoll to ``chat_id``, once the engine has registered its poll id (so answers to it
    are not pushed before the bot knows the poll)."""
    rec = await fake.wait_for("sendPoll", _to(chat_id), timeout=WAIT_S, after=after)
    poll_id = rec.result["poll"]["id"]
    deadline = time.monotonic() + WAIT_S
    while await services.state.question_by_message("telegram", poll_id) is None:
        assert time.monotonic() < deadline, f"the engine never registered poll {poll_id}"
        await asyncio.sleep(0.02)
    return rec


def _right(rec: Recorded) -> int:
    ids = rec.params["correct_option_ids"]
    assert isinstance(ids, list) and len(ids) == 1, rec.params
    return int(ids[0])


def _option(rec: Recorded, i: int) -> str:
    option = rec.params["options"][i]
    return option["text"] if isinstance(option, dict) else str(option)


def _wrong(rec: Recorded) -> int:
    return next(i for i in range(len(rec.params["options"])) if i != _right(rec))


async def _answers_stored(services: Services, rec: Recorded, n: int) -> None:
    """Wait until ``n`` answers to the poll of ``rec`` are in the state database."""
    question = await services.state.question_by_message("telegram", rec.result["poll"]["id"])
    assert question is not None
    deadline = time.monotonic() + WAIT_S
    while await services.state.answer_count(question.id) < n:
        assert time.monotonic() < deadline, f"fewer than {n} answers were stored"
        await asyncio.sleep(0.02)


def _is_anonymous(params: dict[str, Any]) -> bool:
    return str(params["is_anonymous"]).lower() == "true"


# -- what Telegram sends and shows -----------------------------------------------------------------


def test_poll_answers_and_button_presses_are_requested() -> None:
    assert {"message", "poll_answer", "callback_query"} <= set(ALLOWED_UPDATES)


# -- a full group round -----------------------------------------------------------------------------


async def test_group_round_posts_quiz_polls_counts_poll_answers_and_replies_with_reveals(
    bot: FakeTelegram, services: Services, clock: QuestionClock
) -> None:
    services.settings.quiz_open_period_s = clock.PERIOD  # question 1 closes by the timer only
    group = bot.group_chat(GROUP)
    cmd = bot.push_message(chat=group, text="/quiz 2")

    intro = await bot.wait_for("sendMessage", _to(GROUP, cmd), timeout=WAIT_S)
    assert "Quiz time" in intro.params["text"] and "2 questions" in intro.params["text"]
    q1 = await _poll(bot, services, GROUP)
    assert q1.params["type"] == "quiz"
    assert not _is_anonymous(q1.params)
    assert 0 <= _right(q1) < len(q1.params["options"]) >= 2
    assert q1.params["explanation"]
    assert int(q1.params["open_period"]) == clock.PERIOD
    assert q1.params["question"].startswith("(1/2) ")

    bot.push_poll_answer(q1.result["poll"]["id"], ANA, [_right(q1)])
    bot.push_poll_answer(q1.result["poll"]["id"], BEN, [_wrong(q1)])
    await _answers_stored(services, q1, 2)
    clock.time_up()

    reveal1 = await bot.wait_for("sendMessage", _to(GROUP, q1.result, "The answer is"), timeout=WAIT_S)
    assert _option(q1, _right(q1)) in reveal1.params["text"]
    assert "1 of 2 got it right" in reveal1.params["text"]  # both poll answers reached the round
    assert bot.calls("stopPoll") == []  # closed by its time: Telegram closed the poll (open_period)

    mark = len(bot.requests)
    q2 = await _poll(bot, services, GROUP, after=mark)
    assert q2.params["question"].startswith("(2/2) ") and int(q2.params["open_period"]) == clock.PERIOD
    poll2 = q2.result["poll"]["id"]
    bot.push_poll_answer(poll2, ANA, [_right(q2)])
    bot.push_poll_answer(poll2, BEN, [_right(q2)])

    stop = await bot.wait_for("stopPoll", timeout=WAIT_S, after=mark)  # early: everyone answered
    assert int(stop.params["chat_id"]) == GROUP
    assert int(stop.params["message_id"]) == q2.result["message_id"]
    reveal2 = await bot.wait_for("sendMessage", _to(GROUP, q2.result, "The answer is"), timeout=WAIT_S)
    assert _option(q2, _right(q2)) in reveal2.params["text"]
    assert "Everybody got it right!" in reveal2.params["text"]
    summary = await bot.wait_for("sendMessage", _to(GROUP, contains="end of the quiz"), timeout=WAIT_S)
    text = summary.params["text"]
    assert "🥇 Ana: 2 of 2 right" in text and "🥈 Ben: 1 of 2 right" in text
    assert not services.quiz.is_running(ChatRef("telegram", str(GROUP)))

    board_cmd = bot.push_message(chat=group, text="/leaderboard", from_user=BEN)
    board = await bot.wait_for("sendMessage", _to(GROUP, board_cmd), timeout=WAIT_S)
    lines = board.params["text"].splitlines()
    assert lines[0] == "🏆 Leaderboard"
    assert [line.split()[1].rstrip(":") for line in lines[1:]] == ["Ana", "Ben"]  # only who scored
    assert "Ana: 2 points" in lines[1] and "Ben: 1 point" in lines[2]

    score_cmd = bot.push_message(chat=group, text="/score", from_user=BEN)
    score = await bot.wait_for("sendMessage", _to(GROUP, score_cmd), timeout=WAIT_S)
    assert score.params["text"] == "Ben: 1 point (1 of 2 right), number 2 here."

    other = bot.push_message(chat=bot.group_chat(-100888), text="/score", from_user=BEN)
    score = await bot.wait_for("sendMessage", _to(-100888, other), timeout=WAIT_S)
    assert "haven't answered" in score.params["text"]  # scores belong to their chat


def _chat_member(admins: set[int]):
    """A ``getChatMember`` route: an administrator for ``admins``, else a plain member."""

    def answer(fake: FakeTelegram, params: dict[str, Any]) -> dict[str, Any]:
        user = {"id": int(params["user_id"]), "is_bot": False, "first_name": "Someone"}
        if int(params["user_id"]) not in admins:
            return {"status": "member", "user": user}
        rights = ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
                  "can_manage_video_chats", "can_restrict_members", "can_promote_members",
                  "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
                  "can_delete_stories")
        return {"status": "administrator", "user": user, **dict.fromkeys(rights, False)}

    return answer


async def test_refusals_and_a_stop_by_a_chat_admin_stop_the_poll(
    bot: FakeTelegram, services: Services
) -> None:
    services.settings.quiz_open_period_s = 30
    bot.route("getChatMember", _chat_member({CLEO["id"]}))
    group = bot.group_chat(GROUP)
    bot.push_message(chat=group, text="/quiz 3 expert", from_user=ANA)
    q1 = await _poll(bot, services, GROUP)
    assert q1.params["question"].startswith("(1/3) ")

    again = bot.push_message(chat=group, text="/quiz", from_user=BEN)
    sent = await bot.wait_for("sendMessage", _to(GROUP, again), timeout=WAIT_S)
    assert sent.params["text"] == ALREADY_RUNNING_TEXT

    bot.push_poll_answer(q1.result["poll"]["id"], ANA, [_right(q1)])
    await _answers_stored(services, q1, 1)
    refused = bot.push_message(chat=group, text="/quiz stop", from_user=BEN)  # neither starter nor admin
    sent = await bot.wait_for("sendMessage", _to(GROUP, refused), timeout=WAIT_S)
    assert sent.params["text"] == STOP_NOT_ALLOWED_TEXT
    asked = await bot.wait_for("getChatMember", timeout=WAIT_S)
    assert (int(asked.params["chat_id"]), int(asked.params["user_id"])) == (GROUP, BEN["id"])
    assert bot.calls("stopPoll") == [] and services.quiz.is_running(ChatRef("telegram", str(GROUP)))

    stop = bot.push_message(chat=group, text="/quiz stop", from_user=CLEO)  # an admin of the chat may
    sent = await bot.wait_for("sendMessage", _to(GROUP, stop), timeout=WAIT_S)
    assert sent.params["text"].startswith("🛑 Quiz stopped.") and "Ana: 1 of 3 right" in sent.params["text"]
    stopped = await bot.wait_for("stopPoll", timeout=WAIT_S)
    assert int(stopped.params["message_id"]) == q1.result["message_id"]
    assert not services.quiz.is_running(ChatRef("telegram", str(GROUP)))

    mark = len(bot.requests)
    stop_again = bot.push_message(chat=group, text="/quiz stop", from_user=ANA)
    sent = await bot.wait_for("sendMessage", _to(GROUP, stop_again), timeout=WAIT_S, after=mark)
    assert sent.params["text"] == NOT_RUNNING_TEXT


async def test_private_round_stops_the_poll_on_the_single_answer(
    bot: FakeTelegram, services: Services
) -> None:
    services.settings.quiz_open_period_s = 30
    chat = bot.private_chat(1001)
    usage = bot.push_message(chat=chat, text="/quiz banana")
    sent = await bot.wait_for("sendMessage", _to(1001, usage), timeout=WAIT_S)
    assert sent.params["text"] == QUIZ_USAGE_TEXT

    bot.push_message(chat=chat, text="/quiz kids 1")
    q = await _poll(bot, services, 1001)
    assert q.params["type"] == "quiz" and not _is_anonymous(q.params)
    bot.push_poll_answer(q.result["poll"]["id"], FakeTelegram.user(1001, "Kid"), [_right(q)])

    stop = await bot.wait_for("stopPoll", timeout=WAIT_S)  # one player: the answer closes the poll
    assert int(stop.params["message_id"]) == q.result["message_id"]
    reveal = await bot.wait_for("sendMessage", _to(1001, q.result), timeout=WAIT_S)
    assert "You got it right!" in reveal.params["text"]


async def test_help_mentions_the_quiz_commands(bot: FakeTelegram) -> None:
    msg = bot.push_message(text="/help")
    sent = await bot.wait_for("sendMessage", _to(1001, msg), timeout=WAIT_S)
    for command in ("/quiz", "/leaderboard", "/score"):
        assert command in sent.params["text"] == m.HELP_TEXT


# -- shutdown ---------------------------------------------------------------------------------------


async def test_shutdown_stops_the_poll_and_tells_the_chat(fake: FakeTelegram, services: Services) -> None:
    services.settings.quiz_open_period_s = 30
    async with _serving(services, fake) as task:
        fake.push_message(chat=fake.group_chat(GROUP), text="/quiz 5")
        q1 = await _poll(fake, services, GROUP)
        mark = len(fake.requests)
        task.cancel()
        await asyncio.wait({task}, timeout=WAIT_S)
        assert task.done()
    sent = await fake.wait_for("sendMessage", _to(GROUP), timeout=1.0, after=mark)
    assert sent.params["text"] == INTERRUPTED_TEXT
    assert int((await fake.wait_for("stopPoll", timeout=1.0, after=mark)).params["message_id"]) == \
        q1.result["message_id"]


# -- photo rounds -----------------------------------------------------------------------------------


async def _confident_photo(services: Services) -> bytes:
    """A reptile photo from ../shared/photos the model identifies confidently (skips without photos)."""
    rows = [r for r in manifest_rows() if r["label_taxon"] and r["path"].startswith("imagenet")]
    rows.sort(key=lambda r: r["path"])
    for row in rows[:60]:
        path = SHARED_PHOTOS / row["path"]
        if path.is_file():
            data = path.read_bytes()
            if (await services.identify.identify(data)).card.quizzable:
                return data
    pytest.skip("no confidently identified reptile photo in ../shared/photos")


@pytest.mark.photos
async def test_quiz_the_group_button_starts_a_photo_round(bot: FakeTelegram, services: Services) -> None:
    services.settings.quiz_open_period_s = 30
    data = await _confident_photo(services)
    group = bot.group_chat(GROUP)
    sizes = bot.photo_sizes(data, 800, 600)
    photo_msg = bot.push_message(chat=group, photo=sizes)
    cmd = bot.push_message(chat=group, text="/reptile", reply_to_message=photo_msg)

    card = await bot.wait_for("sendMessage", _to(GROUP, cmd), timeout=WAIT_S)
    [[button]] = card.params["reply_markup"]["inline_keyboard"]
    assert button["text"] == PHOTO_BUTTON_TEXT and button["callback_data"].startswith("quiz:")
    assert len(button["callback_data"].encode()) <= 64
    deadline = time.monotonic() + WAIT_S
    while await services.state.identification_count() < 1:  # logged right after the reply
        assert time.monotonic() < deadline, "the identification was not logged"
        await asyncio.sleep(0.02)

    mark = len(bot.requests)
    bot.push_callback_query(card.result, button["callback_data"], from_user=ANA)
    photo = await bot.wait_for("sendPhoto", _to(GROUP), timeout=WAIT_S, after=mark)
    assert photo.params["photo"] == sizes[1]["file_id"]  # the same file id, not re-uploaded bytes
    q = await _poll(bot, services, GROUP, after=mark)
    assert q.params["question"] == PHOTO_PROMPT and q.params["type"] == "quiz"
    assert not _is_anonymous(q.params) and q.params["explanation"]
    assert photo.at <= q.at
    answered = await bot.wait_for("answerCallbackQuery", timeout=WAIT_S, after=mark)
    assert "text" not in answered.params

    # pressing again while the photo round runs: a polite toast, no second round
    mark = len(bot.requests)
    bot.push_callback_query(card.result, button["callback_data"], from_user=BEN)
    toast = await bot.wait_for("answerCallbackQuery", timeout=WAIT_S, after=mark)
    assert toast.params["text"] == ALREADY_RUNNING_TEXT

    assert len(bot.calls("sendPoll")) == 1

    # after the round, a button the bot no longer remembers gets a kind toast, and no round
    stop = bot.push_message(chat=group, text="/quiz stop", from_user=ANA)
    sent = await bot.wait_for("sendMessage", _to(GROUP, stop), timeout=WAIT_S)
    assert sent.params["text"].startswith("🛑 Quiz stopped.")
    mark = len(bot.requests)
    bot.push_callback_query(card.result, "quiz:forgotten", from_user=BEN)
    gone = await bot.wait_for("answerCallbackQuery", timeout=WAIT_S, after=mark)
    assert gone.params["text"] == PHOTO_GONE_TEXT
    await bot.idle(quiet=0.3, timeout=WAIT_S)
    assert len(bot.calls("sendPoll")) == 1


async def test_unsure_identification_has_no_quiz_button(bot: FakeTelegram, services: Services) -> None:
    from tests.test_telegram_e2e import _png

    group = bot.group_chat(GROUP)
    photo_msg = bot.push_message(chat=group, document=bot.document(_png(), "p.png", "image/png"))
    cmd = bot.push_message(chat=group, text="/reptile", reply_to_message=photo_msg)
    card = await bot.wait_for("sendMessage", _to(GROUP, cmd), timeout=WAIT_S)
    assert "reply_markup" not in card.params


# -- several replicas -------------------------------------------------------------------------------


async def test_a_round_whose_replica_died_is_finished_by_another(
    fake: FakeTelegram, species_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica A dies mid-question (its lease is no longer renewed); replica B, serving the same bot on
    the same state database, reveals the cut question in reply to A's poll and asks the rest."""
    from bot.adapters.telegram.quiz import QuizRunner

    async def crash(self, bot) -> None:  # kill -9: the round is left running, its lease not renewed
        await self.sessions.abandon_all()

    # a 1 s renewal: the lease lives 3 s; the shortest open period Telegram allows (5 s)
    common = {"quiz_open_period_s": 5, "quiz_lease_renew_s": 1.0, "quiz_reveal_pause_s": 0.0}
    first = await open_services(telegram_settings(fake, species_db, replica_id="A", **common))
    try:
        with monkeypatch.context() as m:
            m.setattr(QuizRunner, "shutdown", crash)
            async with _serving(first, fake):
                fake.push_message(chat=fake.group_chat(GROUP), text="/quiz 2", from_user=ANA)
                q1 = await _poll(fake, first, GROUP)
                fake.push_poll_answer(q1.result["poll"]["id"], ANA, [_right(q1)])
                fake.push_poll_answer(q1.result["poll"]["id"], BEN, [_wrong(q1)])
                await _answers_stored(first, q1, 2)
                await fake.idle(quiet=0.2, timeout=WAIT_S)  # updates confirmed: not re-delivered later
    finally:
        await first.close()

    second = await open_services(telegram_settings(fake, species_db, replica_id="B", **common))
    try:
        assert second.interrupted_rounds == []  # A's lease is still alive: not closed at start-up
        mark = len(fake.requests)
        async with _serving(second, fake):
            reveal = await fake.wait_for("sendMessage", _to(GROUP, q1.result, "The answer is"),
                                         timeout=WAIT_S, after=mark)
            assert "1 of 2 got it right" in reveal.params["text"]
            q2 = await _poll(fake, second, GROUP, after=mark)
            assert q2.params["question"].startswith("(2/2) ")
            fake.push_poll_answer(q2.result["poll"]["id"], ANA, [_right(q2)])
            fake.push_poll_answer(q2.result["poll"]["id"], BEN, [_right(q2)])  # both played: early close
            summary = await fake.wait_for("sendMessage", _to(GROUP, contains="end of the quiz"),
                                          timeout=WAIT_S, after=mark)
            assert "🥇 Ana: 2 of 2 right" in summary.params["text"]
            assert "🥈 Ben: 1 of 2 right" in summary.params["text"]
        assert INTERRUPTED_TEXT not in [r.params.get("text") for r in fake.calls("sendMessage")]
    finally:
        await second.close()
