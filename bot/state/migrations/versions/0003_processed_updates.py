"""Telegram updates already handled, shared by every replica (webhook de-duplication on ``update_id``).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``processed_updates``."""
    op.create_table(
        "processed_updates",
        sa.Column("bot_id", sa.Text, primary_key=True),
        sa.Column("update_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("received_at", sa.Double, nullable=False),
    )
    op.create_index("processed_updates_time", "processed_updates", ["received_at"])


def downgrade() -> None:
    """Drop ``processed_updates``."""
    op.drop_table("processed_updates")
