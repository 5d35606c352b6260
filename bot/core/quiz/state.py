"""The state database: quiz rounds, answers, scores, the identification log and the Telegram updates
already handled. Separate from the read-only ``species.sqlite``.

One data layer for two back ends (issue 13): SQLAlchemy 2 Core (async) over aiosqlite or asyncpg, with
the schema created and upgraded by Alembic (``bot/core/quiz/migrations``, table definitions in
:mod:`bot.core.quiz.tables`). The URL comes from ``STATE_DB_URL``: ``sqlite:///state.sqlite`` (the
default; ``STATE_DB_PATH`` still names the file) or ``postgresql://user@host/db`` for several replicas.

* SQLite: one connection, WAL (``journal_mode=WAL``, ``synchronous=NORMAL``: durable across application
  crashes; a power cut may lose the last transactions but never corrupts the file), foreign keys on,
  5 s busy timeout; writes in ``BEGIN IMMEDIATE`` transactions behind one :class:`asyncio.Lock`. A file
  made before Alembic (its schema number in ``PRAGMA user_version``) is stamped with the matching
  revision and upgraded. See https://www.sqlite.org/wal.html.
* PostgreSQL: a small connection pool; rows that decide (a question being answered or closed) are
  locked with ``SELECT ... FOR UPDATE``, so replicas never race each other.
* Every statement is built by SQLAlchemy with bound parameters.
* Points count only when a question closes (issue 15): :meth:`StateStore.record_answer` stores the
  answer (with its press time and order) and nothing else, so ``/score``, the leaderboard, ``/stats``
  and round results never show an open question's points. Closing the question (reveal, early close,
  the end of its round) *settles* it: in one transaction it is closed and all its answers are added to
  ``scores``; a ``settled`` flag, claimed with a conditional ``UPDATE``, makes that happen exactly once.
  A second answer by the same user to the same question is rejected by ``UNIQUE (question_id, user_id)``.
* A round cut off by a restart is closed at the next start-up, and its open question is **settled**
  (not voided): its answers were given in time, before the stop, so they count, exactly as if the
  question had closed; the adapters then show its answer where it was posted.
* One running round per chat, enforced by a partial unique index.
* The identification log keeps no photo and no raw chat id: only a salted SHA-256 of the chat id.

Ids: ``platform`` is ``"telegram"``, ``"discord"`` or ``"terminal"``; chat, scope (Telegram chat or
Discord server) and user ids are stored as text. Times are Unix seconds (float).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, and_, case, delete, event, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from bot.core.quiz.tables import answers, identifications, meta, processed_updates, questions, rounds, scores

RUNNING = "running"
FINISHED = "finished"
STOPPED = "stopped"
INTERRUPTED = "interrupted"
ROUND_STATUSES = (RUNNING, FINISHED, STOPPED, INTERRUPTED)

#: Leaderboards show at most this many rows (issue 4: a chat's/server's top 10).
LEADERBOARD_SIZE = 10
#: Points for one right answer.
POINTS_PER_CORRECT = 1

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The Alembic revisions, oldest first; revision ``MIGRATIONS[n - 1]`` is schema ``n`` (the number the
#: SQLite files made before Alembic kept in ``PRAGMA user_version``).
MIGRATIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004")
#: Handled Telegram updates are remembered this long (seconds); Telegram re-delivers for about a day.
PROCESSED_UPDATES_KEEP_S = 2 * 24 * 3600


@dataclass(frozen=True, slots=True)
class UsageStats:
    """Aggregate usage for admins: identification and quiz counts, never ids or photos."""

    identifications: int
    identifications_recent: int
    chats: int
    top_taxa: tuple[tuple[str, int], ...]
    rounds: int
    rounds_running: int
    players: int


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


_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])


def _completes_when_cancelled(method: _F) -> _F:
    """Run a write method in a task of its own: when the caller is cancelled, the write (its whole
    transaction) still runs to its end, then the cancellation is re-raised. A transaction cut in the
    middle of a statement could leave the shared SQLite connection locked."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await _shielded(method(*args, **kwargs))

    return wrapper  # type: ignore[return-value]


async def _shielded(awaitable: Any) -> Any:
    """Await ``awaitable`` to completion even if the caller is cancelled meanwhile (then re-raise)."""
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


def _clean_name(name: str) -> str:
    name = " ".join(str(name).split())[:MAX_DISPLAY_NAME]
    return name or "Player"


def state_db_url(value: str | Path) -> str:
    """A SQLAlchemy async URL for ``value``: a file path (SQLite), ``":memory:"``, ``sqlite:///FILE`` or
    ``postgresql://...`` (also ``postgres://``); the driver (aiosqlite, asyncpg) is filled in.

    Raises:
        ValueError: for any other URL scheme.
    """
    text = str(value)
    if text == ":memory:":
        return "sqlite+aiosqlite://"
    if "://" not in text:
        return f"sqlite+aiosqlite:///{text}"
    if text.startswith("postgres://"):
        text = "postgresql://" + text[len("postgres://"):]
    url = make_url(text)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"STATE_DB_URL must be sqlite:///FILE or postgresql://..., not {backend!r}")


def redacted_url(url: str) -> str:
    """``url`` with its password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)


class StateStore:
    """Async access to the state database. Create with :meth:`open`, release with :meth:`close`.

    Args (of :meth:`open`):
        target: a SQLite file path, ``":memory:"``, or a URL (see :func:`state_db_url`).
        salt: secret bytes for hashing chat ids in the identification log. When ``None``, a random
            32-byte salt is created once and kept in the database's ``meta`` table.
        clock: returns the current Unix time (tests pass a fake clock).
    """

    def __init__(self, engine: AsyncEngine, salt: bytes, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._salt = salt
        self._clock = clock
        self._sqlite = engine.dialect.name == "sqlite"
        #: SQLite has one connection: transactions on it must not interleave.
        self._lock = asyncio.Lock() if self._sqlite else contextlib.nullcontext()

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @classmethod
    async def open(
        cls,
        target: Path | str,
        salt: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> StateStore:
        """Open (creating if needed) and migrate the state database.

        Raises:
            RuntimeError: the database's schema is newer than this program.
            ValueError: an unsupported URL.
            OSError, sqlalchemy.exc.DBAPIError: the database cannot be reached.
        """
        url = state_db_url(target)
        engine = _engine(url)
        try:
            async with engine.connect() as conn:
                await conn.run_sync(migrate)
            if salt is None:
                salt = await _stored_salt(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, salt, clock)

    async def close(self) -> None:
        """Close every connection (SQLite checkpoints the WAL)."""
        await self._engine.dispose()

    async def ping(self) -> bool:
        """True when the database answers a trivial query (for ``/readyz``); never raises."""
        try:
            async with self._lock, self._engine.connect() as conn:
                await asyncio.wait_for(conn.execute(select(1)), 5.0)
            return True
        except Exception:
            return False

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction (SQLite: ``BEGIN IMMEDIATE``). The commit or rollback finishes even
        when the caller is cancelled, so a cancelled task never leaves a connection inside an open
        transaction."""
        async with self._lock:
            task = asyncio.ensure_future(self._begin())
            try:
                conn = await asyncio.shield(task)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    late = await task
                    await late.rollback()
                    await late.close()
                raise
            try:
                try:
                    yield conn
                except BaseException:
                    await _shielded(conn.rollback())
                    raise
                await _shielded(conn.commit())
            finally:
                await _shielded(conn.close())

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """One write transaction, as the store's own (for the modules beside it: round leases)."""
        return self._tx()

    async def _begin(self) -> AsyncConnection:
        conn = await self._engine.connect()
        try:
            await conn.begin()
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _one(self, stmt: Any) -> Any:
        async with self._lock, self._engine.connect() as conn:
            return (await conn.execute(stmt)).first()

    async def _all(self, stmt: Any) -> list[Any]:
        async with self._lock, self._engine.connect() as conn:
            return list((await conn.execute(stmt)).all())

    def _insert(self, table: Any) -> Any:
        return sqlite_insert(table) if self._sqlite else pg_insert(table)

    # -- information -------------------------------------------------------------------------------

    async def journal_mode(self) -> str:
        """The SQLite journal mode in use (``"wal"`` for a file database); ``""`` on PostgreSQL."""
        if not self._sqlite:
            return ""
        async with self._lock, self._engine.connect() as conn:
            row = (await conn.exec_driver_sql("PRAGMA journal_mode")).first()
        return str(row[0]).lower() if row else ""

    async def schema_version(self) -> int:
        """The number of migrations applied (the Alembic revision's position in :data:`MIGRATIONS`)."""
        async with self._lock, self._engine.connect() as conn:
            revision = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        return MIGRATIONS.index(revision) + 1 if revision in MIGRATIONS else 0

    # -- rounds ------------------------------------------------------------------------------------

    @_completes_when_cancelled
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

    @_completes_when_cancelled
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

    @_completes_when_cancelled
    async def close_cut_rounds(
        self, platforms: tuple[str, ...] | None = None, exclude: Collection[int] = ()
    ) -> tuple[list[Round], list[CutQuestion]]:
        """Close every round still ``running`` (cut off by a restart) as ``interrupted``, in one
        transaction: their open questions are closed and settled (their answers count, see the module
        docstring). Returns the rounds and the questions that were open, oldest first, so the adapters
        can close each question's message where it was posted. Call once at start-up.

        ``platforms``: only rounds of these platforms (``None``: all). ``exclude``: ids of rounds left
        running (another replica still holds their lease, see :mod:`bot.core.quiz.leases`).
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

    @_completes_when_cancelled
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

    @_completes_when_cancelled
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

    @_completes_when_cancelled
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

    @_completes_when_cancelled
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

    @_completes_when_cancelled
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

    # -- Telegram updates (webhook de-duplication) ---------------------------------------------------

    @_completes_when_cancelled
    async def claim_update(self, bot_id: str | int, update_id: int) -> bool:
        """Record that Telegram update ``update_id`` of bot ``bot_id`` is being handled. Returns False
        when it was already claimed (by this or another replica): a re-delivery, to be skipped.

        Claims older than :data:`PROCESSED_UPDATES_KEEP_S` are forgotten now and then.
        """
        now = self._clock()
        async with self._tx() as db:
            stmt = self._insert(processed_updates).values(
                bot_id=str(bot_id), update_id=int(update_id), received_at=now
            ).on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
            claimed = (await db.execute(stmt)).rowcount == 1
            if claimed and int(update_id) % 1000 == 0:
                await db.execute(delete(processed_updates).where(
                    processed_updates.c.received_at < now - PROCESSED_UPDATES_KEEP_S))
            return claimed

    # -- identification log ------------------------------------------------------------------------

    def chat_hash(self, platform: str, chat_id: str | int) -> str:
        """Salted SHA-256 (hex) of a chat id: lets us count chats without storing their ids."""
        data = self._salt + b"\x00" + platform.encode() + b"\x00" + str(chat_id).encode()
        return hashlib.sha256(data).hexdigest()

    @_completes_when_cancelled
    async def log_identification(
        self, platform: str, chat_id: str | int, scientific_name: str, confidence: float
    ) -> None:
        """Log one identification: platform, hashed chat id, taxon, confidence in [0, 1], time.

        No photo, no file id, no user id and no raw chat id are stored.
        """
        conf = min(1.0, max(0.0, float(confidence)))
        async with self._tx() as db:
            await db.execute(insert(identifications).values(
                platform=platform, chat_hash=self.chat_hash(platform, chat_id), taxon=scientific_name,
                confidence=conf, created_at=self._clock()))

    async def usage_stats(self, since: float) -> UsageStats:
        """Aggregate counts for the admin ``/stats`` command (no per-user or per-chat data).

        Args:
            since: Unix time; ``*_recent`` counts are for rows at or after it.
        """
        recent = func.sum(case((identifications.c.created_at >= since, 1), else_=0))
        ident = await self._one(select(func.count(), func.coalesce(recent, 0),
                                       func.count(identifications.c.chat_hash.distinct())))
        n = func.count().label("n")
        top = await self._all(
            select(identifications.c.taxon, n).where(identifications.c.taxon != "")
            .group_by(identifications.c.taxon).order_by(n.desc(), identifications.c.taxon).limit(5))
        round_counts = await self._one(select(
            func.count(), func.coalesce(func.sum(case((rounds.c.status == RUNNING, 1), else_=0)), 0)))
        players = await self._one(select(func.count()).select_from(
            select(scores.c.platform, scores.c.user_id).distinct().subquery()))
        return UsageStats(
            identifications=int(ident[0]), identifications_recent=int(ident[1]), chats=int(ident[2]),
            top_taxa=tuple((r.taxon, int(r.n)) for r in top),
            rounds=int(round_counts[0]), rounds_running=int(round_counts[1]), players=int(players[0]),
        )

    async def identification_count(self) -> int:
        """Number of logged identifications."""
        row = await self._one(select(func.count()).select_from(identifications))
        return int(row[0]) if row else 0


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


def _engine(url: str) -> AsyncEngine:
    """An async engine for ``url``: SQLite with one connection, WAL and ``BEGIN IMMEDIATE``;
    PostgreSQL with a small pool."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, poolclass=StaticPool, connect_args={"timeout": 5})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN itself
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, poolclass=AsyncAdaptedQueuePool, pool_size=5, max_overflow=5,
                               pool_pre_ping=True)


def migrate(conn: Connection) -> None:
    """Bring the schema to the newest Alembic revision on ``conn`` (sync; run with ``run_sync``).

    A SQLite file made before Alembic carries its schema number in ``PRAGMA user_version``: it is
    stamped with that revision first, so only the newer revisions run.

    Raises:
        RuntimeError: the database is newer than this program.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    heads = ScriptDirectory.from_config(config).get_heads()
    current = MigrationContext.configure(conn).get_current_revision()
    if current is None and conn.dialect.name == "sqlite":
        legacy = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
        if legacy > len(MIGRATIONS):
            raise RuntimeError(
                f"state database schema version {legacy} is newer than this program ({len(MIGRATIONS)})")
        if legacy:
            command.stamp(config, MIGRATIONS[legacy - 1])
            current = MIGRATIONS[legacy - 1]
    if current is not None and current not in MIGRATIONS:
        raise RuntimeError(f"state database revision {current!r} is newer than this program ({heads})")
    command.upgrade(config, "head")
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA user_version = {len(MIGRATIONS):d}")
    conn.commit()


async def _stored_salt(engine: AsyncEngine) -> bytes:
    async with engine.begin() as conn:
        stmt = (sqlite_insert(meta) if engine.dialect.name == "sqlite" else pg_insert(meta)).values(
            key="chat_hash_salt", value=secrets.token_bytes(32).hex()
        ).on_conflict_do_nothing(index_elements=["key"])
        await conn.execute(stmt)
        value = (await conn.execute(
            select(meta.c.value).where(meta.c.key == "chat_hash_salt"))).scalar_one()
    return bytes.fromhex(value)
