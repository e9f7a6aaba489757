"""Admin: accounts, sessions, login lock-outs, audit log, survey reviews.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_user",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_admin_user"),
    )
    op.create_table(
        "admin_session",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=False),
        sa.Column("expires", sa.DateTime, nullable=False),
        sa.Column("client_ip", sa.String(45)),
        sa.PrimaryKeyConstraint("token_hash", name="pk_admin_session"),
    )
    op.create_index("ix_admin_session_username", "admin_session", ["username"])
    op.create_table(
        "admin_lockout",
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start", sa.DateTime, nullable=False),
        sa.Column("locked_until", sa.DateTime),
        sa.PrimaryKeyConstraint("subject", name="pk_admin_lockout"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("time", sa.DateTime, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255)),
        sa.Column("detail", sa.Text),
        sa.Column("client_ip", sa.String(45)),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_time", "audit_log", ["time"])
    op.create_table(
        "survey_review",
        sa.Column("survey_id", sa.Integer, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("reviewed", sa.DateTime, nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("survey_id", name="pk_survey_review"),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["survey_response.id"], name="fk_survey_review_survey_id_survey_response"
        ),
    )


def downgrade() -> None:
    op.drop_table("survey_review")
    op.drop_index("ix_audit_log_time", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("admin_lockout")
    op.drop_index("ix_admin_session_username", table_name="admin_session")
    op.drop_table("admin_session")
    op.drop_table("admin_user")
