"""Claims of Telegram updates with an expiry and a "done" mark, so that an update whose replica died in
the middle of it is handled by another replica when Telegram delivers it again.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``claimed_until`` and ``done`` to ``processed_updates``; rows from before count as done."""
    with op.batch_alter_table("processed_updates") as batch:
        batch.add_column(sa.Column("claimed_until", sa.Double, nullable=True))
        batch.add_column(sa.Column("done", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    """Drop the two columns."""
    with op.batch_alter_table("processed_updates") as batch:
        batch.drop_column("done")
        batch.drop_column("claimed_until")
