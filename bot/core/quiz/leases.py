"""Round leases (issue 13): a round's timer runs on one replica, which holds the round's lease in the
state database; when that replica dies, another takes the round over within one open period.

* A :class:`~bot.core.quiz.session.RoundSession` acquires its round's lease when it starts
  (:meth:`LeaseStore.start`, which also stores the round's plan: every question, and who started it).
* Its :class:`~bot.core.quiz.session.RoundSessions` renews the leases of its rounds every ``renew_s``
  (``QUIZ_LEASE_RENEW_S``, default 5 s); a lease lives ``ttl_s`` = 3 renewals (15 s). A replica whose
  renewal fails (another took the round) stops driving that round.
* The same periodic task scans for running rounds whose lease expired and takes each over
  (:func:`take_over`): the lease is acquired atomically (``INSERT ... ON CONFLICT DO UPDATE ... WHERE
  owner = me OR expires_at < now``, one statement on SQLite and PostgreSQL, so of two contenders exactly
  one wins), the round is loaded from the database, the question cut open is revealed where it was
  posted once its time has passed (or when it does), and the round goes on with the next question.
  Takeover happens at most ``ttl_s + renew_s`` (20 s) after the owner's last renewal, within one open
  period of the default ``QUIZ_OPEN_PERIOD_S=30``.
* At start-up, rounds cut off by a crash are closed as before, except those whose lease another replica
  still holds and may renew (:meth:`LeaseStore.startup_exclusions`): that replica drives them, or any
  replica takes them over once the lease expired. A round of a process of this host that is gone (the
  default ids), or of our own ``REPLICA_ID``, is closed at start-up as a single bot's after a crash.

The owner is a replica id, ``REPLICA_ID`` (default ``<hostname>-<pid>``, so a restarted process is a new
owner). Lease times are the replicas' clocks (Unix seconds): keep them in sync (NTP); a skew of a few
seconds only shortens or lengthens a takeover by as much.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.core.quiz.engine import ChatRef, RoundAlreadyRunning, RoundSummary, summary_text
from bot.core.quiz.questions import Difficulty, Question, QuestionKind
from bot.core.quiz.session import STOP_NOT_ALLOWED_TEXT, Posted, StopRefused
from bot.state.quiz import INTERRUPTED, RUNNING, STOPPED, AskedQuestion, Round
from bot.state.store import StateStore
from bot.state.tables import answers, questions, round_leases, round_plans, rounds

if TYPE_CHECKING:
    from bot.core.quiz.session import QuizTransport, RoundSession, RoundSessions

log = logging.getLogger(__name__)

#: A lease lives this many renewal intervals.
TTL_RENEWALS = 3


def default_replica_id() -> str:
    """``<hostname>-<pid>``: unique per process, so a restarted process never mistakes a lease of its
    previous life for its own."""
    return f"{socket.gethostname()}-{os.getpid()}"


def replica_id(settings: Any) -> str:
    """``REPLICA_ID`` of ``settings``, or :func:`default_replica_id` when empty."""
    value = str(getattr(settings, "replica_id", "") or "").strip()
    return value or default_replica_id()


@dataclass(frozen=True, slots=True)
class Lease:
    """One row of ``round_leases``: ``owner`` drives round ``round_id`` until ``expires_at`` (Unix s)."""

    round_id: int
    owner: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class RoundPlan:
    """What a round will ask (every question, in order) and who started it (may stop it)."""

    questions: list[Question]
    starter_id: str


def question_to_json(q: Question) -> dict[str, Any]:
    """A question as JSON-able data (see :func:`question_from_json`)."""
    return {
        "kind": q.kind.value, "prompt": q.prompt, "options": list(q.options),
        "correct_index": q.correct_index, "explanation": q.explanation,
        "scientific_name": q.scientific_name, "difficulty": q.difficulty.value,
        "option_keys": list(q.option_keys), "variant": q.variant, "photo_file_id": q.photo_file_id,
    }


def question_from_json(d: dict[str, Any]) -> Question:
    """The question :func:`question_to_json` stored.

    Raises:
        KeyError, ValueError: not a stored question.
    """
    return Question(
        QuestionKind(d["kind"]), str(d["prompt"]), tuple(d["options"]), int(d["correct_index"]),
        str(d["explanation"]), str(d["scientific_name"]), Difficulty(d["difficulty"]),
        tuple(d.get("option_keys") or ()), str(d.get("variant") or ""), d.get("photo_file_id"),
    )


class LeaseStore:
    """The round leases and plans of one replica, in the state database of ``store``.

    Args:
        store: the opened state database (SQLite or PostgreSQL).
        owner: this replica's id (:func:`replica_id`).
        ttl_s: how long an acquired or renewed lease lives, seconds (3 renewal intervals).
        clock: Unix time (tests pass a clock they move).
    """

    def __init__(self, store: StateStore, owner: str, ttl_s: float = 15.0,
                 clock: Callable[[], float] = time.time) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.store = store
        self.owner = str(owner)
        self.ttl_s = float(ttl_s)
        self.clock = clock

    @classmethod
    def from_settings(
        cls, store: StateStore, settings: Any, clock: Callable[[], float] = time.time
    ) -> LeaseStore:
        """The leases of ``REPLICA_ID`` with a ttl of 3 x ``QUIZ_LEASE_RENEW_S``."""
        renew = float(getattr(settings, "quiz_lease_renew_s", 5.0))
        return cls(store, replica_id(settings), TTL_RENEWALS * renew, clock)

    def _insert(self) -> Any:
        return (sqlite_insert if self.store.backend == "sqlite" else pg_insert)(round_leases)

    # -- the lease ---------------------------------------------------------------------------------

    async def acquire(self, round_id: int) -> bool:
        """Take round ``round_id``'s lease for ``ttl_s`` when it is free, expired or already ours, in one
        atomic statement. Returns whether this replica holds it now (of concurrent contenders for an
        expired lease, exactly one gets ``True``).

        Raises:
            sqlalchemy.exc.IntegrityError: no such round.
        """
        now = self.clock()
        expires = now + self.ttl_s
        stmt = self._insert().values(round_id=round_id, owner=self.owner, expires_at=expires, acquired_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[round_leases.c.round_id],
            set_={"owner": self.owner, "expires_at": expires, "acquired_at": now},
            where=or_(round_leases.c.owner == self.owner, round_leases.c.expires_at < now),
        )
        async with self.store.transaction() as db:
            await db.execute(stmt)
            row = (await db.execute(select(round_leases.c.owner, round_leases.c.expires_at)
                                    .where(round_leases.c.round_id == round_id))).first()
        return row is not None and row.owner == self.owner and float(row.expires_at) == expires

    async def renew(self, round_id: int) -> bool:
        """Extend our lease of ``round_id`` by ``ttl_s`` from now; ``False`` when it is not ours (any
        more): another replica took the round over, or it ended."""
        async with self.store.transaction() as db:
            result = await db.execute(
                update(round_leases)
                .where(round_leases.c.round_id == round_id, round_leases.c.owner == self.owner)
                .values(expires_at=self.clock() + self.ttl_s))
        return bool(result.rowcount)

    async def release(self, round_id: int) -> bool:
        """Give our lease of ``round_id`` up (the round ended here); ``False`` when it was not ours."""
        async with self.store.transaction() as db:
            result = await db.execute(delete(round_leases).where(
                round_leases.c.round_id == round_id, round_leases.c.owner == self.owner))
        return bool(result.rowcount)

    async def get(self, round_id: int) -> Lease | None:
        """The lease of ``round_id``, or ``None``."""
        async with self.store.transaction() as db:
            row = (await db.execute(select(round_leases).where(round_leases.c.round_id == round_id))).first()
        return Lease(int(row.round_id), row.owner, float(row.expires_at)) if row else None

    async def expired(self, platform: str) -> list[Round]:
        """Running rounds of ``platform`` whose lease expired (their replica stopped renewing), oldest
        first. Rounds without a lease are left out (they are being started right now)."""
        async with self.store.transaction() as db:
            rows = (await db.execute(
                select(rounds).join(round_leases, round_leases.c.round_id == rounds.c.id)
                .where(rounds.c.status == RUNNING, rounds.c.platform == platform,
                       round_leases.c.expires_at < self.clock())
                .order_by(rounds.c.id))).all()
        return [Round(r.id, r.platform, r.chat_id, r.scope_id, r.started_at, r.ended_at, r.status,
                      r.n_questions, r.difficulty) for r in rows]

    async def held_elsewhere(self) -> list[int]:
        """Ids of running rounds whose lease another replica holds and has not let expire: at start-up
        they are not closed as cut off (see :meth:`bot.core.quiz.engine.QuizEngine.close_cut_rounds`)."""
        async with self.store.transaction() as db:
            rows = (await db.execute(
                select(round_leases.c.round_id).join(rounds, rounds.c.id == round_leases.c.round_id)
                .where(rounds.c.status == RUNNING, round_leases.c.owner != self.owner,
                       round_leases.c.expires_at >= self.clock())
                .order_by(round_leases.c.round_id))).all()
        return [int(r[0]) for r in rows]

    async def startup_exclusions(self) -> list[int]:
        """The running rounds start-up must leave running: those whose lease another replica holds and
        may still renew. Every other running round is closed as cut off, as a single bot does after a
        crash: no lease; an expired lease (taken here first, atomically, so a replica taking the round
        over at this moment keeps it instead); our own ``REPLICA_ID`` (our previous life); or a process
        of this host that no longer exists (the default ids ``<hostname>-<pid>``)."""
        now = self.clock()
        async with self.store.transaction() as db:
            rows = (await db.execute(
                select(round_leases.c.round_id, round_leases.c.owner, round_leases.c.expires_at)
                .join(rounds, rounds.c.id == round_leases.c.round_id)
                .where(rounds.c.status == RUNNING))).all()
        keep: list[int] = []
        for rid, owner, expires in rows:
            if owner == self.owner or _dead_here(owner):
                continue
            if float(expires) < now and await self.acquire(int(rid)):
                continue
            keep.append(int(rid))
        return keep

    # -- the plan ----------------------------------------------------------------------------------

    async def start(self, round_id: int, plan: list[Question], starter_id: str) -> bool:
        """A round starts here: store its plan and acquire its lease. Returns whether the lease is ours."""
        data = json.dumps({"starter": str(starter_id), "questions": [question_to_json(q) for q in plan]},
                          ensure_ascii=False)
        stmt = (sqlite_insert if self.store.backend == "sqlite" else pg_insert)(round_plans).values(
            round_id=round_id, questions=data).on_conflict_do_nothing(index_elements=["round_id"])
        async with self.store.transaction() as db:
            await db.execute(stmt)
        return await self.acquire(round_id)

    async def load_plan(self, round_id: int) -> RoundPlan | None:
        """The plan :meth:`start` stored, or ``None`` (a round started without leases)."""
        async with self.store.transaction() as db:
            value = (await db.execute(select(round_plans.c.questions)
                                      .where(round_plans.c.round_id == round_id))).scalar()
        if value is None:
            return None
        data = json.loads(value)
        return RoundPlan([question_from_json(d) for d in data["questions"]], str(data.get("starter", "")))

    async def last_question(self, round_id: int) -> AskedQuestion | None:
        """The question the round asked last (open or closed), or ``None`` when it asked none."""
        async with self.store.transaction() as db:
            qid = (await db.execute(select(questions.c.id).where(questions.c.round_id == round_id)
                                    .order_by(questions.c.idx.desc()).limit(1))).scalar()
        return await self.store.get_question(int(qid)) if qid is not None else None

    async def answerers(self, question_id: int) -> set[str]:
        """Who answered question ``question_id`` (on any replica)."""
        async with self.store.transaction() as db:
            rows = (await db.execute(select(answers.c.user_id)
                                     .where(answers.c.question_id == question_id))).all()
        return {str(r[0]) for r in rows}

    async def players(self, round_id: int) -> set[str]:
        """Everyone who answered a question of the round (for the early-close rule after a takeover)."""
        async with self.store.transaction() as db:
            rows = (await db.execute(
                select(answers.c.user_id).distinct()
                .join(questions, questions.c.id == answers.c.question_id)
                .where(questions.c.round_id == round_id))).all()
        return {str(r[0]) for r in rows}


def _dead_here(owner: str) -> bool:
    """True when ``owner`` is a default id of this host (``<hostname>-<pid>``) whose process is gone."""
    host, _, pid = owner.rpartition("-")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (another user's process)
    return False


async def stop_elsewhere(
    leases: LeaseStore,
    chat: ChatRef,
    user_id: str | int,
    admin: bool | None = None,
    transport: QuizTransport | None = None,
) -> RoundSummary | None:
    """End ``chat``'s round that another replica drives, for ``user_id`` (``/quiz stop`` reached this
    replica): the starter (from the round's plan) or an admin (``admin``, else ``transport.is_admin``)
    may. Returns the summary, or ``None`` when no round runs there.

    Raises:
        StopRefused: ``user_id`` may not stop it.
    """
    store = leases.store
    rnd = await store.running_round(chat.platform, chat.chat_id)
    if rnd is None:
        return None
    plan = await leases.load_plan(rnd.id)
    allowed = plan is not None and plan.starter_id == str(user_id)
    if not allowed and admin is None and transport is not None:
        try:
            admin = await transport.is_admin(str(user_id))
        except Exception:
            admin = False
    if not (allowed or admin):
        raise StopRefused(STOP_NOT_ALLOWED_TEXT)
    if not await store.finish_round(rnd.id, STOPPED):
        return None
    results = tuple(await store.round_results(rnd.id))
    return RoundSummary(rnd.id, STOPPED, summary_text(results, STOPPED, rnd.n_questions), results)


async def take_over(sessions: RoundSessions) -> list[RoundSession]:
    """Continue every running round of ``sessions.platform`` whose lease expired (see the module
    docstring). Returns the sessions started; a round this replica cannot continue (no plan: started
    by an older version) is closed as ``interrupted``."""
    leases, engine = sessions.leases, sessions.engine
    assert leases is not None and sessions.resume is not None
    taken: list[RoundSession] = []
    for rnd in await leases.expired(sessions.platform):
        chat = ChatRef(rnd.platform, rnd.chat_id, rnd.scope_id)
        if sessions.get(chat) is not None or engine.is_running(chat):
            continue
        if not await leases.acquire(rnd.id):
            continue  # another replica was faster
        plan = await leases.load_plan(rnd.id)
        last = await leases.last_question(rnd.id)
        if plan is None or not plan.questions:
            await _close_unplanned(leases, rnd)
            continue
        transport = sessions.resume(rnd, last)
        if transport is None:
            await leases.release(rnd.id)
            continue
        players = await leases.players(rnd.id)
        try:
            if last is None or last.message_id is None:  # cut before its question was posted: post it
                first = await engine.adopt(chat, rnd, plan.questions, last.index if last else 0,
                                           last.id if last else None, open_=True, message_id=None)
                session = sessions.adopt(first, chat, transport, plan.starter_id)
            elif not last.closed:  # cut while open: reveal it where it was posted when its time is up
                first = await engine.adopt(chat, rnd, plan.questions, last.index, last.id, open_=True,
                                           message_id=last.message_id)
                posted = Posted(str(last.message_id), last.post_message_id, last.thread_id)
                session = sessions.adopt(first, chat, transport, plan.starter_id, posted=posted,
                                         closes_at=last.closes_at)
            else:  # cut between a reveal and the next question
                await engine.adopt(chat, rnd, plan.questions, last.index, last.id, open_=False,
                                   message_id=last.message_id)
                nxt = await engine.next_question(chat)
                if nxt is None:
                    summary = await engine.finish(chat)
                    await leases.release(rnd.id)
                    if summary is not None:
                        await transport.post_text(summary.text, "summary")
                    continue
                session = sessions.adopt(nxt, chat, transport, plan.starter_id)
        except RoundAlreadyRunning:
            continue
        session.players = players
        session.begin()
        taken.append(session)
        log.info("%s: took over a quiz round whose replica stopped renewing its lease", sessions.platform)
    return taken


async def _close_unplanned(leases: LeaseStore, rnd: Round) -> None:
    await leases.store.finish_round(rnd.id, INTERRUPTED)
    await leases.release(rnd.id)
    log.info("%s: closed a quiz round without a plan whose replica stopped renewing", rnd.platform)


__all__ = [
    "TTL_RENEWALS",
    "Lease",
    "LeaseStore",
    "RoundPlan",
    "default_replica_id",
    "question_from_json",
    "question_to_json",
    "replica_id",
    "stop_elsewhere",
    "take_over",
]
