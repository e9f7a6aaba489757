"""Self-service API keys: hashed keys, a key's state and holder, and per-key blocks.

``api_key`` gains nullable columns only, so keys made before keep working unchanged (their
``key_hash`` is empty: the key is ``valid_key`` itself, in clear, as in Ichnaea).

Revision ID: 0013_self_service_keys
Revises: 0011_station_contributors
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_self_service_keys"
down_revision = "0011_station_contributors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("key_hash", sa.String(64)))
        batch.add_column(sa.Column("status", sa.String(16)))
        batch.add_column(sa.Column("contact", sa.String(255)))
        batch.add_column(sa.Column("purpose", sa.String(500)))
        batch.add_column(sa.Column("created", sa.DateTime))
    op.create_table(
        "key_block",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("valid_key", sa.String(40), nullable=False),
        sa.Column("network", sa.String(64)),
        sa.Column("until", sa.DateTime),
        sa.Column("reason", sa.String(255)),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_key_block"),
    )
    op.create_index("ix_key_block_valid_key", "key_block", ["valid_key"])


def downgrade() -> None:
    op.drop_index("ix_key_block_valid_key", table_name="key_block")
    op.drop_table("key_block")
    with op.batch_alter_table("api_key") as batch:
        for name in ("created", "purpose", "contact", "status", "key_hash"):
            batch.drop_column(name)
