"""Settings documents edited on the admin pages (survey form, aggregations).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_document",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
        sa.Column("updated_by", sa.String(64)),
        sa.PrimaryKeyConstraint("name", name="pk_config_document"),
    )


def downgrade() -> None:
    op.drop_table("config_document")
