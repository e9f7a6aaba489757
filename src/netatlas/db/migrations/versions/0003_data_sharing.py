"""Data sharing: export delivery state, partial-batch age, cell origin, the default raw archive.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RADIOS = ("gsm", "wcdma", "lte", "nr")


def upgrade() -> None:
    op.add_column(
        "export_config",
        sa.Column("max_age", sa.Integer, nullable=False, server_default="3600"),
    )
    op.create_table(
        "export_state",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("retry_at", sa.Float),
        sa.Column("pending_since", sa.Float),
        sa.Column("last_error", sa.String(500)),
        sa.Column("last_failure", sa.Float),
        sa.Column("last_success", sa.Float),
        sa.Column("reports", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_export_state"),
    )
    for radio in RADIOS:
        op.add_column(f"cell_{radio}", sa.Column("origin", sa.String(16)))
    # Every install keeps a raw archive of what it accepted (gzip JSON under the data dir).
    config = sa.table(
        "export_config",
        sa.column("name", sa.String),
        sa.column("batch", sa.Integer),
        sa.column("schema", sa.String),
        sa.column("url", sa.String),
        sa.column("max_age", sa.Integer),
    )
    op.bulk_insert(
        config,
        [
            {
                "name": "archive",
                "batch": 1000,
                "schema": "file",
                "url": "archive/{year}/{month}/{day}",
                "max_age": 3600,
            }
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM export_config WHERE name = 'archive'")
    for radio in RADIOS:
        op.drop_column(f"cell_{radio}", "origin")
    op.drop_table("export_state")
    op.drop_column("export_config", "max_age")
