"""Speed tests: verification of browser-reported results, client_key for erased addresses,
and an index of the tests whose address is still kept (for the retention job).

Revision ID: 0009_speed_test_retention
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_speed_test_retention"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("measurements", sa.Column("verification", sa.String(8)))
    op.add_column("measurements", sa.Column("client_key", sa.String(24)))
    op.create_index(
        "ix_measurements_ip_kept",
        "measurements",
        ["test_time"],
        sqlite_where=sa.text("client_ip IS NOT NULL"),
        postgresql_where=sa.text("client_ip IS NOT NULL"),
    )
    # Results a browser reported before this revision were counted; they wait for
    # confirmation from now on, like new ones.
    op.execute("UPDATE measurements SET verification = 'pending' WHERE source = 'mlab'")
    # The statistics that counted them are rebuilt on their next update.
    op.execute(
        "UPDATE stats_state SET fingerprint = 'stale'"
        " WHERE EXISTS (SELECT 1 FROM measurements WHERE source = 'mlab')"
    )


def downgrade() -> None:
    op.drop_index("ix_measurements_ip_kept", table_name="measurements")
    op.drop_column("measurements", "client_key")
    op.drop_column("measurements", "verification")
