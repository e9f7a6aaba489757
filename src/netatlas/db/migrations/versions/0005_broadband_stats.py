"""Broadband statistics: area layers, binned statistics, M-Lab import state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _direction(prefix: str) -> list[sa.Column[Any]]:
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


def upgrade() -> None:
    op.create_table(
        "area_layer",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("key_property", sa.String(64), nullable=False),
        sa.Column("source", sa.String(255)),
        sa.Column("features", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("imported", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_area_layer"),
    )
    op.create_table(
        "area",
        sa.Column("layer", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("geometry", sa.Text, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("layer", "key", name="pk_area"),
    )
    op.create_table(
        "stats_state",
        sa.Column("aggregation", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("watermark", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("aggregation", name="pk_stats_state"),
    )
    op.create_table(
        "stats_bin",
        sa.Column("aggregation", sa.String(64), nullable=False),
        sa.Column("area", sa.String(64), nullable=False),
        sa.Column("period", sa.BigInteger, nullable=False),
        sa.Column("hour", sa.SmallInteger, nullable=False),
        sa.Column("dow", sa.SmallInteger, nullable=False),
        sa.Column("isp", sa.String(128), nullable=False),
        sa.Column("tests", sa.Integer, nullable=False),
        sa.Column("clients", sa.LargeBinary, nullable=False),
        *_direction("dl"),
        *_direction("ul"),
        sa.Column("rtt_n", sa.Integer, nullable=False),
        sa.Column("rtt_sum", sa.Float, nullable=False),
        sa.Column("rtt_sketch", sa.LargeBinary, nullable=False),
        sa.Column("loss_n", sa.Integer, nullable=False),
        sa.Column("loss_sum", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint(
            "aggregation", "area", "period", "hour", "dow", "isp", name="pk_stats_bin"
        ),
    )
    op.create_table(
        "mlab_state",
        sa.Column("name", sa.String(96), nullable=False),
        sa.Column("last_date", sa.Date, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_mlab_state"),
    )


def downgrade() -> None:
    op.drop_table("mlab_state")
    op.drop_table("stats_bin")
    op.drop_table("stats_state")
    op.drop_table("area")
    op.drop_table("area_layer")
