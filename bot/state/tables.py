"""The state database's tables as SQLAlchemy Core metadata, one definition for SQLite and PostgreSQL.

The schema is created and changed only by the Alembic revisions in ``bot/state/migrations``; this
metadata mirrors their result (``tests/test_state_backends.py`` checks that they agree) and is what the
queries in :mod:`bot.state.quiz` and its neighbours are built from. Times are Unix seconds (double
precision); flags are integers 0/1 (as in the SQLite files of schema 1). Ids of chats, servers and
users are text.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

rounds = Table(
    "rounds", metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", Text, nullable=False),
    Column("chat_id", Text, nullable=False),
    Column("scope_id", Text, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("ended_at", Double),
    Column("status", Text, nullable=False, server_default="running"),
    Column("n_questions", Integer, nullable=False),
    Column("difficulty", Text, nullable=False),
    CheckConstraint("status IN ('running', 'finished', 'stopped', 'interrupted')", name="rounds_status"),
    CheckConstraint("n_questions >= 1", name="rounds_n_questions"),
)
#: One running round per chat.
Index("rounds_one_running", rounds.c.platform, rounds.c.chat_id, unique=True,
      sqlite_where=text("status = 'running'"), postgresql_where=text("status = 'running'"))
Index("rounds_status", rounds.c.status)

questions = Table(
    "questions", metadata,
    Column("id", Integer, primary_key=True),
    Column("round_id", Integer, ForeignKey("rounds.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("taxon", Text, nullable=False),
    Column("n_options", Integer, nullable=False),
    Column("correct_index", Integer, nullable=False),
    Column("message_id", Text),
    Column("asked_at", Double, nullable=False),
    Column("closes_at", Double),
    Column("closed", Integer, nullable=False, server_default="0"),
    # revision 0002 (issue 15): points count when the question closes; where it was posted
    Column("settled", Integer, nullable=False, server_default="0"),
    Column("post_message_id", Text),
    Column("thread_id", Text),
    Column("answer_text", Text, nullable=False, server_default=""),
    Column("explanation", Text, nullable=False, server_default=""),
    Column("prompt", Text, nullable=False, server_default=""),
    UniqueConstraint("round_id", "idx"),
    CheckConstraint("idx >= 0", name="questions_idx"),
    CheckConstraint("n_options BETWEEN 2 AND 12", name="questions_n_options"),
    CheckConstraint("correct_index >= 0 AND correct_index < n_options", name="questions_correct"),
    CheckConstraint("closed IN (0, 1)", name="questions_closed"),
)
Index("questions_message", questions.c.message_id)

answers = Table(
    "answers", metadata,
    Column("id", Integer, primary_key=True),
    Column("question_id", Integer, ForeignKey("questions.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("option", Integer, nullable=False),
    Column("correct", Integer, nullable=False),
    Column("answered_at", Double, nullable=False),
    #: One answer per player per question.
    UniqueConstraint("question_id", "user_id"),
    CheckConstraint("option >= 0", name="answers_option"),
    CheckConstraint("correct IN (0, 1)", name="answers_correct"),
)
Index("answers_user", answers.c.user_id)

scores = Table(
    "scores", metadata,
    Column("platform", Text, primary_key=True),
    Column("scope_id", Text, primary_key=True),
    Column("user_id", Text, primary_key=True),
    Column("display_name", Text, nullable=False),
    Column("points", Integer, nullable=False, server_default="0"),
    Column("answered", Integer, nullable=False, server_default="0"),
    Column("correct", Integer, nullable=False, server_default="0"),
    Column("updated_at", Double, nullable=False),
)
Index("scores_board", scores.c.platform, scores.c.scope_id, scores.c.points.desc())

identifications = Table(
    "identifications", metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", Text, nullable=False),
    Column("chat_hash", Text, nullable=False),
    Column("taxon", Text, nullable=False),
    Column("confidence", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    CheckConstraint("confidence >= 0 AND confidence <= 1", name="identifications_confidence"),
)
Index("identifications_time", identifications.c.created_at)

#: Telegram updates claimed or handled (webhook de-duplication across replicas): revision 0003; the
#: claim's expiry and the "done" mark: revision 0005.
processed_updates = Table(
    "processed_updates", metadata,
    Column("bot_id", Text, primary_key=True),
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("received_at", Double, nullable=False),
    Column("claimed_until", Double),
    Column("done", Integer, nullable=False, server_default="1"),
)
Index("processed_updates_time", processed_updates.c.received_at)

#: Which replica drives a running round (its timer), until ``expires_at``: revision 0004 (issue 13).
round_leases = Table(
    "round_leases", metadata,
    Column("round_id", Integer, ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("owner", Text, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("acquired_at", Double, nullable=False),
)
Index("round_leases_expiry", round_leases.c.expires_at)

#: A round's questions (JSON list), stored at its start so that another replica can continue it: 0004.
round_plans = Table(
    "round_plans", metadata,
    Column("round_id", Integer, ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("questions", Text, nullable=False),
)
