"""Round leases and takeover (issue 13) on both back ends (SQLite and the real PostgreSQL): one replica
drives a round under a lease; when it stops renewing, another takes the round over exactly once and
finishes it. Two replicas are simulated in one process: two state stores on one database, two engines,
two :class:`RoundSessions`, one clock the test moves."""

from __future__ import annotations

import asyncio
import os
import random
import socket

import pytest

from bot.core.quiz.engine import ChatRef, QuizEngine
from bot.core.quiz.questions import QuestionGenerator, question_from_json, question_to_json
from bot.core.quiz.session import RoundConfig, RoundSessions, StopRefused
from bot.core.quiz.takeover import LeaseStore, replica_id
from bot.settings import Settings
from bot.state.store import StateStore
from tests.manual_clock import ManualClock
from tests.quiz_clock import QuestionClock
from tests.test_quiz_fixtures import taxa
from tests.test_round_session import FakeTransport

TTL = 15.0
PERIOD = 10.0
CHAT = ChatRef("fake", "group-7")
WAIT = 30.0  # hang guard only


class Replica:
    """One replica: its own store connection, engine, leases and sessions over the shared database."""

    def __init__(self, store: StateStore, name: str, clock: ManualClock) -> None:
        self.store = store
        self.engine = QuizEngine(QuestionGenerator(taxa(), random.Random(7)), store)
        self.leases = LeaseStore(store, name, TTL, clock)
        self.timer = QuestionClock()
        self.transports: list[FakeTransport] = []
        self.sessions = RoundSessions(
            self.engine, CHAT.platform, RoundConfig(open_period_s=PERIOD, reveal_pause_s=0, renew_s=TTL / 3),
            timer=self.timer, clock=clock, leases=self.leases, resume=self._resume, keeper=False)

    def _resume(self, rnd, last) -> FakeTransport:
        transport = FakeTransport()
        self.transports.append(transport)
        return transport


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def stores(state_target, clock: ManualClock):
    a = await StateStore.open(state_target, clock=clock)
    b = await StateStore.open(state_target, clock=clock)
    c = await StateStore.open(state_target, clock=clock)
    yield a, b, c
    for s in (a, b, c):
        await s.close()


async def test_acquire_renew_refuse_and_expire(stores, clock: ManualClock) -> None:
    a_store, b_store, _ = stores
    rnd = await a_store.start_round("fake", "g", "g", 3, "kids")
    a, b = LeaseStore(a_store, "A", TTL, clock), LeaseStore(b_store, "B", TTL, clock)
    assert await a.acquire(rnd.id)
    assert await a.acquire(rnd.id)  # already ours
    assert not await b.acquire(rnd.id)  # held
    assert (await b.get(rnd.id)).owner == "A"
    assert await b.held_elsewhere() == [rnd.id] and await a.held_elsewhere() == []
    clock.now += TTL - 1
    assert await a.renew(rnd.id)  # renewed: lives TTL from now
    clock.now += TTL - 1
    assert not await b.acquire(rnd.id) and await b.expired("fake") == []
    assert not await b.renew(rnd.id)  # not B's to renew
    clock.now += 2  # A stopped renewing
    assert [r.id for r in await b.expired("fake")] == [rnd.id]
    assert await b.acquire(rnd.id)
    assert not await a.renew(rnd.id)  # A learns it lost the round
    assert (await a.get(rnd.id)).owner == "B"
    assert not await a.release(rnd.id) and await b.release(rnd.id)
    assert await a.get(rnd.id) is None


async def test_two_contenders_take_an_expired_lease_over_exactly_once(stores, clock: ManualClock) -> None:
    a_store, b_store, c_store = stores
    rnd = await a_store.start_round("fake", "g", "g", 3, "kids")
    assert await LeaseStore(a_store, "A", TTL, clock).acquire(rnd.id)
    clock.now += TTL + 1
    for _ in range(5):  # the race, several times (each time the winner's lease then expires)
        b, c = LeaseStore(b_store, "B", TTL, clock), LeaseStore(c_store, "C", TTL, clock)
        won = await asyncio.gather(b.acquire(rnd.id), c.acquire(rnd.id))
        assert sorted(won) == [False, True]
        winner = "B" if won[0] else "C"
        assert (await b.get(rnd.id)).owner == winner
        clock.now += TTL + 1


async def test_replica_b_finishes_the_round_replica_a_started(stores, clock: ManualClock) -> None:
    a_store, b_store, _ = stores
    a, b = Replica(a_store, "A", clock), Replica(b_store, "B", clock)
    transport_a = FakeTransport()
    session = await a.sessions.start(CHAT, transport_a, "ana", n=3)
    await asyncio.wait_for(session.until_settled(), WAIT)
    q1 = a.engine.current(CHAT)
    lease = await a.leases.get(q1.round_id)
    assert lease is not None and lease.owner == "A"
    assert (await a.sessions.answer(CHAT, "ana", "Ana", q1.question.correct_index)).accepted
    assert (await a.sessions.answer(CHAT, "ben", "Ben", (q1.question.correct_index + 1) % 2)).accepted
    await a.sessions.renew()
    assert (await a.leases.get(q1.round_id)).owner == "A"

    await a.sessions.abandon_all()  # replica A dies: nobody renews its lease
    assert await b.sessions.take_over_expired() == []  # not before the lease expired
    clock.now += TTL + 1  # past the lease and past question 1's period
    [taken] = await b.sessions.take_over_expired()
    assert await b.sessions.take_over_expired() == []  # once
    [transport_b] = b.transports
    assert taken.starter_id == "ana"

    # question 1 is revealed where A posted it (its time is over), then B asks question 2
    await asyncio.wait_for(taken.until_settled(), WAIT)
    assert transport_b.kinds() == ["reveal", "question"]
    assert "1 of 2 got it right" in transport_b.log[0][1]
    assert transport_b.log[1] == ("question", "2/3")
    assert transport_a.kinds() == ["question"]  # A posted only question 1
    q2 = b.engine.current(CHAT)
    plan = await b.leases.load_plan(q1.round_id)
    assert q2.index == 1 and q2.question == plan.questions[1] and plan.questions[0] == q1.question
    await b.sessions.answer(CHAT, "ana", "Ana", q2.question.correct_index)
    await b.sessions.answer(CHAT, "ben", "Ben", q2.question.correct_index)  # both who played: early close
    mark = taken.generation
    await asyncio.wait_for(taken.until_settled(mark), WAIT)
    assert transport_b.log[-1] == ("question", "3/3")
    b.timer.time_up()  # nobody answers question 3
    await asyncio.wait_for(taken.task, WAIT)
    assert transport_b.kinds()[-2:] == ["reveal", "summary"]
    summary = transport_b.log[-1][1]
    assert "Ana: 2 of 3 right" in summary and "Ben: 1 of 3 right" in summary
    assert (await b_store.get_round(q1.round_id)).status == "finished"
    assert await b.leases.get(q1.round_id) is None  # released at the end
    ana = await b_store.user_score("fake", CHAT.scope_id, "ana")
    assert (ana.points, ana.answered) == (2, 2)  # nothing lost or counted twice


async def test_a_round_cut_between_questions_goes_on_with_the_next(stores, clock: ManualClock) -> None:
    a_store, b_store, _ = stores
    a, b = Replica(a_store, "A", clock), Replica(b_store, "B", clock)
    a.sessions.config = RoundConfig(open_period_s=PERIOD, reveal_pause_s=5, renew_s=TTL / 3)
    session = await a.sessions.start(CHAT, FakeTransport(), "ana", n=2)
    await asyncio.wait_for(session.until_settled(), WAIT)
    a.timer.time_up()  # question 1's time is up; A pauses before question 2...
    await asyncio.wait_for(a.timer.until_waiting(5), WAIT)
    await a.sessions.abandon_all()  # ...and dies in the pause
    clock.now += TTL + 1
    [taken] = await b.sessions.take_over_expired()
    await asyncio.wait_for(taken.until_settled(), WAIT)
    assert b.transports[0].log == [("question", "2/2")]


async def test_startup_leaves_rounds_another_replica_holds(stores, clock: ManualClock) -> None:
    a_store, b_store, _ = stores
    held = await a_store.start_round("fake", "g1", "g1", 3, "kids")
    cut = await a_store.start_round("fake", "g2", "g2", 3, "kids")
    ours = await a_store.start_round("fake", "g3", "g3", 3, "kids")
    dead = await a_store.start_round("fake", "g4", "g4", 3, "kids")
    expired = await a_store.start_round("fake", "g5", "g5", 3, "kids")
    assert await LeaseStore(a_store, "A", TTL, clock).acquire(held.id)
    assert await LeaseStore(a_store, "B", TTL, clock).acquire(ours.id)  # B's previous life
    gone = await asyncio.create_subprocess_exec("true")
    await gone.wait()  # a process of this host that is gone
    assert await LeaseStore(a_store, f"{socket.gethostname()}-{gone.pid}", TTL, clock).acquire(dead.id)
    clock.now -= TTL + 1
    assert await LeaseStore(a_store, "C", TTL, clock).acquire(expired.id)
    clock.now += TTL + 1
    b_leases = LeaseStore(b_store, "B", TTL, clock)
    assert await b_leases.held_elsewhere() == [held.id, dead.id]  # by the leases alone
    engine = QuizEngine(QuestionGenerator(taxa(), random.Random(7)), b_store)
    closed, _ = await engine.close_cut_rounds(exclude=await b_leases.startup_exclusions())
    assert sorted(r.id for r in closed) == sorted([cut.id, ours.id, dead.id, expired.id])
    assert (await b_store.get_round(held.id)).status == "running"


def test_questions_survive_the_database_and_the_replica_id_has_a_default() -> None:
    for q in QuestionGenerator(taxa(), random.Random(3)).round(5, "kids"):
        assert question_from_json(question_to_json(q)) == q
    assert replica_id(Settings(_env_file=None, replica_id="web-1")) == "web-1"
    assert replica_id(Settings(_env_file=None)).endswith(f"-{os.getpid()}")


async def test_a_stop_that_reaches_another_replica_ends_the_round_on_its_owner(
    stores, clock: ManualClock
) -> None:
    a_store, b_store, _ = stores
    a, b = Replica(a_store, "A", clock), Replica(b_store, "B", clock)
    transport_a = FakeTransport()
    session = await a.sessions.start(CHAT, transport_a, "ana", n=3)
    await asyncio.wait_for(session.until_settled(), WAIT)
    q1 = a.engine.current(CHAT)
    await a.sessions.answer(CHAT, "ben", "Ben", q1.question.correct_index)

    with pytest.raises(StopRefused):  # Ben did not start it and is no admin
        await b.sessions.stop(CHAT, "ben", transport=FakeTransport())
    summary = await b.sessions.stop(CHAT, "ben", transport=FakeTransport(admins=("ben",)))
    assert summary is not None and summary.text.startswith("🛑 Quiz stopped.")
    assert "Ben: 1 of 3 right" in summary.text
    assert await b.sessions.stop(CHAT, "ana") is None  # stopped already

    await a.sessions.renew()  # A notices at its next renewal
    assert session.done and not a.engine.is_running(CHAT) and a.sessions.get(CHAT) is None
    assert transport_a.kinds() == ["question", "stopped"]  # closed where it was posted
    assert await a.leases.get(q1.round_id) is None
    assert (await a_store.get_round(q1.round_id)).status == "stopped"


async def test_answers_stored_by_another_replica_close_the_question_early(stores, clock: ManualClock) -> None:
    a_store, b_store, _ = stores
    a, b = Replica(a_store, "A", clock), Replica(b_store, "B", clock)
    transport = FakeTransport(players=2)
    session = await a.sessions.start(CHAT, transport, "ana", n=1)
    await asyncio.wait_for(session.until_settled(), WAIT)
    posted = session.posted
    for user in ("ana", "ben"):  # e.g. Telegram poll answers delivered to replica B's webhook
        chat, result = await b.sessions.answer_by_message(posted.message_id, user, user.title(), 0)
        assert chat == CHAT and result.accepted
    assert "close_early" not in transport.kinds()
    await a.sessions.renew()  # A sees them at its next renewal
    await asyncio.wait_for(session.task, WAIT)
    assert transport.kinds() == ["question", "close_early", "reveal", "summary"]
