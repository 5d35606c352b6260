"""Round leases and plans: which replica drives a running round, and the questions it will still ask.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``round_leases`` and ``round_plans``."""
    op.create_table(
        "round_leases",
        sa.Column("round_id", sa.Integer, sa.ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("acquired_at", sa.Double, nullable=False),
    )
    op.create_index("round_leases_expiry", "round_leases", ["expires_at"])
    op.create_table(
        "round_plans",
        sa.Column("round_id", sa.Integer, sa.ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False),
        sa.Column("questions", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Drop ``round_plans`` and ``round_leases``."""
    op.drop_table("round_plans")
    op.drop_table("round_leases")
