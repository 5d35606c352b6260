"""The state database: WAL, migrations, rounds, answers, scores, leaderboards, privacy.

Every test taking ``store`` or ``state_target`` runs on both back ends, SQLite and PostgreSQL
(``tests/state_backends.py``); the SQLite-only ones (WAL, the file's schema number) say so."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.state.db import MIGRATIONS
from bot.state.quiz import INTERRUPTED, RoundAlreadyRunning
from bot.state.store import StateStore
from tests.manual_clock import ManualClock


@pytest.fixture
async def store(state_target):
    s = await StateStore.open(state_target, clock=ManualClock(1_700_000_000.0))
    yield s
    await s.close()


async def _question(store: StateStore, chat="c1", scope="g1", platform="discord", correct=1, n_options=4):
    rnd = await store.start_round(platform, chat, scope, 3, "kids")
    qid = await store.record_question(rnd.id, 0, "type", "Naja naja", n_options, correct)
    return rnd, qid


async def test_wal_mode_and_schema_version(tmp_path):  # SQLite only
    store = await StateStore.open(tmp_path / "state.sqlite")
    assert store.backend == "sqlite"
    assert await store.journal_mode() == "wal"
    assert await store.schema_version() == len(MIGRATIONS)
    with sqlite3.connect(tmp_path / "state.sqlite") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"rounds", "questions", "answers", "scores", "identifications"} <= tables
    await store.close()


async def test_scores_survive_reopen(state_target):
    path = state_target
    s = await StateStore.open(path)
    _, qid = await _question(s)
    assert (await s.record_answer(qid, 42, "Ana", 1)).correct
    assert await s.close_question(qid)
    await s.close()
    s = await StateStore.open(path)  # migrations are not re-applied
    try:
        assert await s.schema_version() == len(MIGRATIONS)
        row = await s.user_score("discord", "g1", 42)
        assert row is not None and row.points == 1 and row.correct == 1 and row.answered == 1
        assert row.display_name == "Ana"
    finally:
        await s.close()


async def test_double_answer_rejected_and_score_counted_once(store):
    _, qid = await _question(store, correct=2)
    first = await store.record_answer(qid, "u1", "Ana", 2)
    assert first.accepted and first.correct
    second = await store.record_answer(qid, "u1", "Ana", 0)
    assert not second.accepted and second.reason == "duplicate"
    wrong = await store.record_answer(qid, "u2", "Ben", 0)
    assert wrong.accepted and not wrong.correct
    await store.close_question(qid)
    ana = await store.user_score("discord", "g1", "u1")
    assert (ana.points, ana.answered, ana.correct) == (1, 1, 1)
    ben = await store.user_score("discord", "g1", "u2")
    assert (ben.points, ben.answered, ben.correct) == (0, 1, 0)


async def test_concurrent_double_answers_count_once(store):
    _, qid = await _question(store, correct=0)
    results = await asyncio.gather(*(store.record_answer(qid, "u1", "Ana", 0) for _ in range(10)))
    assert sum(r.accepted for r in results) == 1
    await store.close_question(qid)
    assert (await store.user_score("discord", "g1", "u1")).points == 1


async def test_closed_expired_and_bad_answers_rejected(store):
    clock = store._clock
    rnd, qid = await _question(store)
    assert (await store.record_answer(qid, "u", "A", 9)).reason == "bad_option"
    assert (await store.record_answer(qid, "u", "A", -1)).reason == "bad_option"
    assert (await store.record_answer(999, "u", "A", 0)).reason == "unknown_question"
    await store.set_question_message(qid, "poll-1", closes_at=clock.now + 30)
    clock.now += 31
    assert (await store.record_answer(qid, "u", "A", 1)).reason == "closed"
    q2 = await store.record_question(rnd.id, 1, "diet", "Naja naja", 3, 0)
    assert await store.close_question(q2)
    assert not await store.close_question(q2)
    assert (await store.record_answer(q2, "u", "A", 0)).reason == "closed"
    asked = await store.question_by_message("discord", "poll-1")
    assert asked is not None and asked.id == qid and asked.scope_id == "g1"
    assert await store.question_by_message("telegram", "poll-1") is None


async def test_one_running_round_per_chat(store):
    rnd = await store.start_round("telegram", -100, -100, 5, "kids")
    with pytest.raises(RoundAlreadyRunning):
        await store.start_round("telegram", -100, -100, 5, "kids")
    other = await store.start_round("telegram", -200, -200, 5, "kids")  # another chat is fine
    assert other.id != rnd.id
    assert await store.finish_round(rnd.id)
    assert not await store.finish_round(rnd.id)
    again = await store.start_round("telegram", -100, -100, 5, "expert")
    assert (await store.running_round("telegram", -100)).id == again.id


async def test_answers_after_round_end_rejected(store):
    rnd, qid = await _question(store)
    await store.finish_round(rnd.id, "stopped")
    assert (await store.record_answer(qid, "u", "A", 1)).reason == "closed"
    assert (await store.get_round(rnd.id)).status == "stopped"


async def test_interrupted_rounds_closed_at_startup(state_target):
    path = state_target
    s = await StateStore.open(path)
    r1, q1 = await _question(s, chat="a")
    r2, _ = await _question(s, chat="b")
    await s.finish_round(r2.id)
    await s.close()  # "crash" with round a running

    s = await StateStore.open(path)
    try:
        cut = await s.interrupted_rounds_at_startup()
        assert [r.id for r in cut] == [r1.id]
        assert cut[0].chat_id == "a" and cut[0].status == INTERRUPTED
        assert (await s.get_round(r1.id)).status == INTERRUPTED
        assert (await s.get_round(r2.id)).status == "finished"
        assert (await s.get_question(q1)).closed
        assert (await s.record_answer(q1, "u", "A", 1)).reason == "closed"
        assert await s.interrupted_rounds_at_startup() == []
        await s.start_round("discord", "a", "g1", 3, "kids")  # the chat can play again
    finally:
        await s.close()


async def test_leaderboard_order_ties_and_scope(store):
    rnd = await store.start_round("telegram", "chat", "chat", 5, "kids")
    qids = [await store.record_question(rnd.id, i, "type", "X", 4, 0) for i in range(5)]
    right = {"ana": 5, "ben": 3, "cy": 3, "dee": 1, "eve": 0}
    for user, n in right.items():
        for i, qid in enumerate(qids):
            await store.record_answer(qid, user, user.title(), 0 if i < n else 1)
    for qid in qids:
        await store.close_question(qid)
    board = await store.leaderboard("telegram", "chat")
    assert [r.user_id for r in board] == ["ana", "ben", "cy", "dee"]  # eve has no points: not listed
    assert [r.rank for r in board] == [1, 2, 2, 4]
    assert [r.points for r in board] == [5, 3, 3, 1]
    eve = await store.user_score("telegram", "chat", "eve")
    assert (eve.points, eve.answered, eve.rank) == (0, 5, 5)
    assert len(await store.leaderboard("telegram", "chat", limit=2)) == 2
    assert await store.leaderboard("discord", "chat") == []
    assert await store.leaderboard("telegram", "other") == []
    me = await store.user_score("telegram", "chat", "dee")
    assert me.rank == 4 and me.points == 1
    assert await store.user_score("telegram", "chat", "nobody") is None


async def test_leaderboard_top_10(store):
    rnd = await store.start_round("discord", "ch", "guild", 1, "kids")
    qid = await store.record_question(rnd.id, 0, "type", "X", 2, 0)
    for u in range(25):
        await store.record_answer(qid, u, f"P{u}", u % 2)
    await store.close_question(qid)
    board = await store.leaderboard("discord", "guild")
    assert len(board) == 10 and all(r.points == 1 and r.rank == 1 for r in board)


async def test_round_results(store):
    rnd = await store.start_round("discord", "ch", "guild", 2, "kids")
    q0 = await store.record_question(rnd.id, 0, "type", "X", 2, 0)
    q1 = await store.record_question(rnd.id, 1, "type", "Y", 2, 1)
    await store.record_answer(q0, "a", "Ana", 0)
    await store.record_answer(q1, "a", "Ana", 1)
    await store.record_answer(q0, "b", "Ben", 1)
    await store.close_question(q0)
    assert [(r.user_id, r.correct, r.answered) for r in await store.round_results(rnd.id)] == [
        ("a", 1, 1), ("b", 0, 1)]  # q1 is still open: its answers are left out
    await store.close_question(q1)
    res = await store.round_results(rnd.id)
    assert [(r.user_id, r.correct, r.answered) for r in res] == [("a", 2, 2), ("b", 0, 1)]
    assert await store.right_count(q0) == 1 and await store.answer_count(q0) == 2


async def test_forget_user(store):
    _, qid = await _question(store, chat="c1", scope="g1")
    _, qid2 = await _question(store, chat="c2", scope="g2")
    for q in (qid, qid2):
        await store.record_answer(q, "u1", "Ana", 1)
        await store.record_answer(q, "u2", "Ben", 1)
        await store.close_question(q)
    deleted = await store.forget_user("discord", "u1")
    assert deleted == 4  # two score rows, two answers
    assert await store.user_score("discord", "g1", "u1") is None
    assert await store.user_score("discord", "g2", "u1") is None
    assert await store.user_score("discord", "g1", "u2") is not None
    assert await store.answer_count(qid) == 1
    assert await store.forget_user("discord", "u1") == 0


async def test_identification_log_has_no_raw_ids(store):
    await store.log_identification("telegram", -100123456, "Naja naja", 0.93)
    await store.log_identification("telegram", -100123456, "Naja naja", 7)  # clamped to 1
    assert await store.identification_count() == 2
    from sqlalchemy import select

    from bot.state.tables import identifications as t

    async with store._engine.connect() as conn:  # what is really stored, read back raw
        rows = (await conn.execute(select(t.c.platform, t.c.chat_hash, t.c.taxon, t.c.confidence)
                                   .order_by(t.c.id))).all()
    assert rows[0][1] == rows[1][1] and len(rows[0][1]) == 64
    assert "100123456" not in rows[0][1]
    assert rows[1][3] == 1.0
    assert store.chat_hash("telegram", 1) != store.chat_hash("discord", 1)


async def test_salt_is_kept_across_reopen_and_can_be_given(state_target, tmp_path):
    path = state_target
    a = await StateStore.open(path)
    h = a.chat_hash("telegram", 5)
    await a.close()
    b = await StateStore.open(path)
    assert b.chat_hash("telegram", 5) == h
    await b.close()
    c = await StateStore.open(tmp_path / "t.sqlite", salt=b"secret")
    assert c.chat_hash("telegram", 5) != h
    await c.close()


async def test_hostile_text_is_stored_verbatim(store):
    _, qid = await _question(store)
    evil = "Robert'); DROP TABLE scores;--"
    assert (await store.record_answer(qid, evil, evil, 1)).accepted
    await store.close_question(qid)
    row = await store.user_score("discord", "g1", evil)
    assert row.display_name == evil
    assert len(await store.leaderboard("discord", "g1")) == 1


async def test_newer_schema_is_refused(tmp_path):  # SQLite only: the file's PRAGMA user_version
    path = tmp_path / "s.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError):
        await StateStore.open(path)


async def test_cancelled_writer_never_leaves_the_connection_in_a_transaction(state_target):
    """A task cancelled in the middle of a write must not block every later write."""
    import asyncio

    from bot.state.store import StateStore

    store = await StateStore.open(state_target)
    try:
        for delay in (0, 0.0001, 0.001):
            task = asyncio.create_task(store.start_round("telegram", f"c{delay}", "s", 3, "kids"))
            await asyncio.sleep(delay)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # Later writes work, and each chat has at most one running round.
        # 30 s: a hang guard (a connection left in a transaction blocks forever), not a speed check.
        rnd = await asyncio.wait_for(store.start_round("telegram", "after", "s", 3, "kids"), 30)
        assert rnd.status == "running"
        assert await store.running_round("telegram", "after") is not None
    finally:
        await store.close()
