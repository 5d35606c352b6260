"""Round leases and plans in the state database (issue 13): which replica drives a running round
(``round_leases``) and every question the round will ask (``round_plans``, JSON). The takeover that uses
them is core logic, in :mod:`bot.core.quiz.takeover`.

* :meth:`RoundLeases.acquire` takes a lease atomically: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE
  owner = me OR expires_at < now``, one statement on SQLite and PostgreSQL, so of two contenders for an
  expired lease exactly one wins.
* The plan's questions are stored as JSON; this module does not know what a question is:
  :meth:`RoundLeases.encode_question` / :meth:`RoundLeases.decode_question` turn one into JSON-able data
  and back (as given by default; the core's :class:`~bot.core.quiz.takeover.LeaseStore` stores quiz
  questions).

Times are Unix seconds of the replica's clock; owners are replica ids (``REPLICA_ID``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.state.quiz import RUNNING, AskedQuestion, Round
from bot.state.store import StateStore
from bot.state.tables import answers, questions, round_leases, round_plans, rounds

Q = TypeVar("Q")


@dataclass(frozen=True, slots=True)
class Lease:
    """One row of ``round_leases``: ``owner`` drives round ``round_id`` until ``expires_at`` (Unix s)."""

    round_id: int
    owner: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class RoundPlan(Generic[Q]):
    """What a round will ask (every question, in order) and who started it (may stop it)."""

    questions: list[Q]
    starter_id: str


class RoundLeases(Generic[Q]):
    """The round leases and plans of one replica, in the state database of ``store``.

    Args:
        store: the opened state database (SQLite or PostgreSQL).
        owner: this replica's id.
        ttl_s: how long an acquired or renewed lease lives, seconds.
        clock: Unix time (tests pass a clock they move).

    Raises:
        ValueError: ``ttl_s`` is not positive.
    """

    def __init__(self, store: StateStore, owner: str, ttl_s: float = 15.0,
                 clock: Callable[[], float] = time.time) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.store = store
        self.owner = str(owner)
        self.ttl_s = float(ttl_s)
        self.clock = clock

    def encode_question(self, question: Q) -> Any:
        """One question of a plan as JSON-able data (here: as given; subclasses store their own type)."""
        return question

    def decode_question(self, data: Any) -> Q:
        """The question :meth:`encode_question` stored (here: as stored)."""
        return data  # type: ignore[no-any-return]

    def _insert(self, table: Any) -> Any:
        return (sqlite_insert if self.store.backend == "sqlite" else pg_insert)(table)

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
        stmt = self._insert(round_leases).values(round_id=round_id, owner=self.owner, expires_at=expires,
                                                 acquired_at=now)
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

    async def running(self) -> list[Lease]:
        """The leases of all running rounds, whoever holds them and whether expired or not."""
        async with self.store.transaction() as db:
            rows = (await db.execute(
                select(round_leases.c.round_id, round_leases.c.owner, round_leases.c.expires_at)
                .join(rounds, rounds.c.id == round_leases.c.round_id)
                .where(rounds.c.status == RUNNING))).all()
        return [Lease(int(rid), owner, float(expires)) for rid, owner, expires in rows]

    # -- the plan ----------------------------------------------------------------------------------

    async def start(self, round_id: int, plan: Sequence[Q], starter_id: str) -> bool:
        """A round starts here: store its plan (once) and acquire its lease. Returns whether the lease is
        ours.

        Raises:
            sqlalchemy.exc.IntegrityError: no such round.
        """
        data = json.dumps({"starter": str(starter_id),
                           "questions": [self.encode_question(q) for q in plan]}, ensure_ascii=False)
        stmt = self._insert(round_plans).values(round_id=round_id, questions=data).on_conflict_do_nothing(
            index_elements=["round_id"])
        async with self.store.transaction() as db:
            await db.execute(stmt)
        return await self.acquire(round_id)

    async def load_plan(self, round_id: int) -> RoundPlan[Q] | None:
        """The plan :meth:`start` stored, or ``None`` (a round started without leases)."""
        async with self.store.transaction() as db:
            value = (await db.execute(select(round_plans.c.questions)
                                      .where(round_plans.c.round_id == round_id))).scalar()
        if value is None:
            return None
        data = json.loads(value)
        return RoundPlan([self.decode_question(d) for d in data["questions"]], str(data.get("starter", "")))

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


__all__ = ["Lease", "RoundLeases", "RoundPlan"]
