"""Fair quizzes (issue 15): points count when a question closes (``settled``), and where each question
was posted, so a restart can close it there. Questions of older databases were scored at the press,
so they are marked settled.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

def _columns() -> list[sa.Column]:
    return [
        sa.Column("settled", sa.Integer, nullable=False, server_default="0"),
        sa.Column("post_message_id", sa.Text),
        sa.Column("thread_id", sa.Text),
        sa.Column("answer_text", sa.Text, nullable=False, server_default=""),
        sa.Column("explanation", sa.Text, nullable=False, server_default=""),
        sa.Column("prompt", sa.Text, nullable=False, server_default=""),
    ]


def upgrade() -> None:
    """Add the columns; every existing question is settled (its points were counted at the press)."""
    for column in _columns():
        op.add_column("questions", column)
    op.execute("UPDATE questions SET settled = 1")


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("questions") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
