"""The quiz store: rounds, questions, answers and scores in the state database (:mod:`bot.state.db`).

* Rows that decide (a question being answered or closed) are locked with ``SELECT ... FOR UPDATE`` on
  PostgreSQL, so replicas never race each other.
* Points count only when a question closes (issue 15): :meth:`QuizStore.record_answer` stores the
  answer (with its press time and order) and nothing else, so ``/score``, the leaderboard, ``/stats``
  and round results never show an open question's points. Closing the question (reveal, early close,
  the end of its round) *settles* it: in one transaction it is closed and all its answers are added to
  ``scores``; a ``settled`` flag, claimed with a conditional ``UPDATE``, makes that happen exactly once.
  A second answer by the same user to the same question is rejected by ``UNIQUE (question_id, user_id)``.
* A round cut off by a restart is closed at the next start-up, and its open question is **settled**
  (not voided): its answers were given in time, before the stop, so they count, exactly as if the
  question had closed; the adapters then show its answer where it was posted.
* One running round per chat, enforced by a partial unique index.

Ids: ``platform`` is ``"telegram"``, ``"discord"`` or ``"terminal"``; chat, scope (Telegram chat or
Discord server) and user ids are stored as text. Times are Unix seconds (float).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.state.db import Database, completes_when_cancelled
from bot.state.tables import answers, questions, rounds, scores

RUNNING = "running"
FINISHED = "finished"
STOPPED = "stopped"
INTERRUPTED = "interrupted"
ROUND_STATUSES = (RUNNING, FINISHED, STOPPED, INTERRUPTED)

#: Leaderboards show at most this many rows (issue 4: a chat's/server's top 10).
LEADERBOARD_SIZE = 10
#: Points for one right answer.
POINTS_PER_CORRECT = 1


#: Longest display name stored (Telegram first+last names are up to 64+64 characters, Discord
#: display names up to 32).
MAX_DISPLAY_NAME = 128


class RoundAlreadyRunning(Exception):
    """A chat already has a running round (one round per chat at a time)."""


@dataclass(frozen=True, slots=True)
class Round:
    """One row of ``rounds``."""

    id: int
    platform: str
    chat_id: str
    scope_id: str
    started_at: float
    ended_at: float | None
    status: str
    n_questions: int
    difficulty: str


@dataclass(frozen=True, slots=True)
class AskedQuestion:
    """One row of ``questions`` with its round's platform, chat and scope."""

    id: int
    round_id: int
    index: int
    kind: str
    taxon: str
    n_options: int
    correct_index: int
    message_id: str | None
    closes_at: float | None
    closed: bool
    platform: str
    chat_id: str
    scope_id: str
    settled: bool = False
    post_message_id: str | None = None
    thread_id: str | None = None
    answer_text: str = ""
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class CutQuestion:
    """A question that was open when the bot stopped; closed (and settled) at the next start-up.

    ``post_message_id`` is where it was posted (Telegram: the poll's message id in ``chat_id``, in forum
    topic ``thread_id``; Discord: the message id in channel ``chat_id``), ``None`` when it never got
    that far. ``answer_text`` is the right option's text ('' for questions stored before migration 2).
    """

    question_id: int
    round_id: int
    index: int
    total: int
    platform: str
    chat_id: str
    thread_id: str | None
    post_message_id: str | None
    answer_text: str
    explanation: str
    prompt: str
    n_options: int
    correct_index: int


@dataclass(frozen=True, slots=True)
class AnswerResult:
    """What happened to an answer.

    ``accepted`` is False for a second answer by the same user (``reason="duplicate"``), a closed or
    expired question (``"closed"``), an unknown question (``"unknown_question"``) or an option out of
    range (``"bad_option"``); ``correct`` is only meaningful when accepted.
    """

    accepted: bool
    correct: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """A leaderboard line. ``rank`` is 1-based; users with equal points share a rank."""

    rank: int
    user_id: str
    display_name: str
    points: int
    answered: int
    correct: int


@dataclass(frozen=True, slots=True)
class RoundScore:
    """One player's result in one round."""

    user_id: str
    display_name: str
    correct: int
    answered: int



def _clean_name(name: str) -> str:
    name = " ".join(str(name).split())[:MAX_DISPLAY_NAME]
    return name or "Player"


class QuizStore(Database):
    """Quiz rounds, questions, answers, scores and leaderboards."""

    # -- rounds ------------------------------------------------------------------------------------

    @completes_when_cancelled
    async def start_round(
        self, platform: str, chat_id: str | int, scope_id: str | int, n_questions: int, difficulty: str
    ) -> Round:
        """Create a running round for a chat.

        Raises:
            RoundAlreadyRunning: the chat already has a running round.
        """
        now = self._clock()
        try:
            async with self._tx() as db:
                round_id = (await db.execute(
                    insert(rounds).values(platform=platform, chat_id=str(chat_id), scope_id=str(scope_id),
                                          started_at=now, status=RUNNING, n_questions=int(n_questions),
                                          difficulty=str(difficulty)).returning(rounds.c.id)
                )).scalar_one()
        except IntegrityError as exc:
            raise RoundAlreadyRunning(f"{platform} chat already has a running round") from exc
        return Round(round_id, platform, str(chat_id), str(scope_id), now, None, RUNNING,
                     int(n_questions), str(difficulty))

    async def running_round(self, platform: str, chat_id: str | int) -> Round | None:
        """The chat's running round, if any."""
        row = await self._one(select(rounds).where(
            rounds.c.platform == platform, rounds.c.chat_id == str(chat_id), rounds.c.status == RUNNING))
        return _round(row) if row else None

    async def get_round(self, round_id: int) -> Round | None:
        """A round by id."""
        row = await self._one(select(rounds).where(rounds.c.id == round_id))
        return _round(row) if row else None

    @completes_when_cancelled
    async def finish_round(self, round_id: int, status: str = FINISHED) -> bool:
        """End a running round as ``finished`` or ``stopped``, close and settle its questions.

        Returns False when the round was not running (already ended).
        """
        if status not in (FINISHED, STOPPED, INTERRUPTED):
            raise ValueError(f"bad final status: {status!r}")
        now = self._clock()
        async with self._tx() as db:
            changed = (await db.execute(
                update(rounds).where(rounds.c.id == round_id, rounds.c.status == RUNNING)
                .values(status=status, ended_at=now)
            )).rowcount == 1
            await db.execute(update(questions).where(questions.c.round_id == round_id).values(closed=1))
            await _settle(db, now, round_id=round_id)
        return changed

    async def interrupted_rounds_at_startup(self) -> list[Round]:
        """Mark every round still ``running`` (cut off by a restart) as ``interrupted``.

        Call once at start-up, before any new round starts. Returns the rounds so adapters can tell
        those chats, where the platform allows it. See :meth:`close_cut_rounds` for the questions.
        """
        return (await self.close_cut_rounds())[0]

    @completes_when_cancelled
    async def close_cut_rounds(
        self, platforms: tuple[str, ...] | None = None, exclude: Collection[int] = ()
    ) -> tuple[list[Round], list[CutQuestion]]:
        """Close every round still ``running`` (cut off by a restart) as ``interrupted``, in one
        transaction: their open questions are closed and settled (their answers count, see the module
        docstring). Returns the rounds and the questions that were open, oldest first, so the adapters
        can close each question's message where it was posted. Call once at start-up.

        ``platforms``: only rounds of these platforms (``None``: all). ``exclude``: ids of rounds left
        running (another replica still holds their lease, see :mod:`bot.state.leases`).
        """
        now = self._clock()
        running = rounds.c.status == RUNNING
        if platforms is not None:
            running = and_(running, rounds.c.platform.in_(list(platforms)))
        if exclude:
            running = and_(running, rounds.c.id.notin_(list(exclude)))
        async with self._tx() as db:
            rows = list((await db.execute(
                select(rounds).where(running).order_by(rounds.c.id).with_for_update(of=rounds))).all())
            cut_rows = (await db.execute(
                select(questions.c.id, questions.c.round_id, questions.c.idx, rounds.c.n_questions,
                       rounds.c.platform, rounds.c.chat_id, questions.c.thread_id,
                       questions.c.post_message_id, questions.c.answer_text, questions.c.explanation,
                       questions.c.prompt, questions.c.n_options, questions.c.correct_index)
                .join(rounds, rounds.c.id == questions.c.round_id)
                .where(running, questions.c.closed == 0).order_by(questions.c.id)
            )).all()
            cut = [CutQuestion(int(c[0]), int(c[1]), int(c[2]), int(c[3]), c[4], c[5], c[6], c[7],
                               c[8] or "", c[9] or "", c[10] or "", int(c[11]), int(c[12]))
                   for c in cut_rows]
            for rid in [r.id for r in rows]:
                await db.execute(update(rounds).where(rounds.c.id == rid)
                                 .values(status=INTERRUPTED, ended_at=now))
                await db.execute(update(questions).where(questions.c.round_id == rid).values(closed=1))
                await _settle(db, now, round_id=rid)
        result = [
            Round(r.id, r.platform, r.chat_id, r.scope_id, r.started_at, now, INTERRUPTED,
                  r.n_questions, r.difficulty)
            for r in rows
        ]
        return result, cut

    # -- questions and answers ---------------------------------------------------------------------

    @completes_when_cancelled
    async def record_question(
        self,
        round_id: int,
        index: int,
        kind: str,
        taxon: str,
        n_options: int,
        correct_index: int,
        message_id: str | int | None = None,
        closes_at: float | None = None,
        answer_text: str = "",
        explanation: str = "",
        prompt: str = "",
    ) -> int:
        """Store a question asked in a round; returns its id. ``prompt``, ``answer_text`` (the right
        option) and ``explanation`` are what a restart that cuts the question shows."""
        async with self._tx() as db:
            return int((await db.execute(
                insert(questions).values(
                    round_id=round_id, idx=index, kind=str(kind), taxon=taxon, n_options=n_options,
                    correct_index=correct_index, message_id=None if message_id is None else str(message_id),
                    asked_at=self._clock(), closes_at=closes_at, answer_text=str(answer_text),
                    explanation=str(explanation), prompt=str(prompt),
                ).returning(questions.c.id)
            )).scalar_one())

    @completes_when_cancelled
    async def set_question_message(
        self,
        question_id: int,
        message_id: str | int,
        closes_at: float | None = None,
        post_message_id: str | int | None = None,
        thread_id: str | int | None = None,
    ) -> None:
        """Attach the platform's message id (Telegram: the poll id) and closing time to a question,
        and where it was posted (``post_message_id``: Telegram's poll message id, Discord's message id;
        ``thread_id``: a Telegram forum topic), so a restart can close it there."""
        values: dict[str, Any] = {"message_id": str(message_id)}
        if closes_at is not None:
            values["closes_at"] = closes_at
        if post_message_id is not None:
            values["post_message_id"] = str(post_message_id)
        if thread_id is not None:
            values["thread_id"] = str(thread_id)
        async with self._tx() as db:
            await db.execute(update(questions).where(questions.c.id == question_id).values(**values))

    @completes_when_cancelled
    async def close_question(self, question_id: int) -> bool:
        """Stop accepting answers and settle the question: its answers' points are added to the
        scores in the same transaction (once). Returns False when it was already closed."""
        async with self._tx() as db:
            changed = (await db.execute(
                update(questions).where(questions.c.id == question_id, questions.c.closed == 0)
                .values(closed=1)
            )).rowcount == 1
            await _settle(db, self._clock(), question_id=question_id)
            return changed

    async def get_question(self, question_id: int) -> AskedQuestion | None:
        """A question by id."""
        row = await self._one(_question_select().where(questions.c.id == question_id))
        return _asked(row) if row else None

    async def question_by_message(self, platform: str, message_id: str | int) -> AskedQuestion | None:
        """The question posted as ``message_id`` (Telegram poll id, Discord message id) on ``platform``."""
        row = await self._one(
            _question_select().where(questions.c.message_id == str(message_id), rounds.c.platform == platform)
            .order_by(questions.c.id.desc()).limit(1)
        )
        return _asked(row) if row else None

    @completes_when_cancelled
    async def record_answer(
        self, question_id: int, user_id: str | int, display_name: str, option: int
    ) -> AnswerResult:
        """Store a user's answer (option, right or not, press time). Its points reach the scores only
        when the question closes (:meth:`close_question`), so score queries meanwhile see the old score.

        Only the first answer per user per question counts; answers to closed or expired questions,
        or to rounds that are not running, are rejected. The question's row is locked meanwhile
        (PostgreSQL), so an answer can never slip in after the question was settled.
        """
        now = self._clock()
        user = str(user_id)
        name = _clean_name(display_name)
        async with self._tx() as db:
            row = (await db.execute(
                select(questions.c.correct_index, questions.c.n_options, questions.c.closed,
                       questions.c.closes_at, rounds.c.status)
                .join(rounds, rounds.c.id == questions.c.round_id).where(questions.c.id == question_id)
                .with_for_update(of=questions)
            )).first()
            if row is None:
                return AnswerResult(False, reason="unknown_question")
            if row.closed or row.status != RUNNING or (row.closes_at is not None and now > row.closes_at):
                return AnswerResult(False, reason="closed")
            if not 0 <= int(option) < row.n_options:
                return AnswerResult(False, reason="bad_option")
            correct = int(option) == row.correct_index
            stmt = self._insert(answers).values(
                question_id=question_id, user_id=user, display_name=name, option=int(option),
                correct=int(correct), answered_at=now,
            ).on_conflict_do_nothing(index_elements=["question_id", "user_id"])
            if (await db.execute(stmt)).rowcount != 1:
                return AnswerResult(False, reason="duplicate")
        return AnswerResult(True, correct)

    async def answer_count(self, question_id: int) -> int:
        """How many users answered a question."""
        row = await self._one(
            select(func.count()).select_from(answers).where(answers.c.question_id == question_id))
        return int(row[0]) if row else 0

    async def right_count(self, question_id: int) -> int:
        """How many users answered a question correctly."""
        row = await self._one(select(func.count()).select_from(answers).where(
            answers.c.question_id == question_id, answers.c.correct == 1))
        return int(row[0]) if row else 0

    async def round_results(self, round_id: int) -> list[RoundScore]:
        """Players of a round, best first (most right answers, then fewest answers, then name).

        Only settled (closed) questions count: an open question's answers are left out."""
        n_right = func.sum(answers.c.correct).label("n_right")
        n = func.count().label("n")
        name = func.max(answers.c.display_name).label("name")
        rows = await self._all(
            select(answers.c.user_id, name, n_right, n)
            .join(questions, questions.c.id == answers.c.question_id)
            .where(questions.c.round_id == round_id, questions.c.settled == 1)
            .group_by(answers.c.user_id)
            .order_by(n_right.desc(), n.asc(), func.lower(func.max(answers.c.display_name)),
                      answers.c.user_id)
        )
        return [RoundScore(r.user_id, r.name, int(r.n_right), int(r.n)) for r in rows]

    # -- scores ------------------------------------------------------------------------------------

    async def leaderboard(
        self, platform: str, scope_id: str | int, limit: int = LEADERBOARD_SIZE
    ) -> list[ScoreRow]:
        """Top players of a Telegram chat or Discord server: most points, then most right answers.

        Only players with points are listed. ``limit`` is clamped to 1-100. Players with equal points
        share a rank (1, 2, 2, 4...).
        """
        limit = max(1, min(int(limit), 100))
        rows = await self._all(
            _score_select().where(scores.c.platform == platform, scores.c.scope_id == str(scope_id),
                                  scores.c.points > 0)
            .order_by(scores.c.points.desc(), scores.c.correct.desc(), scores.c.answered.asc(),
                      func.lower(scores.c.display_name), scores.c.user_id)
            .limit(limit)
        )
        return [_score(r) for r in rows]

    async def user_score(self, platform: str, scope_id: str | int, user_id: str | int) -> ScoreRow | None:
        """A user's own score and rank in a chat/server, or ``None`` before their first counted answer."""
        row = await self._one(_score_select().where(
            scores.c.platform == platform, scores.c.scope_id == str(scope_id),
            scores.c.user_id == str(user_id)))
        return _score(row) if row else None

    @completes_when_cancelled
    async def forget_user(self, platform: str, user_id: str | int) -> int:
        """Delete a user's scores (every chat/server of ``platform``) and answers. Returns rows deleted."""
        user = str(user_id)
        of_platform = select(questions.c.id).join(rounds, rounds.c.id == questions.c.round_id).where(
            rounds.c.platform == platform)
        async with self._tx() as db:
            n = (await db.execute(delete(scores).where(scores.c.platform == platform,
                                                       scores.c.user_id == user))).rowcount
            n += (await db.execute(delete(answers).where(answers.c.user_id == user,
                                                         answers.c.question_id.in_(of_platform)))).rowcount
            return int(n)


def _question_select() -> Any:
    return select(
        questions.c.id, questions.c.round_id, questions.c.idx, questions.c.kind, questions.c.taxon,
        questions.c.n_options, questions.c.correct_index, questions.c.message_id, questions.c.closes_at,
        questions.c.closed, rounds.c.platform, rounds.c.chat_id, rounds.c.scope_id, questions.c.settled,
        questions.c.post_message_id, questions.c.thread_id, questions.c.answer_text,
        questions.c.explanation,
    ).join(rounds, rounds.c.id == questions.c.round_id)


def _score_select() -> Any:
    """A score row with its shared rank (1 + the number of players with more points in its scope)."""
    better = scores.alias("better")
    rank = (select(func.count()).where(better.c.platform == scores.c.platform,
                                       better.c.scope_id == scores.c.scope_id,
                                       better.c.points > scores.c.points)
            .scalar_subquery() + 1).label("rank")
    return select(scores.c.user_id, scores.c.display_name, scores.c.points, scores.c.answered,
                  scores.c.correct, rank)


async def _settle(
    db: AsyncConnection, now: float, *, round_id: int | None = None, question_id: int | None = None
) -> None:
    """Inside a write transaction: add the answers of the closed, unsettled questions of a round (or
    one question) to ``scores``, in answer order, and mark those questions settled. Each question is
    claimed with a conditional UPDATE first, so settling twice (or from two replicas) adds nothing."""
    qids = (await db.execute(
        select(questions.c.id).where(questions.c.closed == 1, questions.c.settled == 0,
                                     or_(questions.c.round_id == round_id, questions.c.id == question_id))
        .order_by(questions.c.id)
    )).scalars().all()
    sqlite = db.dialect.name == "sqlite"
    for qid in qids:
        claimed = (await db.execute(
            update(questions).where(questions.c.id == qid, questions.c.settled == 0).values(settled=1)
        )).rowcount == 1
        if not claimed:
            continue
        rows = (await db.execute(
            select(rounds.c.platform, rounds.c.scope_id, answers.c.user_id, answers.c.display_name,
                   answers.c.correct)
            .join(questions, questions.c.id == answers.c.question_id)
            .join(rounds, rounds.c.id == questions.c.round_id)
            .where(answers.c.question_id == qid).order_by(answers.c.id)
        )).all()
        for r in rows:
            stmt = (sqlite_insert(scores) if sqlite else pg_insert(scores)).values(
                platform=r.platform, scope_id=r.scope_id, user_id=r.user_id, display_name=r.display_name,
                points=POINTS_PER_CORRECT * int(r.correct), answered=1, correct=int(r.correct),
                updated_at=now,
            )
            await db.execute(stmt.on_conflict_do_update(
                index_elements=["platform", "scope_id", "user_id"],
                set_={"display_name": stmt.excluded.display_name,
                      "points": scores.c.points + stmt.excluded.points,
                      "answered": scores.c.answered + 1,
                      "correct": scores.c.correct + stmt.excluded.correct,
                      "updated_at": stmt.excluded.updated_at},
            ))


def _round(r: Any) -> Round:
    return Round(r.id, r.platform, r.chat_id, r.scope_id, r.started_at, r.ended_at, r.status, r.n_questions,
                 r.difficulty)


def _asked(r: Any) -> AskedQuestion:
    return AskedQuestion(r.id, r.round_id, r.idx, r.kind, r.taxon, r.n_options, r.correct_index,
                         r.message_id, r.closes_at, bool(r.closed), r.platform, r.chat_id, r.scope_id,
                         bool(r.settled), r.post_message_id, r.thread_id, r.answer_text or "",
                         r.explanation or "")


def _score(r: Any) -> ScoreRow:
    return ScoreRow(int(r.rank), r.user_id, r.display_name, int(r.points), int(r.answered), int(r.correct))
