"""Request counters for embedded mode: daily key limits and external fallback calls.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_counter",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_rate_counter"),
    )
    op.create_index("ix_rate_counter_expires", "rate_counter", ["expires"])


def downgrade() -> None:
    op.drop_index("ix_rate_counter_expires", table_name="rate_counter")
    op.drop_table("rate_counter")
