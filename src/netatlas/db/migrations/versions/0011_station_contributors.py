"""Station tables: who vouches for a station's position (contributors and days).

``contributor`` (a keyed hash of the first contributor, dropped once a second is seen),
``contributors`` (distinct, up to 2) and ``days`` (distinct, up to 255) restart with each new
position. Offline region packs publish only stations seen by two contributors on two days;
rows written before this revision have NULLs and qualify once newly observed.

Revision ID: 0011_station_contributors
Revises: 0010_stats_unlocated
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_station_contributors"
down_revision = "0010_stats_unlocated"
branch_labels = None
depends_on = None

_SHARDS = "0123456789abcdef"
_TABLES = (
    *(f"wifi_shard_{s}" for s in _SHARDS),
    *(f"blue_shard_{s}" for s in _SHARDS),
    *(f"cell_{r}" for r in ("gsm", "wcdma", "lte", "nr")),
)


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): instant on both databases, no table rebuild.
    for table in _TABLES:
        op.add_column(table, sa.Column("contributor", sa.Integer))
        op.add_column(table, sa.Column("contributors", sa.SmallInteger))
        op.add_column(table, sa.Column("days", sa.SmallInteger))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("days")
            batch.drop_column("contributors")
            batch.drop_column("contributor")
