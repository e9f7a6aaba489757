"""Station, cell area and API key tables, with Ichnaea's names and columns.

WiFi and Bluetooth stations are split over 16 tables each by the 5th hex character of the MAC
(Ichnaea compatibility: that nibble spreads a vendor's OUI evenly over the shards). Cells are
split by radio; ``cell_nr`` is NetAtlas's addition for 5G (36-bit cell ids, 24-bit TACs).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)

from netatlas.db.metadata import metadata

SHARDS = "0123456789abcdef"
RADIOS = ("gsm", "wcdma", "lte", "nr")
# Ichnaea's radio numbers (gsm 0, cdma 1, wcdma 2, lte 3), with nr next.
RADIO_CODE = {"gsm": 0, "cdma": 1, "wcdma": 2, "lte": 3, "nr": 4}
RADIO_NAME = {v: k for k, v in RADIO_CODE.items()}
# ReportSource numbers stored in the station tables.
SOURCE_CODE = {"fixed": 0, "gnss": 3, "fused": 6, "query": 9}


def _station_columns() -> list[Column[object]]:
    return [
        Column("lat", Float),
        Column("lon", Float),
        Column("max_lat", Float),
        Column("min_lat", Float),
        Column("max_lon", Float),
        Column("min_lon", Float),
        Column("radius", Integer),
        Column("region", String(2)),
        Column("samples", BigInteger),
        Column("source", SmallInteger),
        Column("weight", Float),
        Column("created", DateTime),
        Column("modified", DateTime),
        Column("last_seen", Date),
        Column("block_first", Date),
        Column("block_last", Date),
        Column("block_count", SmallInteger),
        # Who vouches for the current position (offline packs publish only stations seen by
        # two contributors on two days): a keyed 31-bit hash of the first contributor, dropped
        # once a second one is seen; distinct contributors (up to 2); distinct days (up to 255).
        # All three restart with the position (new, moved, replaced or blocked station).
        Column("contributor", Integer),
        Column("contributors", SmallInteger),
        Column("days", SmallInteger),
    ]


def _mac_table(prefix: str, shard: str) -> Table:
    name = f"{prefix}_shard_{shard}"
    return Table(
        name,
        metadata,
        Column("mac", LargeBinary(6), primary_key=True),
        *_station_columns(),
        Index(f"ix_{name}_region", "region"),
        Index(f"ix_{name}_modified", "modified"),
    )


wifi_shards: dict[str, Table] = {s: _mac_table("wifi", s) for s in SHARDS}
blue_shards: dict[str, Table] = {s: _mac_table("blue", s) for s in SHARDS}


def _cell_table(radio: str) -> Table:
    name = f"cell_{radio}"
    return Table(
        name,
        metadata,
        # Packed (radio u8, mcc u16, mnc u16, lac u32, cid u64): see keys.cell_id.
        Column("cellid", LargeBinary(17), primary_key=True),
        Column("radio", SmallInteger, nullable=False),
        Column("mcc", SmallInteger, nullable=False),
        Column("mnc", SmallInteger, nullable=False),
        Column("lac", Integer, nullable=False),
        Column("cid", BigInteger, nullable=False),
        Column("psc", SmallInteger),
        *_station_columns(),
        # NULL for cells learnt from this instance's submissions; otherwise the data set the
        # cell was imported from ("mls", "ocid", …), kept when crowd data later refines it, so
        # imported data (OpenCellID is CC BY-SA) stays apart in public exports.
        Column("origin", String(16)),
        UniqueConstraint("radio", "mcc", "mnc", "lac", "cid"),
        Index(f"ix_{name}_region", "region"),
        Index(f"ix_{name}_modified", "modified"),
        Index(f"ix_{name}_area", "mcc", "mnc", "lac"),
    )


cell_tables: dict[str, Table] = {r: _cell_table(r) for r in RADIOS}

cell_area = Table(
    "cell_area",
    metadata,
    Column("areaid", LargeBinary(9), primary_key=True),  # packed (radio, mcc, mnc, lac)
    Column("radio", SmallInteger, nullable=False),
    Column("mcc", SmallInteger, nullable=False),
    Column("mnc", SmallInteger, nullable=False),
    Column("lac", Integer, nullable=False),
    Column("lat", Float),
    Column("lon", Float),
    Column("radius", Integer),
    Column("region", String(2)),
    Column("avg_cell_radius", Integer),
    Column("num_cells", Integer),
    Column("created", DateTime),
    Column("modified", DateTime),
    Column("last_seen", Date),
    UniqueConstraint("radio", "mcc", "mnc", "lac"),
    Index("ix_cell_area_region_radio", "region", "radio"),
)

# Areas whose cells changed; the cell-area job recomputes them. Written in the cell updater's
# transaction, so no change is missed; recomputing is idempotent.
cell_area_dirty = Table(
    "cell_area_dirty",
    metadata,
    Column("areaid", LargeBinary(9), primary_key=True),
)

api_key = Table(
    "api_key",
    metadata,
    Column("valid_key", String(40), primary_key=True),
    Column("maxreq", Integer),
    Column("allow_fallback", Boolean, nullable=False, default=False),
    Column("allow_locate", Boolean, nullable=False, default=True),
    Column("allow_region", Boolean, nullable=False, default=True),
    Column("fallback_name", String(40)),
    Column("fallback_schema", String(64)),
    Column("fallback_url", String(256)),
    Column("fallback_ratelimit", Integer),
    Column("fallback_ratelimit_interval", Integer),
    Column("fallback_cache_expire", Integer),
    Column("store_sample_locate", SmallInteger, nullable=False, default=100),
    Column("store_sample_submit", SmallInteger, nullable=False, default=100),
    # NetAtlas additions (self-service keys). key_hash: SHA-256 (hex) of a self-service key,
    # whose valid_key is then only its public id; empty: the key is valid_key, in clear.
    Column("key_hash", String(64)),
    Column("status", String(16)),  # empty or "active"; "pending" (awaits approval), "revoked"
    Column("contact", String(255)),  # what the holder gave at sign-up, both optional
    Column("purpose", String(500)),
    Column("created", DateTime),
)

# Per-key blocks: the key is refused from ``network`` (a CIDR; empty: from everywhere) until
# ``until`` (empty: until the block is removed).
key_block = Table(
    "key_block",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("valid_key", String(40), nullable=False),
    Column("network", String(64)),
    Column("until", DateTime),
    Column("reason", String(255)),
    Column("created", DateTime, nullable=False),
    Column("created_by", String(64)),
    Index("ix_key_block_valid_key", "valid_key"),
)
