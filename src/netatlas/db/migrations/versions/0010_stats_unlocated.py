"""Statistics state: how many tests an aggregation's bins hold and how many found no area.

Polygon layers now also take tests just outside their areas (within a tolerance) and the
countries layer a test's own country code, so every aggregation is rebuilt by the next update
(its declaration's fingerprint changes); until then the counts are 0.

Revision ID: 0010_stats_unlocated
Revises: 0009_speed_test_retention
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_stats_unlocated"
down_revision = "0009_speed_test_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stats_state") as batch:
        batch.add_column(sa.Column("tests", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("unlocated", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("stats_state") as batch:
        batch.drop_column("unlocated")
        batch.drop_column("tests")
