"""Fair quizzes (issue 15): points count only when a question closes, ties share a place, and a question
cut by a restart is closed where it was posted (Telegram and Discord, against their fakes).

Must show: a score query during an open question sees the old score; tie places; a restart closes the cut
question's message. The fun-fact give-away rule is tested with the question generator, not here.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import pytest

from bot.adapters.telegram import quiz as tg_quiz
from bot.core.quiz.engine import (
    INTERRUPTED_TEXT,
    RESTART_STOPPED_TEXT,
    ChatRef,
    QuizEngine,
    format_leaderboard,
    shared_ranks,
    summary_text,
)
from bot.core.quiz.questions import QuestionGenerator
from bot.services import open_services
from bot.state.db import MIGRATIONS
from bot.state.quiz import RoundScore
from bot.state.store import StateStore
from tests.fakes.fake_telegram import FakeTelegram
from tests.legacy_state import SCHEMA_1_SQL
from tests.telegram_fixtures import WAIT_S, telegram_settings
from tests.test_quiz_fixtures import taxa

TG = ChatRef("telegram", "-1001")
DC = ChatRef("discord", "555", scope_id="guild-9")


@pytest.fixture
def engine(store: StateStore) -> QuizEngine:
    return QuizEngine(QuestionGenerator(taxa(), random.Random(7)), store)


def _wrong(question) -> int:
    return (question.correct_index + 1) % len(question.options)


# -- points count at the close ------------------------------------------------------------------------


@pytest.mark.parametrize("chat", [TG, DC], ids=["telegram", "discord"])
async def test_score_queries_during_an_open_question_see_the_old_score(engine: QuizEngine, chat: ChatRef):
    rq = await engine.start(chat, n=2)
    await engine.question_posted(chat, "m1")
    assert (await engine.answer(chat, "ana", "Ana", rq.question.correct_index)).correct
    assert (await engine.answer(chat, "ben", "Ben", _wrong(rq.question))).accepted
    # Question 1 is open: nobody can learn from the bot who was right.
    assert "haven't answered" in await engine.my_score_text(chat.platform, chat.scope_id, "ana")
    assert "No scores yet" in await engine.leaderboard_text(chat.platform, chat.scope_id)
    assert (await engine.store.usage_stats(0)).players == 0
    assert await engine.store.round_results(rq.round_id) == []

    await engine.close_question(chat)  # the reveal: now it counts
    assert await engine.my_score_text(chat.platform, chat.scope_id, "ana") == \
        "Ana: 1 point (1 of 1 right), number 1 here."
    assert (await engine.store.usage_stats(0)).players == 2

    rq = await engine.next_question(chat)
    await engine.question_posted(chat, "m2")
    assert (await engine.answer(chat, "ben", "Ben", rq.question.correct_index)).correct
    # Ben's right answer to question 2 is not counted yet: the old scores and places stand.
    assert await engine.my_score_text(chat.platform, chat.scope_id, "ben") == \
        "Ben: 0 points (0 of 1 right), number 2 here."
    assert (await engine.leaderboard_text(chat.platform, chat.scope_id)).splitlines()[1:] == \
        ["🥇 Ana: 1 point"]
    summary = await engine.finish(chat)  # the end of the round closes question 2 too
    assert summary is not None and "🥇 Ana: 1 of 2 right" in summary.text
    assert "🥇 Ben: 1 of 2 right" in summary.text  # a tie shares first place
    assert await engine.my_score_text(chat.platform, chat.scope_id, "ben") == \
        "Ben: 1 point (1 of 2 right), number 1 here."


async def test_an_answer_waits_with_its_press_time_and_counts_once(store: StateStore):
    rnd = await store.start_round("discord", "c", "g", 1, "kids")
    qid = await store.record_question(rnd.id, 0, "type", "Naja naja", 4, 2)
    await store.record_answer(qid, "u1", "Ana", 2)
    await store.record_answer(qid, "u2", "Ben", 2)
    assert await store.user_score("discord", "g", "u1") is None
    assert await store.close_question(qid)
    assert not await store.close_question(qid)
    await store.finish_round(rnd.id)  # settles nothing twice
    for user in ("u1", "u2"):
        row = await store.user_score("discord", "g", user)
        assert (row.points, row.answered, row.correct, row.rank) == (1, 1, 1, 1)


async def test_stopping_before_the_reveal_loses_nothing(state_target):
    """The bot dies while a question is open: the answers are kept and count at the next start-up."""
    path = state_target
    s = await StateStore.open(path)
    rnd = await s.start_round("telegram", "-5", "-5", 3, "kids")
    qid = await s.record_question(rnd.id, 0, "diet", "Naja naja", 3, 1, answer_text="Meat-eater",
                                  explanation="Cobras eat rats.", prompt="What does the cobra eat?")
    await s.set_question_message(qid, "poll-9", post_message_id=77, thread_id=4)
    await s.record_answer(qid, "ana", "Ana", 1)
    await s.record_answer(qid, "ben", "Ben", 0)
    assert await s.user_score("telegram", "-5", "ana") is None
    await s.close()  # crash

    s = await StateStore.open(path)
    try:
        rounds, cut = await s.close_cut_rounds()
        assert [r.id for r in rounds] == [rnd.id]
        assert [(c.question_id, c.chat_id, c.post_message_id, c.thread_id, c.answer_text, c.prompt)
                for c in cut] == [(qid, "-5", "77", "4", "Meat-eater", "What does the cobra eat?")]
        ana = await s.user_score("telegram", "-5", "ana")
        assert (ana.points, ana.answered) == (1, 1)
        ben = await s.user_score("telegram", "-5", "ben")
        assert (ben.points, ben.answered) == (0, 1)
        assert await s.close_cut_rounds() == ([], [])
        assert (await s.user_score("telegram", "-5", "ana")).points == 1  # settled once
    finally:
        await s.close()


async def test_a_version_1_database_upgrades_without_counting_old_answers_twice(tmp_path: Path):
    """Today's state.sqlite (schema 1, points written at the press) opens, upgrades and keeps its scores."""
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as raw:
        raw.executescript(SCHEMA_1_SQL)
        raw.execute("INSERT INTO rounds (id, platform, chat_id, scope_id, started_at, n_questions, "
                    "difficulty) VALUES (1, 'discord', 'c', 'g', 1.0, 2, 'kids')")
        raw.execute("INSERT INTO questions (id, round_id, idx, kind, taxon, n_options, correct_index, "
                    "asked_at) VALUES (1, 1, 0, 'type', 'Naja naja', 4, 0, 1.5)")
        raw.execute("INSERT INTO answers (question_id, user_id, display_name, option, correct, answered_at)"
                    " VALUES (1, 'u1', 'Ana', 0, 1, 2.0)")
        raw.execute("INSERT INTO scores VALUES ('discord', 'g', 'u1', 'Ana', 1, 1, 1, 2.0)")
        raw.execute("PRAGMA user_version = 1")
    s = await StateStore.open(path)
    try:
        assert await s.schema_version() == len(MIGRATIONS)
        rounds, cut = await s.close_cut_rounds()  # the old run was cut with question 1 open
        assert [r.id for r in rounds] == [1] and [c.question_id for c in cut] == [1]
        assert cut[0].post_message_id is None and cut[0].answer_text == ""
        row = await s.user_score("discord", "g", "u1")
        assert (row.points, row.answered) == (1, 1)  # scored at the press before; not again
    finally:
        await s.close()


# -- ties ---------------------------------------------------------------------------------------------


def test_shared_ranks():
    assert shared_ranks([3, 1, 1, 1, 0]) == [1, 2, 2, 2, 5]
    assert shared_ranks([]) == []
    assert shared_ranks([2, 2]) == [1, 1]
    with pytest.raises(ValueError):
        shared_ranks([1, 2])


def test_summary_ties_share_a_place_and_nobody_who_scored_is_left_out():
    """The classroom of issue 15: Ana 3 of 3, five players 1 of 3 (one of them, Opal, was left out)."""
    results = [RoundScore("a", "Ana", 3, 3)] + [
        RoundScore(str(i), name, 1, 3) for i, name in enumerate(["Omar", "Ben", "Opal", "Olga", "Cleo"])
    ] + [RoundScore("z", "Zed", 0, 3)]
    lines = summary_text(results, "finished", 3).splitlines()
    assert lines[2] == "🥇 Ana: 3 of 3 right"
    assert lines[3:8] == [f"🥈 {n}: 1 of 3 right" for n in ["Ben", "Cleo", "Olga", "Omar", "Opal"]]
    assert "Zed" not in "\n".join(lines)  # only those who scored are listed
    assert "more" not in "\n".join(lines)


def test_summary_lists_ten_and_counts_the_rest():
    results = [RoundScore(f"u{i}", f"P{i:02d}", 12 - i, 12) for i in range(12)]
    text = summary_text(results, "stopped", 12)
    assert text.startswith("🛑 Quiz stopped.")
    assert "P09: 3 of 12 right" in text and "P10" not in text
    assert "…and 2 more players scored too!" in text
    assert "🥉 P02" in text and "4. P03" in text


def test_summary_when_nobody_scored():
    assert "Nobody got one right" in summary_text([RoundScore("u", "Ana", 0, 2)], "finished", 2)


async def test_leaderboard_and_score_share_places_and_list_only_scorers(store: StateStore):
    rnd = await store.start_round("discord", "ch", "g", 3, "kids")
    qids = [await store.record_question(rnd.id, i, "type", "X", 2, 0) for i in range(3)]
    right = {"ana": 3, "ben": 1, "cleo": 1, "olga": 1, "zed": 0}
    for user, n in right.items():
        for i, qid in enumerate(qids):
            await store.record_answer(qid, user, user.title(), 0 if i < n else 1)
    for qid in qids:
        await store.close_question(qid)
    text = format_leaderboard(await store.leaderboard("discord", "g"))
    assert text.splitlines()[1:] == ["🥇 Ana: 3 points", "🥈 Ben: 1 point", "🥈 Cleo: 1 point",
                                     "🥈 Olga: 1 point"]
    engine = QuizEngine(QuestionGenerator(taxa(), random.Random(1)), store)
    for user in ("ben", "cleo", "olga"):
        assert (await engine.my_score_text("discord", "g", user)).endswith("number 2 here.")
    assert (await engine.my_score_text("discord", "g", "zed")).endswith("number 5 here.")


# -- a restart closes the cut question where it was posted ---------------------------------------------


async def test_telegram_restart_stops_the_cut_poll_and_shows_the_answer(
    fake: FakeTelegram, species_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_telegram_quiz import _poll, _right, _serving, _to

    async def crash(self, bot) -> None:  # kill -9: the round is left running in the database
        await self.sessions.abandon_all()

    group = -100555
    settings = telegram_settings(fake, species_db, quiz_open_period_s=60)
    first = await open_services(settings)
    try:
        with monkeypatch.context() as m:
            m.setattr(tg_quiz.QuizRunner, "shutdown", crash)
            async with _serving(first, fake):
                fake.push_message(chat=fake.group_chat(group), text="/quiz 3")
                q1 = await _poll(fake, first, group)
                fake.push_poll_answer(q1.result["poll"]["id"], FakeTelegram.user(601, "Ana"), [_right(q1)])
                question = await first.state.question_by_message("telegram", q1.result["poll"]["id"])
                deadline = asyncio.get_running_loop().time() + WAIT_S
                while await first.state.answer_count(question.id) < 1:
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.02)
                assert await first.state.user_score("telegram", group, 601) is None  # still open
                await fake.idle(quiet=0.2, timeout=WAIT_S)  # updates confirmed: not re-delivered later
    finally:
        await first.close()

    second = await open_services(settings)
    try:
        assert [c.question_id for c in second.cut_questions] == [question.id]
        mark = len(fake.requests)
        async with _serving(second, fake):
            stop = await fake.wait_for("stopPoll", timeout=WAIT_S, after=mark)
            assert int(stop.params["chat_id"]) == group
            assert int(stop.params["message_id"]) == q1.result["message_id"]
            assert fake.polls[q1.result["poll"]["id"]]["poll"]["is_closed"]
            reveal = await fake.wait_for("sendMessage", _to(group, q1.result), timeout=WAIT_S, after=mark)
            option = q1.params["options"][_right(q1)]
            option = option["text"] if isinstance(option, dict) else str(option)
            assert reveal.params["text"].startswith(RESTART_STOPPED_TEXT)
            assert f"The answer is: {option}" in reveal.params["text"]
            await fake.wait_for("sendMessage", _to(group, contains=INTERRUPTED_TEXT), timeout=WAIT_S,
                                after=mark)
            await fake.idle(quiet=0.5, timeout=WAIT_S)  # start-up notices done before the stop
        score = await second.state.user_score("telegram", group, 601)
        assert (score.points, score.answered) == (1, 1)  # the answer given before the crash counts
        # a restart of the Telegram adapter does not repeat it
        assert second.quiz.pending_restart_notices("telegram") == ([], [])
    finally:
        await second.close()
