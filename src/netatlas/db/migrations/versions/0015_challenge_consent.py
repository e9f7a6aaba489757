"""Survey responses: consent to use the tests as evidence in a regulator's challenge process.

A separate question from the consent to store and publish in aggregated form: the challenge
package holds each test with its precise location, so it needs its own yes. Existing responses
were never asked and count as not consented.

Revision ID: 0015_challenge_consent
Revises: 0013_self_service_keys
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_challenge_consent"
down_revision = "0013_self_service_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("survey_response") as batch:
        batch.add_column(
            sa.Column("challenge_consent", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("survey_response") as batch:
        batch.drop_column("challenge_consent")
