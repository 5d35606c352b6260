"""One data layer, two back ends (issue 13): the Alembic schema matches the table metadata, several
replicas (stores) sharing one PostgreSQL database keep every guarantee, ``STATE_DB_URL`` picks the back
end, and updates are claimed once (webhook de-duplication)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.core.quiz.engine import ChatRef, QuizEngine
from bot.core.quiz.questions import QuestionGenerator
from bot.settings import Settings
from bot.state.db import state_db_url
from bot.state.store import StateStore
from bot.state.tables import metadata
from bot.state.updates import Claim
from tests.manual_clock import ManualClock
from tests.test_quiz_fixtures import taxa


async def test_the_migrations_build_the_schema_the_code_uses(state_target):
    store = await StateStore.open(state_target)
    try:
        async with store._engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
        # Index and server-default details differ in how each database reports them; tables and
        # columns must agree exactly.
        tables_or_columns = [d for d in diff if d[0] in ("add_table", "remove_table", "add_column",
                                                         "remove_column")]
        assert tables_or_columns == []
    finally:
        await store.close()


async def test_two_replicas_on_one_database_score_each_answer_once(state_target):
    """Two processes' stores on the same database: concurrent answers and closes of one question."""
    a = await StateStore.open(state_target)
    b = await StateStore.open(state_target)
    try:
        rnd = await a.start_round("telegram", "-7", "-7", 1, "kids")
        qid = await a.record_question(rnd.id, 0, "type", "Naja naja", 4, 3)
        users = [f"u{i}" for i in range(10)]
        results = await asyncio.gather(*(
            (a if i % 2 else b).record_answer(qid, user, user, 3 if int(user[1:]) < 6 else 0)
            for i, user in enumerate(users + users)  # every user answers twice, once on each replica
        ))
        assert sum(r.accepted for r in results) == 10
        closed = await asyncio.gather(a.close_question(qid), b.close_question(qid), a.finish_round(rnd.id),
                                      b.finish_round(rnd.id))
        assert closed.count(True) == 2  # one close and one finish did something
        board = await b.leaderboard("telegram", "-7")
        assert sorted(r.user_id for r in board) == users[:6]
        assert all(r.points == 1 and r.answered == 1 for r in board)
        late = await a.record_answer(qid, "late", "Late", 3)
        assert late.reason == "closed"
    finally:
        await a.close()
        await b.close()


async def test_cut_rounds_are_closed_once_when_two_replicas_start(state_target):
    first = await StateStore.open(state_target)
    rnd = await first.start_round("discord", "c", "g", 2, "kids")
    qid = await first.record_question(rnd.id, 0, "diet", "Naja naja", 3, 1)
    await first.record_answer(qid, "u", "Ana", 1)
    await first.close()
    a = await StateStore.open(state_target)
    b = await StateStore.open(state_target)
    try:
        (ra, ca), (rb, cb) = await asyncio.gather(a.close_cut_rounds(), b.close_cut_rounds())
        assert sorted([len(ra), len(rb)]) == [0, 1] and sorted([len(ca), len(cb)]) == [0, 1]
        assert (await a.user_score("discord", "g", "u")).points == 1
    finally:
        await a.close()
        await b.close()


async def test_an_update_is_claimed_once_across_replicas(state_target):
    a = await StateStore.open(state_target)
    b = await StateStore.open(state_target)
    try:
        claims = await asyncio.gather(*((a, b)[i % 2].claim_update("bot1", 1000 + i // 2, 30.0)
                                        for i in range(20)))
        assert claims.count(Claim.CLAIMED) == 10 and claims.count(Claim.BUSY) == 10
        assert await a.claim_update("bot2", 1000, 30.0) is Claim.CLAIMED  # another bot's ids are its own
    finally:
        await a.close()
        await b.close()


async def test_an_update_whose_replica_died_is_claimed_again_after_its_lease(state_target):
    """Replica A claims an update and dies before finishing it: while A's claim lasts a re-delivery is
    busy (Telegram is asked to retry), after it B claims it, and once B finished it is done for all."""
    clock = ManualClock(1000.0)
    a = await StateStore.open(state_target, clock=clock)
    b = await StateStore.open(state_target, clock=clock)
    try:
        assert await a.claim_update("bot1", 7, 5.0) is Claim.CLAIMED
        clock.now += 4.0
        assert await b.claim_update("bot1", 7, 5.0) is Claim.BUSY
        clock.now += 2.0  # A's claim expired at +5 s
        assert await b.claim_update("bot1", 7, 5.0) is Claim.CLAIMED
        assert await a.claim_update("bot1", 7, 5.0) is Claim.BUSY
        await b.finish_update("bot1", 7)
        clock.now += 60.0
        assert await a.claim_update("bot1", 7, 5.0) is Claim.DONE
        assert await b.claim_update("bot1", 7, 5.0) is Claim.DONE
    finally:
        await a.close()
        await b.close()


def test_state_db_url_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("STATE_DB_URL", raising=False)
    monkeypatch.setenv("STATE_DB_PATH", str(tmp_path / "x.sqlite"))
    assert Settings(_env_file=None).state_db_target() == tmp_path / "x.sqlite"  # STATE_DB_PATH still works
    monkeypatch.setenv("STATE_DB_URL", "postgresql://bot:pw@db:5432/reptiles")
    assert Settings(_env_file=None).state_db_target() == "postgresql://bot:pw@db:5432/reptiles"
    monkeypatch.setenv("STATE_DB_URL", "")
    assert Settings(_env_file=None).state_db_target() == tmp_path / "x.sqlite"
    assert state_db_url("sqlite:///state.sqlite") == "sqlite+aiosqlite:///state.sqlite"
    assert state_db_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    assert state_db_url(tmp_path / "y.sqlite") == f"sqlite+aiosqlite:///{tmp_path / 'y.sqlite'}"
    with pytest.raises(ValueError):
        state_db_url("mysql://u@h/d")


async def test_poll_answers_that_reach_another_replica_score(state_target):
    """Telegram sends each poll answer to whichever replica: the one not running the round stores it, and
    it counts when the round's replica closes the question."""
    import random

    a_store = await StateStore.open(state_target)
    b_store = await StateStore.open(state_target)
    try:
        a = QuizEngine(QuestionGenerator(taxa(), random.Random(3)), a_store)
        b = QuizEngine(QuestionGenerator(taxa(), random.Random(4)), b_store)
        chat = ChatRef("telegram", "-900")
        rq = await a.start(chat, n=1)
        await a.question_posted(chat, "poll-x")
        where, result = await b.answer_by_message("telegram", "poll-x", 11, "Ana", rq.question.correct_index)
        assert where == chat and result.accepted and result.correct
        _, again = await b.answer_by_message("telegram", "poll-x", 11, "Ana", 0)
        assert again.reason == "duplicate"
        _, here = await a.answer_by_message("telegram", "poll-x", 12, "Ben", rq.question.correct_index)
        assert here.accepted
        assert await b_store.user_score("telegram", "-900", 11) is None  # still open
        reveal = await a.close_question(chat)
        assert reveal is not None and (reveal.right, reveal.answered) == (2, 2)
        assert (await b_store.user_score("telegram", "-900", 11)).points == 1
        _, late = await b.answer_by_message("telegram", "poll-x", 13, "Cy", 0)
        assert late.reason == "unknown_question"  # closed
    finally:
        await a_store.close()
        await b_store.close()
