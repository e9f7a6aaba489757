"""Initial schema: stations, cells, areas, keys, exports, datamap, stats, queue.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SHARDS = "0123456789abcdef"
RADIOS = ("gsm", "wcdma", "lte", "nr")
QUADRANTS = ("ne", "nw", "se", "sw")


def _station_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("max_lat", sa.Float),
        sa.Column("min_lat", sa.Float),
        sa.Column("max_lon", sa.Float),
        sa.Column("min_lon", sa.Float),
        sa.Column("radius", sa.Integer),
        sa.Column("region", sa.String(2)),
        sa.Column("samples", sa.BigInteger),
        sa.Column("source", sa.SmallInteger),
        sa.Column("weight", sa.Float),
        sa.Column("created", sa.DateTime),
        sa.Column("modified", sa.DateTime),
        sa.Column("last_seen", sa.Date),
        sa.Column("block_first", sa.Date),
        sa.Column("block_last", sa.Date),
        sa.Column("block_count", sa.SmallInteger),
    ]


def _station_indexes(name: str) -> None:
    op.create_index(f"ix_{name}_region", name, ["region"])
    op.create_index(f"ix_{name}_modified", name, ["modified"])


def upgrade() -> None:
    for prefix in ("wifi", "blue"):
        for shard in SHARDS:
            name = f"{prefix}_shard_{shard}"
            op.create_table(
                name,
                sa.Column("mac", sa.LargeBinary(6), nullable=False),
                *_station_columns(),
                sa.PrimaryKeyConstraint("mac", name=f"pk_{name}"),
            )
            _station_indexes(name)
    for radio in RADIOS:
        name = f"cell_{radio}"
        op.create_table(
            name,
            sa.Column("cellid", sa.LargeBinary(17), nullable=False),
            sa.Column("radio", sa.SmallInteger, nullable=False),
            sa.Column("mcc", sa.SmallInteger, nullable=False),
            sa.Column("mnc", sa.SmallInteger, nullable=False),
            sa.Column("lac", sa.Integer, nullable=False),
            sa.Column("cid", sa.BigInteger, nullable=False),
            sa.Column("psc", sa.SmallInteger),
            *_station_columns(),
            sa.PrimaryKeyConstraint("cellid", name=f"pk_{name}"),
            sa.UniqueConstraint(
                "radio", "mcc", "mnc", "lac", "cid", name=f"uq_{name}_radio_mcc_mnc_lac_cid"
            ),
        )
        _station_indexes(name)
        op.create_index(f"ix_{name}_area", name, ["mcc", "mnc", "lac"])
    op.create_table(
        "cell_area",
        sa.Column("areaid", sa.LargeBinary(9), nullable=False),
        sa.Column("radio", sa.SmallInteger, nullable=False),
        sa.Column("mcc", sa.SmallInteger, nullable=False),
        sa.Column("mnc", sa.SmallInteger, nullable=False),
        sa.Column("lac", sa.Integer, nullable=False),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("radius", sa.Integer),
        sa.Column("region", sa.String(2)),
        sa.Column("avg_cell_radius", sa.Integer),
        sa.Column("num_cells", sa.Integer),
        sa.Column("created", sa.DateTime),
        sa.Column("modified", sa.DateTime),
        sa.Column("last_seen", sa.Date),
        sa.PrimaryKeyConstraint("areaid", name="pk_cell_area"),
        sa.UniqueConstraint("radio", "mcc", "mnc", "lac", name="uq_cell_area_radio_mcc_mnc_lac"),
    )
    op.create_index("ix_cell_area_region_radio", "cell_area", ["region", "radio"])
    op.create_table(
        "cell_area_dirty",
        sa.Column("areaid", sa.LargeBinary(9), nullable=False),
        sa.PrimaryKeyConstraint("areaid", name="pk_cell_area_dirty"),
    )
    op.create_table(
        "api_key",
        sa.Column("valid_key", sa.String(40), nullable=False),
        sa.Column("maxreq", sa.Integer),
        sa.Column("allow_fallback", sa.Boolean, nullable=False),
        sa.Column("allow_locate", sa.Boolean, nullable=False),
        sa.Column("allow_region", sa.Boolean, nullable=False),
        sa.Column("fallback_name", sa.String(40)),
        sa.Column("fallback_schema", sa.String(64)),
        sa.Column("fallback_url", sa.String(256)),
        sa.Column("fallback_ratelimit", sa.Integer),
        sa.Column("fallback_ratelimit_interval", sa.Integer),
        sa.Column("fallback_cache_expire", sa.Integer),
        sa.Column("store_sample_locate", sa.SmallInteger, nullable=False),
        sa.Column("store_sample_submit", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("valid_key", name="pk_api_key"),
    )
    export_config = op.create_table(
        "export_config",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("schema", sa.String(32), nullable=False),
        sa.Column("url", sa.String(512)),
        sa.Column("skip_keys", sa.String(1024)),
        sa.Column("skip_sources", sa.String(64)),
        sa.PrimaryKeyConstraint("name", name="pk_export_config"),
    )
    # The internal export is the only path into the station tables.
    op.bulk_insert(
        export_config,
        [
            {
                "name": "internal",
                "batch": 100,
                "schema": "internal",
                "url": None,
                "skip_keys": None,
                "skip_sources": None,
            }
        ],
    )
    for quad in QUADRANTS:
        name = f"datamap_{quad}"
        op.create_table(
            name,
            sa.Column("grid", sa.LargeBinary(8), nullable=False),
            sa.Column("created", sa.Date, nullable=False),
            sa.Column("modified", sa.Date, nullable=False),
            sa.PrimaryKeyConstraint("grid", name=f"pk_{name}"),
        )
        op.create_index(f"ix_{name}_created", name, ["created"])
        op.create_index(f"ix_{name}_modified", name, ["modified"])
    op.create_table(
        "stat",
        sa.Column("key", sa.SmallInteger, nullable=False),
        sa.Column("time", sa.Date, nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", "time", name="pk_stat"),
    )
    op.create_table(
        "region_stat",
        sa.Column("region", sa.String(2), nullable=False),
        sa.Column("gsm", sa.Integer, nullable=False),
        sa.Column("wcdma", sa.Integer, nullable=False),
        sa.Column("lte", sa.Integer, nullable=False),
        sa.Column("nr", sa.Integer, nullable=False),
        sa.Column("blue", sa.BigInteger, nullable=False),
        sa.Column("wifi", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("region", name="pk_region_stat"),
    )
    op.create_table(
        "stat_counter",
        sa.Column("key", sa.SmallInteger, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("shard", sa.String(16), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", "day", "shard", name="pk_stat_counter"),
    )
    op.create_table(
        "queue_item",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_queue_item"),
    )
    op.create_index("ix_queue_item_queue_id", "queue_item", ["queue", "id"])
    op.create_table(
        "queue_batch",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_queue_batch"),
    )
    op.create_index("ix_queue_batch_queue_lease", "queue_batch", ["queue", "lease_until"])
    op.create_table(
        "applied_batch",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("applied", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_applied_batch"),
    )


def downgrade() -> None:
    names = ["applied_batch", "queue_batch", "queue_item", "stat_counter", "region_stat", "stat"]
    names += [f"datamap_{q}" for q in QUADRANTS]
    names += ["export_config", "api_key", "cell_area_dirty", "cell_area"]
    names += [f"cell_{r}" for r in RADIOS]
    names += [f"{p}_shard_{s}" for p in ("blue", "wifi") for s in SHARDS]
    for name in names:
        op.drop_table(name)
