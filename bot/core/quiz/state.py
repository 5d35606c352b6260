"""The state database (``state.sqlite``, the ``STATE_DB_PATH`` setting): quiz rounds, scores, and the
identification log. Separate from the read-only ``species.sqlite``.

* SQLite in WAL mode (``PRAGMA journal_mode=WAL``, ``synchronous=NORMAL``: durable across application
  crashes; a power cut may lose the last transactions but never corrupts the file), foreign keys on,
  5 s busy timeout. See https://www.sqlite.org/wal.html and https://www.sqlite.org/pragma.html.
* Schema migrations are numbered scripts applied in order; ``PRAGMA user_version`` holds the number
  of the last one applied.
* Every statement is parameterised. Writes run in ``BEGIN IMMEDIATE`` transactions behind one
  :class:`asyncio.Lock`, so concurrent coroutines never interleave transactions on the connection.
* Points count only when a question closes (issue 15): :meth:`StateStore.record_answer` stores the
  answer (with its press time and order) and nothing else, so ``/score``, the leaderboard, ``/stats``
  and round results never show an open question's points. Closing the question (reveal, early close,
  the end of its round) *settles* it: in one transaction it is closed and all its answers are added to
  ``scores``; a ``settled`` flag makes that happen exactly once. A second answer by the same user to
  the same question is rejected by a ``UNIQUE (question_id, user_id)`` constraint.
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
import hashlib
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

RUNNING = "running"
FINISHED = "finished"
STOPPED = "stopped"
INTERRUPTED = "interrupted"
ROUND_STATUSES = (RUNNING, FINISHED, STOPPED, INTERRUPTED)

#: Leaderboards show at most this many rows (issue 4: a chat's/server's top 10).
LEADERBOARD_SIZE = 10
#: Points for one right answer.
POINTS_PER_CORRECT = 1

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE rounds (
        id           INTEGER PRIMARY KEY,
        platform     TEXT NOT NULL,
        chat_id      TEXT NOT NULL,
        scope_id     TEXT NOT NULL,
        started_at   REAL NOT NULL,
        ended_at     REAL,
        status       TEXT NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'finished', 'stopped', 'interrupted')),
        n_questions  INTEGER NOT NULL CHECK (n_questions >= 1),
        difficulty   TEXT NOT NULL
    );
    CREATE UNIQUE INDEX rounds_one_running ON rounds (platform, chat_id) WHERE status = 'running';
    CREATE INDEX rounds_status ON rounds (status);
    CREATE TABLE questions (
        id             INTEGER PRIMARY KEY,
        round_id       INTEGER NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
        idx            INTEGER NOT NULL CHECK (idx >= 0),
        kind           TEXT NOT NULL,
        taxon          TEXT NOT NULL,
        n_options      INTEGER NOT NULL CHECK (n_options BETWEEN 2 AND 12),
        correct_index  INTEGER NOT NULL CHECK (correct_index >= 0 AND correct_index < n_options),
        message_id     TEXT,
        asked_at       REAL NOT NULL,
        closes_at      REAL,
        closed         INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1)),
        UNIQUE (round_id, idx)
    );
    CREATE INDEX questions_message ON questions (message_id);
    CREATE TABLE answers (
        id            INTEGER PRIMARY KEY,
        question_id   INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
        user_id       TEXT NOT NULL,
        display_name  TEXT NOT NULL,
        option        INTEGER NOT NULL CHECK (option >= 0),
        correct       INTEGER NOT NULL CHECK (correct IN (0, 1)),
        answered_at   REAL NOT NULL,
        UNIQUE (question_id, user_id)
    );
    CREATE INDEX answers_user ON answers (user_id);
    CREATE TABLE scores (
        platform      TEXT NOT NULL,
        scope_id      TEXT NOT NULL,
        user_id       TEXT NOT NULL,
        display_name  TEXT NOT NULL,
        points        INTEGER NOT NULL DEFAULT 0,
        answered      INTEGER NOT NULL DEFAULT 0,
        correct       INTEGER NOT NULL DEFAULT 0,
        updated_at    REAL NOT NULL,
        PRIMARY KEY (platform, scope_id, user_id)
    );
    CREATE INDEX scores_board ON scores (platform, scope_id, points DESC);
    CREATE TABLE identifications (
        id           INTEGER PRIMARY KEY,
        platform     TEXT NOT NULL,
        chat_hash    TEXT NOT NULL,
        taxon        TEXT NOT NULL,
        confidence   REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
        created_at   REAL NOT NULL
    );
    CREATE INDEX identifications_time ON identifications (created_at);
    """,
    # 2: points count when a question closes (issue 15). ``settled`` = its answers are in ``scores``;
    # every question of an older database was scored at the press, so it is settled already.
    # ``post_message_id``/``thread_id`` say where the question was posted (Telegram: the poll's
    # message id and forum topic; Discord: the message id), ``answer_text``/``explanation`` what to
    # show when a restart cuts it, so it can be closed there at the next start-up.
    """
    ALTER TABLE questions ADD COLUMN settled INTEGER NOT NULL DEFAULT 0 CHECK (settled IN (0, 1));
    UPDATE questions SET settled = 1;
    ALTER TABLE questions ADD COLUMN post_message_id TEXT;
    ALTER TABLE questions ADD COLUMN thread_id TEXT;
    ALTER TABLE questions ADD COLUMN answer_text TEXT NOT NULL DEFAULT '';
    ALTER TABLE questions ADD COLUMN explanation TEXT NOT NULL DEFAULT '';
    ALTER TABLE questions ADD COLUMN prompt TEXT NOT NULL DEFAULT '';
    """,
)

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


def _clean_name(name: str) -> str:
    name = " ".join(str(name).split())[:MAX_DISPLAY_NAME]
    return name or "Player"


class StateStore:
    """Async access to the state database. Create with :meth:`open`, release with :meth:`close`.

    Args (of :meth:`open`):
        path: database file (``":memory:"`` for tests; WAL does not apply in memory).
        salt: secret bytes for hashing chat ids in the identification log. When ``None``, a random
            32-byte salt is created once and kept in the database's ``meta`` table.
        clock: returns the current Unix time (tests pass a fake clock).
    """

    def __init__(self, conn: aiosqlite.Connection, salt: bytes, clock: Callable[[], float]) -> None:
        self._conn = conn
        self._salt = salt
        self._clock = clock
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        path: Path | str,
        salt: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> StateStore:
        """Open (creating if needed) and migrate the state database."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            await _migrate(conn)
            if salt is None:
                salt = await _stored_salt(conn)
        except BaseException:
            await conn.close()
            raise
        return cls(conn, salt, clock)

    async def close(self) -> None:
        """Close the connection (checkpoints the WAL)."""
        await self._conn.close()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction. BEGIN, COMMIT and ROLLBACK finish even when the caller is cancelled,
        so a cancelled task never leaves the shared connection inside an open transaction."""
        async with self._lock:
            await self._uncancellable("BEGIN IMMEDIATE", rollback_on_cancel=True)
            try:
                yield self._conn
            except BaseException:
                await self._uncancellable("ROLLBACK")
                raise
            await self._uncancellable("COMMIT", rollback_on_cancel=True)

    async def _uncancellable(self, sql: str, rollback_on_cancel: bool = False) -> None:
        """Run ``sql`` to completion; if the caller is cancelled meanwhile, wait for it (and roll
        back when asked), then re-raise the cancellation."""
        task = asyncio.ensure_future(self._conn.execute(sql))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await task
                if rollback_on_cancel:
                    await self._conn.execute("ROLLBACK")
            raise

    async def _one(self, sql: str, params: tuple = ()) -> aiosqlite.Row | None:
        async with self._lock, self._conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, params: tuple = ()) -> list[aiosqlite.Row]:
        async with self._lock, self._conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    # -- information -------------------------------------------------------------------------------

    async def journal_mode(self) -> str:
        """The journal mode in use (``"wal"`` for a file database)."""
        row = await self._one("PRAGMA journal_mode")
        return str(row[0]).lower() if row else ""

    async def schema_version(self) -> int:
        """``PRAGMA user_version``: the number of migrations applied."""
        row = await self._one("PRAGMA user_version")
        return int(row[0]) if row else 0

    # -- rounds ------------------------------------------------------------------------------------

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
                cur = await db.execute(
                    "INSERT INTO rounds (platform, chat_id, scope_id, started_at, status, n_questions, "
                    "difficulty) VALUES (?, ?, ?, ?, 'running', ?, ?)",
                    (platform, str(chat_id), str(scope_id), now, int(n_questions), str(difficulty)),
                )
                round_id = cur.lastrowid
        except sqlite3.IntegrityError as exc:
            raise RoundAlreadyRunning(f"{platform} chat already has a running round") from exc
        return Round(round_id, platform, str(chat_id), str(scope_id), now, None, RUNNING,
                     int(n_questions), str(difficulty))

    async def running_round(self, platform: str, chat_id: str | int) -> Round | None:
        """The chat's running round, if any."""
        row = await self._one(
            "SELECT * FROM rounds WHERE platform = ? AND chat_id = ? AND status = 'running'",
            (platform, str(chat_id)),
        )
        return _round(row) if row else None

    async def get_round(self, round_id: int) -> Round | None:
        """A round by id."""
        row = await self._one("SELECT * FROM rounds WHERE id = ?", (round_id,))
        return _round(row) if row else None

    async def finish_round(self, round_id: int, status: str = FINISHED) -> bool:
        """End a running round as ``finished`` or ``stopped`` and close its questions.

        Returns False when the round was not running (already ended).
        """
        if status not in (FINISHED, STOPPED, INTERRUPTED):
            raise ValueError(f"bad final status: {status!r}")
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE rounds SET status = ?, ended_at = ? WHERE id = ? AND status = 'running'",
                (status, self._clock(), round_id),
            )
            changed = cur.rowcount == 1
            await db.execute("UPDATE questions SET closed = 1 WHERE round_id = ?", (round_id,))
            await _settle(db, self._clock(), round_id=round_id)
        return changed

    async def interrupted_rounds_at_startup(self) -> list[Round]:
        """Mark every round still ``running`` (cut off by a restart) as ``interrupted``.

        Call once at start-up, before any new round starts. Returns the rounds so adapters can tell
        those chats, where the platform allows it. See :meth:`close_cut_rounds` for the questions.
        """
        return (await self.close_cut_rounds())[0]

    async def close_cut_rounds(self) -> tuple[list[Round], list[CutQuestion]]:
        """Close every round still ``running`` (cut off by a restart) as ``interrupted``, in one
        transaction: their open questions are closed and settled (their answers count, see the module
        docstring). Returns the rounds and the questions that were open, oldest first, so the adapters
        can close each question's message where it was posted. Call once at start-up."""
        now = self._clock()
        async with self._tx() as db:
            async with db.execute("SELECT * FROM rounds WHERE status = 'running' ORDER BY id") as cur:
                rows = list(await cur.fetchall())
            async with db.execute(
                "SELECT q.id, q.round_id, q.idx, r.n_questions, r.platform, r.chat_id, q.thread_id, "
                "q.post_message_id, q.answer_text, q.explanation, q.prompt, q.n_options, q.correct_index "
                "FROM questions q "
                "JOIN rounds r ON r.id = q.round_id WHERE r.status = 'running' AND q.closed = 0 "
                "ORDER BY q.id"
            ) as cur:
                cut = [CutQuestion(int(c[0]), int(c[1]), int(c[2]), int(c[3]), c[4], c[5], c[6], c[7],
                                   c[8] or "", c[9] or "", c[10] or "", int(c[11]), int(c[12]))
                       for c in await cur.fetchall()]
            for rid in [r["id"] for r in rows]:
                await db.execute(
                    "UPDATE rounds SET status = 'interrupted', ended_at = ? WHERE id = ?", (now, rid)
                )
                await db.execute("UPDATE questions SET closed = 1 WHERE round_id = ?", (rid,))
                await _settle(db, now, round_id=rid)
        rounds = [
            Round(r["id"], r["platform"], r["chat_id"], r["scope_id"], r["started_at"], now, INTERRUPTED,
                  r["n_questions"], r["difficulty"])
            for r in rows
        ]
        return rounds, cut

    # -- questions and answers ---------------------------------------------------------------------

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
            cur = await db.execute(
                "INSERT INTO questions (round_id, idx, kind, taxon, n_options, correct_index, message_id, "
                "asked_at, closes_at, answer_text, explanation, prompt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (round_id, index, str(kind), taxon, n_options, correct_index,
                 None if message_id is None else str(message_id), self._clock(), closes_at,
                 str(answer_text), str(explanation), str(prompt)),
            )
            return int(cur.lastrowid)

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
        async with self._tx() as db:
            await db.execute(
                "UPDATE questions SET message_id = ?, closes_at = COALESCE(?, closes_at), "
                "post_message_id = COALESCE(?, post_message_id), thread_id = COALESCE(?, thread_id) "
                "WHERE id = ?",
                (str(message_id), closes_at, None if post_message_id is None else str(post_message_id),
                 None if thread_id is None else str(thread_id), question_id),
            )

    async def close_question(self, question_id: int) -> bool:
        """Stop accepting answers and settle the question: its answers' points are added to the
        scores in the same transaction (once). Returns False when it was already closed."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE questions SET closed = 1 WHERE id = ? AND closed = 0", (question_id,)
            )
            await _settle(db, self._clock(), question_id=question_id)
            return cur.rowcount == 1

    async def get_question(self, question_id: int) -> AskedQuestion | None:
        """A question by id."""
        row = await self._one(_QUESTION_SELECT + " WHERE q.id = ?", (question_id,))
        return _asked(row) if row else None

    async def question_by_message(self, platform: str, message_id: str | int) -> AskedQuestion | None:
        """The question posted as ``message_id`` (Telegram poll id, Discord message id) on ``platform``."""
        row = await self._one(
            _QUESTION_SELECT + " WHERE q.message_id = ? AND r.platform = ? ORDER BY q.id DESC LIMIT 1",
            (str(message_id), platform),
        )
        return _asked(row) if row else None

    async def record_answer(
        self, question_id: int, user_id: str | int, display_name: str, option: int
    ) -> AnswerResult:
        """Store a user's answer (option, right or not, press time). Its points reach the scores only
        when the question closes (:meth:`close_question`), so score queries meanwhile see the old score.

        Only the first answer per user per question counts; answers to closed or expired questions,
        or to rounds that are not running, are rejected.
        """
        now = self._clock()
        user = str(user_id)
        name = _clean_name(display_name)
        async with self._tx() as db:
            async with db.execute(
                "SELECT q.correct_index, q.n_options, q.closed, q.closes_at, r.status, r.platform, "
                "r.scope_id FROM questions q JOIN rounds r ON r.id = q.round_id WHERE q.id = ?",
                (question_id,),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                return AnswerResult(False, reason="unknown_question")
            if row["closed"] or row["status"] != RUNNING or (
                row["closes_at"] is not None and now > row["closes_at"]
            ):
                return AnswerResult(False, reason="closed")
            if not 0 <= int(option) < row["n_options"]:
                return AnswerResult(False, reason="bad_option")
            correct = int(option) == row["correct_index"]
            cur = await db.execute(
                "INSERT OR IGNORE INTO answers (question_id, user_id, display_name, option, correct, "
                "answered_at) VALUES (?, ?, ?, ?, ?, ?)",
                (question_id, user, name, int(option), int(correct), now),
            )
            if cur.rowcount != 1:
                return AnswerResult(False, reason="duplicate")
        return AnswerResult(True, correct)

    async def answer_count(self, question_id: int) -> int:
        """How many users answered a question."""
        row = await self._one("SELECT COUNT(*) FROM answers WHERE question_id = ?", (question_id,))
        return int(row[0]) if row else 0

    async def right_count(self, question_id: int) -> int:
        """How many users answered a question correctly."""
        row = await self._one(
            "SELECT COUNT(*) FROM answers WHERE question_id = ? AND correct = 1", (question_id,)
        )
        return int(row[0]) if row else 0

    async def round_results(self, round_id: int) -> list[RoundScore]:
        """Players of a round, best first (most right answers, then fewest answers, then name).

        Only settled (closed) questions count: an open question's answers are left out."""
        rows = await self._all(
            "SELECT a.user_id, MAX(a.display_name) AS name, SUM(a.correct) AS n_right, COUNT(*) AS n "
            "FROM answers a JOIN questions q ON q.id = a.question_id WHERE q.round_id = ? AND q.settled = 1 "
            "GROUP BY a.user_id ORDER BY n_right DESC, n ASC, name COLLATE NOCASE ASC",
            (round_id,),
        )
        return [RoundScore(r["user_id"], r["name"], int(r["n_right"]), int(r["n"])) for r in rows]

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
            "SELECT user_id, display_name, points, answered, correct, "
            "(SELECT COUNT(*) FROM scores s2 WHERE s2.platform = s.platform AND s2.scope_id = s.scope_id "
            " AND s2.points > s.points) + 1 AS rank "
            "FROM scores s WHERE platform = ? AND scope_id = ? AND points > 0 "
            "ORDER BY points DESC, correct DESC, answered ASC, display_name COLLATE NOCASE ASC, user_id "
            "LIMIT ?",
            (platform, str(scope_id), limit),
        )
        return [_score(r) for r in rows]

    async def user_score(self, platform: str, scope_id: str | int, user_id: str | int) -> ScoreRow | None:
        """A user's own score and rank in a chat/server, or ``None`` before their first answer."""
        row = await self._one(
            "SELECT user_id, display_name, points, answered, correct, "
            "(SELECT COUNT(*) FROM scores s2 WHERE s2.platform = s.platform AND s2.scope_id = s.scope_id "
            " AND s2.points > s.points) + 1 AS rank "
            "FROM scores s WHERE platform = ? AND scope_id = ? AND user_id = ?",
            (platform, str(scope_id), str(user_id)),
        )
        return _score(row) if row else None

    async def forget_user(self, platform: str, user_id: str | int) -> int:
        """Delete a user's scores (every chat/server of ``platform``) and answers. Returns rows deleted."""
        user = str(user_id)
        async with self._tx() as db:
            cur = await db.execute(
                "DELETE FROM scores WHERE platform = ? AND user_id = ?", (platform, user)
            )
            n = cur.rowcount
            cur = await db.execute(
                "DELETE FROM answers WHERE user_id = ? AND question_id IN ("
                "SELECT q.id FROM questions q JOIN rounds r ON r.id = q.round_id WHERE r.platform = ?)",
                (user, platform),
            )
            return n + cur.rowcount

    # -- identification log ------------------------------------------------------------------------

    def chat_hash(self, platform: str, chat_id: str | int) -> str:
        """Salted SHA-256 (hex) of a chat id: lets us count chats without storing their ids."""
        data = self._salt + b"\x00" + platform.encode() + b"\x00" + str(chat_id).encode()
        return hashlib.sha256(data).hexdigest()

    async def log_identification(
        self, platform: str, chat_id: str | int, scientific_name: str, confidence: float
    ) -> None:
        """Log one identification: platform, hashed chat id, taxon, confidence in [0, 1], time.

        No photo, no file id, no user id and no raw chat id are stored.
        """
        conf = min(1.0, max(0.0, float(confidence)))
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO identifications (platform, chat_hash, taxon, confidence, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (platform, self.chat_hash(platform, chat_id), scientific_name, conf, self._clock()),
            )

    async def usage_stats(self, since: float) -> UsageStats:
        """Aggregate counts for the admin ``/stats`` command (no per-user or per-chat data).

        Args:
            since: Unix time; ``*_recent`` counts are for rows at or after it.
        """
        ident = await self._one(
            "SELECT COUNT(*), COALESCE(SUM(created_at >= ?), 0), COUNT(DISTINCT chat_hash) "
            "FROM identifications", (since,)
        )
        top = await self._all(
            "SELECT taxon, COUNT(*) AS n FROM identifications WHERE taxon != '' "
            "GROUP BY taxon ORDER BY n DESC, taxon LIMIT 5"
        )
        rounds = await self._one(
            "SELECT COUNT(*), COALESCE(SUM(status = 'running'), 0) FROM rounds"
        )
        players = await self._one("SELECT COUNT(DISTINCT platform || ':' || user_id) FROM scores")
        return UsageStats(
            identifications=int(ident[0]), identifications_recent=int(ident[1]), chats=int(ident[2]),
            top_taxa=tuple((r["taxon"], int(r["n"])) for r in top),
            rounds=int(rounds[0]), rounds_running=int(rounds[1]), players=int(players[0]),
        )

    async def identification_count(self) -> int:
        """Number of logged identifications."""
        row = await self._one("SELECT COUNT(*) FROM identifications")
        return int(row[0]) if row else 0


_QUESTION_SELECT = (
    "SELECT q.id, q.round_id, q.idx, q.kind, q.taxon, q.n_options, q.correct_index, q.message_id, "
    "q.closes_at, q.closed, r.platform, r.chat_id, r.scope_id, q.settled, q.post_message_id, q.thread_id, "
    "q.answer_text, q.explanation FROM questions q "
    "JOIN rounds r ON r.id = q.round_id"
)


async def _settle(
    db: aiosqlite.Connection, now: float, *, round_id: int | None = None, question_id: int | None = None
) -> None:
    """Inside a write transaction: add the answers of the closed, unsettled questions of a round (or
    one question) to ``scores``, in answer order, and mark those questions settled. Settling twice
    adds nothing."""
    async with db.execute(
        "SELECT id FROM questions WHERE closed = 1 AND settled = 0 AND (round_id = ? OR id = ?)",
        (round_id, question_id),
    ) as cur:
        qids = [int(r[0]) for r in await cur.fetchall()]
    for qid in qids:
        await db.execute(
            "INSERT INTO scores (platform, scope_id, user_id, display_name, points, answered, correct, "
            "updated_at) SELECT r.platform, r.scope_id, a.user_id, a.display_name, a.correct * ?, 1, "
            "a.correct, ? FROM answers a JOIN questions q ON q.id = a.question_id "
            "JOIN rounds r ON r.id = q.round_id WHERE a.question_id = ? ORDER BY a.id "
            "ON CONFLICT (platform, scope_id, user_id) DO UPDATE SET "
            "display_name = excluded.display_name, points = points + excluded.points, "
            "answered = answered + 1, correct = correct + excluded.correct, "
            "updated_at = excluded.updated_at",
            (POINTS_PER_CORRECT, now, qid),
        )
        await db.execute("UPDATE questions SET settled = 1 WHERE id = ?", (qid,))


def _round(r: aiosqlite.Row) -> Round:
    return Round(r["id"], r["platform"], r["chat_id"], r["scope_id"], r["started_at"], r["ended_at"],
                 r["status"], r["n_questions"], r["difficulty"])


def _asked(r: aiosqlite.Row) -> AskedQuestion:
    return AskedQuestion(r["id"], r["round_id"], r["idx"], r["kind"], r["taxon"], r["n_options"],
                         r["correct_index"], r["message_id"], r["closes_at"], bool(r["closed"]),
                         r["platform"], r["chat_id"], r["scope_id"], bool(r["settled"]), r["post_message_id"],
                         r["thread_id"], r["answer_text"] or "", r["explanation"] or "")


def _score(r: aiosqlite.Row) -> ScoreRow:
    return ScoreRow(int(r["rank"]), r["user_id"], r["display_name"], int(r["points"]), int(r["answered"]),
                    int(r["correct"]))


async def _migrate(conn: aiosqlite.Connection) -> None:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"state database schema version {version} is newer than this program ({len(MIGRATIONS)})"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript() runs the whole migration and the version bump in one transaction.
        await conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number:d};\nCOMMIT;")


async def _stored_salt(conn: aiosqlite.Connection) -> bytes:
    async with conn.execute("SELECT value FROM meta WHERE key = 'chat_hash_salt'") as cur:
        row = await cur.fetchone()
    if row:
        return bytes.fromhex(row[0])
    salt = secrets.token_bytes(32)
    await conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('chat_hash_salt', ?)", (salt.hex(),)
    )
    async with conn.execute("SELECT value FROM meta WHERE key = 'chat_hash_salt'") as cur:
        row = await cur.fetchone()
    return bytes.fromhex(row[0])
