"""The platform-neutral quiz engine: rounds, answers, reveals, summaries, photo rounds, restarts."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

from bot.core.quiz import engine as engine_module
from bot.core.quiz.engine import (
    INTERRUPTED_TEXT,
    ChatRef,
    NoQuestions,
    QuizEngine,
    RoundAlreadyRunning,
    format_leaderboard,
    format_question_text,
    parse_text_answer,
)
from bot.core.quiz.questions import Difficulty, QuestionGenerator, QuestionKind, verify
from bot.state.store import StateStore
from tests.test_quiz_fixtures import taxa

TAXA = taxa()
DB = {t.scientific_name: t for t in TAXA}
TG = ChatRef("telegram", "-1001")
DC = ChatRef("discord", "555", scope_id="guild-9")


@pytest.fixture
def engine(store):
    return QuizEngine(QuestionGenerator(TAXA, random.Random(42)), store)


async def test_full_round(engine):
    rq = await engine.start(TG, n=3, difficulty="kids")
    assert rq.number == 1 and rq.total == 3
    assert engine.is_running(TG)
    asked = []
    while rq is not None:
        q = rq.question
        assert verify(q, DB)
        asked.append(q.scientific_name)
        await engine.question_posted(TG, f"poll-{rq.number}")
        assert (await engine.answer(TG, 1, "Ana", q.correct_index)).correct
        wrong = (q.correct_index + 1) % len(q.options)
        assert not (await engine.answer(TG, 2, "Ben", wrong)).correct
        assert not (await engine.answer(TG, 1, "Ana", wrong)).accepted  # double answer
        assert await engine.answer_count(TG) == 2
        reveal = await engine.close_question(TG)
        assert reveal is not None and q.correct_option in reveal.text and q.explanation in reveal.text
        assert (reveal.right, reveal.answered) == (1, 2) and "1 of 2" in reveal.text
        assert await engine.close_question(TG) is None  # idempotent (timer + everyone answered)
        assert (await engine.answer(TG, 3, "Cy", 0)).reason == "closed"
        rq = await engine.next_question(TG)
    assert len(set(asked)) == 3
    summary = await engine.finish(TG)
    assert summary is not None and summary.status == "finished"
    assert [r.display_name for r in summary.results] == ["Ana", "Ben"]
    assert "🥇 Ana: 3 of 3 right" in summary.text
    assert "Ben" not in summary.text  # the summary lists those who scored
    assert not engine.is_running(TG)
    assert await engine.finish(TG) is None
    board = await engine.leaderboard("telegram", "-1001")
    assert [(r.display_name, r.points) for r in board] == [("Ana", 3)]  # only players with points
    assert "Ana: 3 points" in await engine.leaderboard_text("telegram", "-1001")
    assert "3 points" in await engine.my_score_text("telegram", "-1001", 1)


async def test_one_round_per_chat(engine):
    await engine.start(TG, n=2)
    with pytest.raises(RoundAlreadyRunning):
        await engine.start(TG, n=2)
    await engine.start(DC, n=2)  # another chat is independent
    stopped = await engine.stop(TG)
    assert stopped.status == "stopped" and "stopped" in stopped.text.lower()
    await engine.start(TG, n=1)


async def test_discord_scores_go_to_the_server(engine):
    rq = await engine.start(DC, n=1)
    await engine.answer(DC, "u1", "Ana", rq.question.correct_index)
    await engine.close_question(DC)
    assert await engine.next_question(DC) is None
    await engine.finish(DC)
    assert [r.user_id for r in await engine.leaderboard("discord", "guild-9")] == ["u1"]
    assert await engine.leaderboard("discord", "555") == []


async def test_telegram_poll_answers_routed_by_poll_id(engine):
    rq = await engine.start(TG, n=2)
    await engine.question_posted(TG, "poll-A", closes_at=None)
    chat, res = await engine.answer_by_message("telegram", "poll-A", 7, "Dee", rq.question.correct_index)
    assert chat == TG and res.accepted and res.correct
    chat, res = await engine.answer_by_message("telegram", "poll-unknown", 7, "Dee", 0)
    assert chat is None and not res.accepted
    await engine.close_question(TG)
    await engine.next_question(TG)
    await engine.question_posted(TG, "poll-B")
    _, stale = await engine.answer_by_message("telegram", "poll-A", 8, "Eve", 0)
    assert not stale.accepted  # an old poll no longer counts


async def test_answers_after_closes_at_are_refused(store):
    now = [1000.0]
    s = store
    s._clock = lambda: now[0]
    eng = QuizEngine(QuestionGenerator(TAXA, random.Random(1)), s)
    rq = await eng.start(TG, n=1)
    await eng.question_posted(TG, "p", closes_at=1030.0)
    now[0] = 1031.0
    res = await eng.answer(TG, 1, "Late", rq.question.correct_index)
    assert not res.accepted and res.reason == "closed"


async def test_restart_interrupts_running_rounds(state_target):
    path = state_target
    s1 = await StateStore.open(path)
    e1 = QuizEngine(QuestionGenerator(TAXA, random.Random(1)), s1)
    rq = await e1.start(TG, n=3)
    await e1.answer(TG, 1, "Ana", rq.question.correct_index)
    await s1.close()  # the process dies mid-round

    s2 = await StateStore.open(path)
    try:
        e2 = QuizEngine(QuestionGenerator(TAXA, random.Random(2)), s2)
        cut = await e2.startup()
        assert [(r.platform, r.chat_id, r.status) for r in cut] == [("telegram", "-1001", "interrupted")]
        assert "restart" in INTERRUPTED_TEXT
        assert (await s2.user_score("telegram", "-1001", 1)).points == 1  # points survive the restart
        await e2.start(TG, n=1)  # the chat can play again
    finally:
        await s2.close()


async def test_no_questions(store):
    eng = QuizEngine(QuestionGenerator([], random.Random(0)), store)
    with pytest.raises(NoQuestions):
        await eng.start(TG)
    assert not eng.is_running(TG)
    assert await store.running_round("telegram", "-1001") is None


async def test_photo_round(engine):
    key = engine.remember_photo("telegram", "-1001", "AgACAgQAAxkBAAIB", "Naja naja")
    assert 1 <= len(key.encode()) <= 64  # fits Telegram callback_data
    assert engine.photo_question("telegram", "-999", key) is None  # another chat cannot use it
    assert engine.photo_question("discord", "-1001", key) is None
    rq = await engine.start_photo_round(TG, key, Difficulty.KIDS)
    q = rq.question
    assert q.kind == QuestionKind.PHOTO and q.prompt == "What reptile is in this photo?"
    assert q.photo_file_id == "AgACAgQAAxkBAAIB" and q.correct_option == "Indian cobra"
    assert rq.total == 1 and verify(q, DB)
    await engine.answer(TG, 1, "Ana", q.correct_index)
    reveal = await engine.close_question(TG)
    assert "Indian cobra" in reveal.text
    assert await engine.next_question(TG) is None
    assert "Ana" in (await engine.finish(TG)).text
    with pytest.raises(KeyError):
        await engine.start_photo_round(TG, "no-such-key")


async def test_photo_memory_is_bounded_and_keeps_file_ids_only(store):
    eng = QuizEngine(QuestionGenerator(TAXA, random.Random(0)), store, photo_memory=3)
    keys = [eng.remember_photo("discord", "c", f"file-{i}", "Naja naja") for i in range(5)]
    assert eng.photo_question("discord", "c", keys[0]) is None  # forgotten (oldest first)
    assert eng.photo_question("discord", "c", keys[4]).photo_file_id == "file-4"
    assert len(eng._photos) == 3
    assert all(isinstance(p.file_id, str) for p in eng._photos.values())


async def test_next_question_closes_an_open_question(engine):
    rq = await engine.start(TG, n=2)
    nxt = await engine.next_question(TG)
    assert nxt.number == 2
    asked = await engine.store.get_question(rq.question_id)
    assert asked.closed


def test_format_and_parse_text_answers():
    q = QuestionGenerator(TAXA, random.Random(3)).generate(QuestionKind.DIET, Difficulty.KIDS)
    text = format_question_text(q, 2, 5)
    lines = text.splitlines()
    assert lines[0] == f"Question 2 of 5: {q.prompt}"
    assert lines[1:] == [f"{i}. {o}" for i, o in enumerate(q.options, 1)]
    assert parse_text_answer(q, "1") == 0
    assert parse_text_answer(q, " 2. ") == 1
    assert parse_text_answer(q, "b") == 1
    assert parse_text_answer(q, q.options[-1].upper()) == len(q.options) - 1
    assert parse_text_answer(q, "9") is None
    assert parse_text_answer(q, "") is None
    assert parse_text_answer(q, "banana") is None


def test_format_leaderboard_empty():
    assert "No scores yet" in format_leaderboard([])


def test_core_quiz_never_imports_platform_libraries():
    root = Path(engine_module.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ("telegram", "discord"), (path, name)
