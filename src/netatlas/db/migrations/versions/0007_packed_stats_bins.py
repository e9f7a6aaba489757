"""Statistics bins: partial statistics packed into one column; the time slice second in the
primary key, so that a time filter reads a range of it.

Bins are derived data: the table is recreated empty and every aggregation's fingerprint is
cleared, so the next ``netatlas aggregate`` (or the pipeline job) rebuilds them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KEYS = ("aggregation", "area", "period", "hour", "dow", "isp")
NEW_KEY = ("aggregation", "period", "area", "hour", "dow", "isp")


def _keys() -> list[sa.Column[object]]:
    return [
        sa.Column("aggregation", sa.String(64), nullable=False),
        sa.Column("area", sa.String(64), nullable=False),
        sa.Column("period", sa.BigInteger, nullable=False),
        sa.Column("hour", sa.SmallInteger, nullable=False),
        sa.Column("dow", sa.SmallInteger, nullable=False),
        sa.Column("isp", sa.String(128), nullable=False),
        sa.Column("tests", sa.Integer, nullable=False),
    ]


def _old_direction(prefix: str) -> list[sa.Column[object]]:
    return [
        sa.Column(f"{prefix}_n", sa.Integer, nullable=False),
        sa.Column(f"{prefix}_sum", sa.Float, nullable=False),
        sa.Column(f"{prefix}_logsum", sa.Float, nullable=False),
        sa.Column(f"{prefix}_wsum", sa.Float, nullable=False),
        sa.Column(f"{prefix}_wtime", sa.Float, nullable=False),
        sa.Column(f"{prefix}_min", sa.Float),
        sa.Column(f"{prefix}_max", sa.Float),
        sa.Column(f"{prefix}_hist", sa.LargeBinary, nullable=False),
        sa.Column(f"{prefix}_sketch", sa.LargeBinary, nullable=False),
    ]


def _forget_bins() -> None:
    op.execute("UPDATE stats_state SET fingerprint = ''")


def upgrade() -> None:
    op.drop_table("stats_bin")
    op.create_table(
        "stats_bin",
        *_keys(),
        sa.Column("partial", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint(*NEW_KEY, name="pk_stats_bin"),
    )
    _forget_bins()


def downgrade() -> None:
    op.drop_table("stats_bin")
    op.create_table(
        "stats_bin",
        *_keys(),
        sa.Column("clients", sa.LargeBinary, nullable=False),
        *_old_direction("dl"),
        *_old_direction("ul"),
        sa.Column("rtt_n", sa.Integer, nullable=False),
        sa.Column("rtt_sum", sa.Float, nullable=False),
        sa.Column("rtt_sketch", sa.LargeBinary, nullable=False),
        sa.Column("loss_n", sa.Integer, nullable=False),
        sa.Column("loss_sum", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint(*KEYS, name="pk_stats_bin"),
    )
    _forget_bins()
