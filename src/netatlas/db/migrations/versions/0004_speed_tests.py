"""Speed tests: ndt7 measurements and survey responses.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(128), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("test_time", sa.DateTime, nullable=False),
        sa.Column("mean_mbps", sa.Float),
        sa.Column("min_rtt_ms", sa.Float),
        sa.Column("loss_rate", sa.Float),
        sa.Column("num_bytes", sa.BigInteger),
        sa.Column("elapsed_s", sa.Float),
        sa.Column("congestion_control", sa.String(16)),
        sa.Column("client_ip", sa.String(45)),
        sa.Column("asn", sa.BigInteger),
        sa.Column("isp", sa.String(255)),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("accuracy", sa.Float),
        sa.Column("region", sa.String(2)),
        sa.Column("client_name", sa.String(64)),
        sa.Column("archive", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_measurements"),
        sa.UniqueConstraint("uuid", name="uq_measurements_uuid"),
    )
    op.create_index("ix_measurements_test_time", "measurements", ["test_time"])
    op.create_index("ix_measurements_asn", "measurements", ["asn"])
    op.create_table(
        "survey_response",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("form", sa.String(64), nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("consent", sa.Boolean, nullable=False),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("accuracy", sa.Float),
        sa.Column("client_ip", sa.String(45)),
        sa.Column("download_id", sa.Integer),
        sa.Column("upload_id", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_survey_response"),
        sa.ForeignKeyConstraint(
            ["download_id"], ["measurements.id"], name="fk_survey_response_download_id_measurements"
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"], ["measurements.id"], name="fk_survey_response_upload_id_measurements"
        ),
        sa.UniqueConstraint("download_id", name="uq_survey_response_download_id"),
        sa.UniqueConstraint("upload_id", name="uq_survey_response_upload_id"),
    )


def downgrade() -> None:
    op.drop_table("survey_response")
    op.drop_index("ix_measurements_asn", table_name="measurements")
    op.drop_index("ix_measurements_test_time", table_name="measurements")
    op.drop_table("measurements")
