"""Export targets: where accepted submissions are copied (Ichnaea's export_config)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table

from netatlas.db.metadata import metadata

export_config = Table(
    "export_config",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("batch", Integer, nullable=False, default=100),
    Column("schema", String(32), nullable=False),  # dummy | geosubmit | internal | s3 | file
    Column("url", String(512)),
    Column("skip_keys", String(1024)),  # comma-separated
    Column("skip_sources", String(64)),  # comma-separated
)
