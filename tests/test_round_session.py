"""The round lifecycle, once for every platform: :class:`bot.core.quiz.session.RoundSession` with a fake
transport and a test-driven clock (:class:`tests.quiz_clock.QuestionClock`). The platform tests only
check their transport's contract (a poll / an embed posted, the reveal shown where it belongs)."""

from __future__ import annotations

import asyncio
import random

import pytest

from bot.core.quiz import session as session_mod
from bot.core.quiz.engine import (
    INTERRUPTED_TEXT,
    ChatRef,
    QuizEngine,
    Reveal,
    RoundAlreadyRunning,
    RoundQuestion,
)
from bot.core.quiz.questions import Difficulty, QuestionGenerator
from bot.core.quiz.session import (
    QUIZ_BROKEN_TEXT,
    Posted,
    QuizRequest,
    RealTimer,
    RoundConfig,
    RoundSessions,
    StopRefused,
    announce_restart,
    parse_quiz_args,
    round_config,
)
from bot.settings import Settings
from bot.state.quiz import CutQuestion
from bot.state.store import StateStore
from tests.quiz_clock import QuestionClock
from tests.test_quiz_fixtures import taxa

GROUP = ChatRef("fake", "group-1")
WAIT = 30.0  # hang guard only


class FakeTransport:
    """Records what the round posts, as a user would see it, in order."""

    def __init__(self, players: int | None = None, admins: tuple[str, ...] = ()) -> None:
        self.players = players
        self.admins = admins
        self.log: list[tuple[str, str]] = []
        self.posted = asyncio.Event()
        self.fail_posting = False

    def known_players(self) -> int | None:
        return self.players

    async def post_question(self, rq: RoundQuestion, closes_at: float | None) -> Posted:
        if self.fail_posting:
            raise RuntimeError("the platform is down")
        self.log.append(("question", f"{rq.number}/{rq.total}"))
        self.posted.set()
        return Posted(f"m{rq.round_id}-{rq.number}", f"post-{rq.number}")

    async def close_early(self, rq: RoundQuestion, posted: Posted) -> None:
        self.log.append(("close_early", str(rq.number)))

    async def show_reveal(self, rq: RoundQuestion, posted: Posted, reveal: Reveal) -> None:
        self.log.append(("reveal", reveal.text))

    async def show_stopped(self, rq: RoundQuestion, posted: Posted) -> None:
        self.log.append(("stopped", str(rq.number)))

    async def post_text(self, text: str, kind: str) -> None:
        self.log.append((kind, text))

    async def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def kinds(self) -> list[str]:
        return [k for k, _ in self.log]


@pytest.fixture
def engine(store: StateStore) -> QuizEngine:
    return QuizEngine(QuestionGenerator(taxa(), random.Random(7)), store)


@pytest.fixture
def clock() -> QuestionClock:
    return QuestionClock()


@pytest.fixture
def sessions(engine: QuizEngine, clock: QuestionClock) -> RoundSessions:
    config = RoundConfig(open_period_s=600, reveal_pause_s=0)
    return RoundSessions(engine, GROUP.platform, config, timer=clock)


async def _settled(session, since: int | None = None) -> None:
    """Until the round waits for answers (after ``since``) or ended (an event, with a hang guard)."""
    await asyncio.wait_for(session.until_settled(since), WAIT)


def _wrong(rq: RoundQuestion) -> int:
    return (rq.question.correct_index + 1) % len(rq.question.options)


async def test_a_group_round_scores_closes_early_from_question_two_and_summarises(
    sessions: RoundSessions, engine: QuizEngine, clock: QuestionClock
) -> None:
    transport = FakeTransport()
    session = await sessions.start(GROUP, transport, "ana", n=2, intro=lambda rq: f"{rq.total} questions")
    await _settled(session)
    assert transport.log == [("intro", "2 questions"), ("question", "1/2")]

    q1 = engine.current(GROUP)
    assert (await sessions.answer(GROUP, "ana", "Ana", q1.question.correct_index)).accepted
    assert (await sessions.answer(GROUP, "ben", "Ben", _wrong(q1))).accepted
    assert not (await sessions.answer(GROUP, "ana", "Ana", _wrong(q1))).accepted  # first answer counts
    assert "reveal" not in transport.kinds()  # question 1: nobody is known to play, only time closes it
    mark = session.generation
    clock.time_up()
    await _settled(session, mark)
    assert transport.kinds()[2:] == ["reveal", "question"]
    assert "1 of 2 got it right" in transport.log[2][1]

    q2 = engine.current(GROUP)
    await sessions.answer(GROUP, "ana", "Ana", q2.question.correct_index)
    assert "close_early" not in transport.kinds()  # Ben has not answered yet
    await sessions.answer(GROUP, "ben", "Ben", q2.question.correct_index)  # everyone who played: early
    await asyncio.wait_for(session.task, WAIT)
    assert transport.kinds()[4:] == ["close_early", "reveal", "summary"]
    summary = transport.log[-1][1]
    assert "🥇 Ana: 2 of 2 right" in summary and "🥈 Ben: 1 of 2 right" in summary
    assert not engine.is_running(GROUP) and sessions.get(GROUP) is None


async def test_a_private_round_closes_on_the_single_answer(
    sessions: RoundSessions, engine: QuizEngine
) -> None:
    transport = FakeTransport(players=1)
    session = await sessions.start(GROUP, transport, "kid", n=1)
    await _settled(session)
    rq = engine.current(GROUP)
    await sessions.answer(GROUP, "kid", "Kid", rq.question.correct_index)
    await asyncio.wait_for(session.task, WAIT)
    assert transport.kinds() == ["question", "close_early", "reveal", "summary"]
    assert "You got it right!" in transport.log[2][1]


async def test_the_reveal_pause_comes_between_the_reveal_and_the_next_question(
    engine: QuizEngine, clock: QuestionClock
) -> None:
    sessions = RoundSessions(engine, "fake", RoundConfig(open_period_s=600, reveal_pause_s=3), timer=clock)
    transport = FakeTransport(players=1)
    session = await sessions.start(GROUP, transport, "kid", n=2)
    await _settled(session)
    await sessions.answer(GROUP, "kid", "Kid", 0)
    mark = session.generation
    await asyncio.wait_for(clock.until_waiting(3), WAIT)  # the round pauses
    assert transport.kinds() == ["question", "close_early", "reveal"]  # pausing: no question 2 yet
    clock.time_up()  # the pause is over
    await _settled(session, mark)
    assert transport.kinds()[-1] == "question"
    await session.shutdown()


async def test_only_the_starter_or_an_admin_may_stop(sessions: RoundSessions, engine: QuizEngine) -> None:
    transport = FakeTransport(admins=("teacher",))
    session = await sessions.start(GROUP, transport, "ana", n=3)
    await _settled(session)
    rq = engine.current(GROUP)
    await sessions.answer(GROUP, "ben", "Ben", rq.question.correct_index)
    with pytest.raises(StopRefused):
        await sessions.stop(GROUP, "ben")
    assert engine.is_running(GROUP) and not session.done
    summary = await sessions.stop(GROUP, "teacher")
    assert summary is not None and summary.text.startswith("🛑 Quiz stopped.")
    assert "Ben: 1 of 3 right" in summary.text  # points won before the stop are kept
    assert transport.kinds() == ["question", "stopped"]  # the open question closed where it was posted
    assert session.done and not engine.is_running(GROUP)
    assert await sessions.stop(GROUP, "ana") is None  # nothing runs any more
    late = await sessions.answer(GROUP, "ana", "Ana", rq.question.correct_index)
    assert not late.accepted  # an answer after the stop does not count
    assert (await engine.store.user_score("fake", GROUP.scope_id, "ana")) is None

    again = await sessions.start(GROUP, FakeTransport(), "ana", n=1)
    await _settled(again)
    assert (await sessions.stop(GROUP, "ana")) is not None  # the starter may


async def test_one_round_per_chat(sessions: RoundSessions, engine: QuizEngine) -> None:
    transport = FakeTransport()
    session = await sessions.start(GROUP, transport, "ana", n=3)
    await _settled(session)
    second = FakeTransport()
    with pytest.raises(RoundAlreadyRunning):
        await sessions.start(GROUP, second, "ben", n=1)
    assert second.log == []  # nothing posted for the refused round
    assert sessions.get(GROUP) is session and not session.done  # the first round goes on
    assert engine.current(GROUP).total == 3 and transport.kinds() == ["question"]
    other = ChatRef("fake", "group-2")
    elsewhere = await sessions.start(other, FakeTransport(), "ben", n=1)  # another chat may play
    await _settled(elsewhere)
    await sessions.shutdown()


async def test_the_real_timer_closes_a_question_nobody_answered(engine: QuizEngine) -> None:
    config = RoundConfig(open_period_s=0.01, grace_s=0.0, reveal_pause_s=0.0)
    sessions = RoundSessions(engine, GROUP.platform, config, timer=RealTimer())
    transport = FakeTransport()
    session = await sessions.start(GROUP, transport, "ana", n=1)
    await asyncio.wait_for(session.task, WAIT)
    assert transport.kinds() == ["question", "reveal", "summary"]  # closed by time, not early
    assert "Nobody answered this one." in transport.log[1][1]
    assert not engine.is_running(GROUP)


class OvertakenTransport(FakeTransport):
    """Speedy's right answer reaches ``receiver`` while the question is still being posted: the post
    returns only once ``missed`` is set (the receiver looked the message up and did not find it)."""

    def __init__(self, receiver: RoundSessions, missed: asyncio.Event, players: int | None = None) -> None:
        super().__init__(players=players)
        self.receiver = receiver
        self.missed = missed
        self.answers: list[asyncio.Task] = []

    async def post_question(self, rq: RoundQuestion, closes_at: float | None) -> Posted:
        posted = await super().post_question(rq, closes_at)
        self.answers.append(asyncio.create_task(self.receiver.answer_by_message(
            posted.message_id, "speedy", "Speedy", rq.question.correct_index)))
        await asyncio.wait_for(self.missed.wait(), WAIT)  # the answer arrived before the registration
        return posted


def _on_unknown_message(engine: QuizEngine, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """An event set once ``engine.answer_by_message`` found no question for the message."""
    missed = asyncio.Event()
    real = engine.answer_by_message

    async def answer_by_message(*args, **kwargs):
        result = await real(*args, **kwargs)
        if result[0] is None:
            missed.set()
        return result

    monkeypatch.setattr(engine, "answer_by_message", answer_by_message)
    return missed


async def test_an_answer_that_overtakes_the_registration_of_its_question_counts(
    sessions: RoundSessions, engine: QuizEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram can deliver a fast poll answer before the bot has read sendPoll's response: the answer
    names a message the engine does not know yet, waits for the registration and then counts."""
    monkeypatch.setattr(session_mod, "REGISTRATION_WAIT_S", WAIT)  # hang guard; the event ends it
    missed = _on_unknown_message(engine, monkeypatch)  # the first try: not registered yet
    transport = OvertakenTransport(sessions, missed, players=1)
    session = await sessions.start(GROUP, transport, "speedy", n=1)
    await asyncio.wait_for(session.task, WAIT)
    chat, result = await transport.answers[0]
    assert chat == GROUP and result.accepted and result.correct
    assert transport.kinds() == ["question", "close_early", "reveal", "summary"]
    assert "Speedy: 1 of 1 right" in transport.log[-1][1]


async def test_shutdown_mid_round_cancels_drains_and_tells_the_chat(
    sessions: RoundSessions, engine: QuizEngine, store: StateStore
) -> None:
    transport = FakeTransport()
    session = await sessions.start(GROUP, transport, "ana", n=5)
    await _settled(session)
    rq = engine.current(GROUP)
    await sessions.answer(GROUP, "ben", "Ben", rq.question.correct_index)
    await sessions.shutdown()
    assert session.done and not engine.is_running(GROUP)
    assert transport.log == [("question", "1/5"), ("stopped", "1"), ("interrupted", INTERRUPTED_TEXT)]
    assert (await store.get_round(rq.round_id)).status == "stopped"
    score = await store.user_score("fake", GROUP.scope_id, "ben")
    assert score is not None and score.points == 1  # the answer before the shutdown counts
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("quiz-fake-")]


async def test_a_failing_platform_ends_the_round_politely(
    sessions: RoundSessions, engine: QuizEngine
) -> None:
    transport = FakeTransport()
    transport.fail_posting = True
    session = await sessions.start(GROUP, transport, "ana", n=2)
    await asyncio.wait_for(session.task, WAIT)
    assert transport.log == [("error", QUIZ_BROKEN_TEXT)]
    assert not engine.is_running(GROUP)


async def test_a_restart_is_announced_once(state_target) -> None:
    store = await StateStore.open(state_target)
    try:
        cut_round = await store.start_round("fake", "group-1", "group-1", 3, "kids")
        await store.record_question(cut_round.id, 0, "diet", "Iguana iguana", 3, 1, answer_text="Plants",
                                    explanation="", prompt="What does it eat?")
        await store.start_round("other", "x", "x", 3, "kids")
    finally:
        await store.close()
    store = await StateStore.open(state_target)
    try:
        engine = QuizEngine(QuestionGenerator(taxa(), random.Random(7)), store)
        await engine.close_cut_rounds()
        closed: list[CutQuestion] = []
        told: list[str] = []

        async def close_cut(q: CutQuestion) -> None:
            closed.append(q)

        async def tell(chat_id: str) -> None:
            told.append(chat_id)

        assert await announce_restart(engine, "fake", close_cut, tell) == (1, 1, 1, 1)
        assert [q.answer_text for q in closed] == ["Plants"] and told == ["group-1"]
        assert await announce_restart(engine, "fake", close_cut, tell) == (0, 0, 0, 0)  # once
        assert told == ["group-1"]
        assert [r.platform for r in engine.pending_restart_notices("other")[0]] == ["other"]  # left
        sessions = RoundSessions(engine, "fake", RoundConfig(open_period_s=600, reveal_pause_s=0),
                                 timer=QuestionClock())
        again = await sessions.start(GROUP, FakeTransport(), "ana", n=1)  # the chat can play again
        await _settled(again)
        await sessions.shutdown()
    finally:
        await store.close()


async def test_a_restart_notice_that_fails_is_counted_and_not_repeated(state_target) -> None:
    store = await StateStore.open(state_target)
    try:
        await store.start_round("fake", "group-1", "group-1", 3, "kids")
    finally:
        await store.close()
    store = await StateStore.open(state_target)
    try:
        engine = QuizEngine(QuestionGenerator(taxa(), random.Random(7)), store)
        await engine.close_cut_rounds()
        tries: list[str] = []

        async def close_cut(q: CutQuestion) -> None:
            raise AssertionError("no question was cut")

        async def tell(chat_id: str) -> None:
            tries.append(chat_id)
            raise PermissionError("the bot may not post here")

        assert await announce_restart(engine, "fake", close_cut, tell, errors=(PermissionError,)) == \
            (0, 0, 0, 1)  # tried, failed, counted: not raised
        assert await announce_restart(engine, "fake", close_cut, tell) == (0, 0, 0, 0)  # not again
        assert tries == ["group-1"]
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", QuizRequest()),
        ("3", QuizRequest(n=3)),
        ("expert 10", QuizRequest(n=10, difficulty=Difficulty.EXPERT)),
        ("10 Kids", QuizRequest(n=10, difficulty=Difficulty.KIDS)),
        ("0", QuizRequest(n=1)),
        ("99", QuizRequest(n=20)),
        ("stop", QuizRequest(stop=True)),
        ("banana", None),
        ("3 4", None),
        ("stop 3", None),
    ],
)
def test_one_quiz_parser(args: str, expected: QuizRequest | None) -> None:
    assert parse_quiz_args(args) == expected == parse_quiz_args(args.split())


def test_round_config_comes_from_the_settings() -> None:
    settings = Settings(_env_file=None, quiz_open_period_s=45, quiz_reveal_pause_s=1.5)
    config = round_config(settings)
    assert (config.open_period_s, config.reveal_pause_s) == (45.0, 1.5)
    turns = round_config(settings, turns=True)
    assert (turns.open_period_s, turns.reveal_pause_s) == (None, 0.0)


async def test_an_answer_reaching_another_replica_before_the_question_is_registered_counts(
    store: StateStore, sessions: RoundSessions, clock: QuestionClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Webhook replicas: a fast poll answer reaches replica B while replica A, which runs the round, has
    not yet stored the poll it just posted. B finds no such question, looks again in the shared
    database, and the answer counts."""
    monkeypatch.setattr(session_mod, "REGISTRATION_WAIT_S", WAIT)  # hang guard; the row ends it
    other = QuizEngine(QuestionGenerator(taxa(), random.Random(7)), store)  # replica B, same database
    replica_b = RoundSessions(other, GROUP.platform, RoundConfig(open_period_s=600, reveal_pause_s=0),
                              timer=QuestionClock())
    missed = _on_unknown_message(other, monkeypatch)  # B looked before A stored the question
    transport = OvertakenTransport(replica_b, missed)
    session = await sessions.start(GROUP, transport, "ana", n=1)
    await asyncio.wait_for(transport.posted.wait(), WAIT)
    chat, result = await asyncio.wait_for(transport.answers[0], WAIT)
    assert chat == GROUP and result.accepted and result.correct
    await _settled(session)
    clock.time_up()
    await asyncio.wait_for(session.task, WAIT)
    assert "Speedy: 1 of 1 right" in transport.log[-1][1]
