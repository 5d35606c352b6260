"""Initial schema: rounds, questions, answers, scores, the identification log (schema 1 of the SQLite
files that kept their version in ``PRAGMA user_version``).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the schema-1 tables."""
    op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "rounds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("chat_id", sa.Text, nullable=False),
        sa.Column("scope_id", sa.Text, nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("ended_at", sa.Double),
        sa.Column("status", sa.Text, nullable=False, server_default="running"),
        sa.Column("n_questions", sa.Integer, nullable=False),
        sa.Column("difficulty", sa.Text, nullable=False),
        sa.CheckConstraint("status IN ('running', 'finished', 'stopped', 'interrupted')",
                           name="rounds_status"),
        sa.CheckConstraint("n_questions >= 1", name="rounds_n_questions"),
    )
    op.create_index("rounds_one_running", "rounds", ["platform", "chat_id"], unique=True,
                    sqlite_where=sa.text("status = 'running'"),
                    postgresql_where=sa.text("status = 'running'"))
    op.create_index("rounds_status", "rounds", ["status"])
    op.create_table(
        "questions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("round_id", sa.Integer, sa.ForeignKey("rounds.id", ondelete="CASCADE"), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("taxon", sa.Text, nullable=False),
        sa.Column("n_options", sa.Integer, nullable=False),
        sa.Column("correct_index", sa.Integer, nullable=False),
        sa.Column("message_id", sa.Text),
        sa.Column("asked_at", sa.Double, nullable=False),
        sa.Column("closes_at", sa.Double),
        sa.Column("closed", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("round_id", "idx"),
        sa.CheckConstraint("idx >= 0", name="questions_idx"),
        sa.CheckConstraint("n_options BETWEEN 2 AND 12", name="questions_n_options"),
        sa.CheckConstraint("correct_index >= 0 AND correct_index < n_options", name="questions_correct"),
        sa.CheckConstraint("closed IN (0, 1)", name="questions_closed"),
    )
    op.create_index("questions_message", "questions", ["message_id"])
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("question_id", sa.Integer, sa.ForeignKey("questions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("option", sa.Integer, nullable=False),
        sa.Column("correct", sa.Integer, nullable=False),
        sa.Column("answered_at", sa.Double, nullable=False),
        sa.UniqueConstraint("question_id", "user_id"),
        sa.CheckConstraint("option >= 0", name="answers_option"),
        sa.CheckConstraint("correct IN (0, 1)", name="answers_correct"),
    )
    op.create_index("answers_user", "answers", ["user_id"])
    op.create_table(
        "scores",
        sa.Column("platform", sa.Text, primary_key=True),
        sa.Column("scope_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("points", sa.Integer, nullable=False, server_default="0"),
        sa.Column("answered", sa.Integer, nullable=False, server_default="0"),
        sa.Column("correct", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("scores_board", "scores", ["platform", "scope_id", sa.text("points DESC")])
    op.create_table(
        "identifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("chat_hash", sa.Text, nullable=False),
        sa.Column("taxon", sa.Text, nullable=False),
        sa.Column("confidence", sa.Double, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.CheckConstraint("confidence >= 0 AND confidence <= 1", name="identifications_confidence"),
    )
    op.create_index("identifications_time", "identifications", ["created_at"])


def downgrade() -> None:
    """Drop everything."""
    for table in ("identifications", "scores", "answers", "questions", "rounds", "meta"):
        op.drop_table(table)
