"""Abuse handling for API keys: approving, revoking and restoring a key, and per-key blocks
(from a network, for a period, or both). The admin pages call these with an audit hook; the
key cache of every process sees a change within :data:`netatlas.location.keys.CACHE_SECONDS`.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from netatlas.location.keyadmin import KeyConflict, OnChange
from netatlas.location.models import api_key, key_block

__all__ = ["STATUSES", "BadBlock", "add_block", "list_blocks", "remove_block", "set_status"]

STATUSES = ("active", "pending", "revoked")
_MAX_HOURS = 24 * 366 * 10


class BadBlock(ValueError):
    """A block that cannot be made; ``errors`` maps form fields to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _exists(conn: Connection, name: str) -> bool:
    found = conn.execute(select(api_key.c.valid_key).where(api_key.c.valid_key == name)).first()
    return found is not None


def set_status(
    engine: Engine, name: str, status: str, *, on_change: OnChange | None = None
) -> None:
    """Make the key ``active`` (approve, restore), ``pending`` or ``revoked``."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    with engine.begin() as conn:
        if not _exists(conn, name):
            raise KeyConflict({"valid_key": f"no key {name}"})
        conn.execute(update(api_key).where(api_key.c.valid_key == name).values(status=status))
        if on_change is not None:
            on_change(conn, name, {"status": status})


def parse_block(network: str, hours: str) -> tuple[str | None, int | None]:
    """A block's network (normalised CIDR, None: everywhere) and length in hours (None: until
    removed) from form text; :class:`BadBlock` naming the bad fields."""
    errors: dict[str, str] = {}
    cidr = None
    if network.strip():
        try:
            cidr = str(ipaddress.ip_network(network.strip(), strict=False))
        except ValueError:
            errors["network"] = "an address or network, e.g. 192.0.2.0/24 or 2001:db8::/48"
    length = None
    if hours.strip():
        raw = hours.strip()
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= _MAX_HOURS:
            errors["hours"] = f"a whole number of hours from 1 to {_MAX_HOURS}, or empty"
        else:
            length = int(raw)
    if errors:
        raise BadBlock(errors)
    return cidr, length


def add_block(
    engine: Engine,
    name: str,
    network: str | None,
    hours: int | None,
    reason: str | None,
    by: str | None,
    *,
    on_change: OnChange | None = None,
) -> int:
    """Block the key from ``network`` (None: everywhere) for ``hours`` (None: until removed);
    the block's id."""
    until = None if hours is None else _now() + timedelta(hours=hours)
    with engine.begin() as conn:
        if not _exists(conn, name):
            raise KeyConflict({"valid_key": f"no key {name}"})
        result = conn.execute(
            insert(key_block).values(
                valid_key=name,
                network=network,
                until=until,
                reason=(reason or "").strip()[:255] or None,
                created=_now(),
                created_by=by,
            )
        )
        block_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        if on_change is not None:
            on_change(conn, name, {"block": block_id, "network": network, "until": until})
    return block_id


def remove_block(
    engine: Engine, name: str, block_id: int, *, on_change: OnChange | None = None
) -> None:
    with engine.begin() as conn:
        gone = conn.execute(
            delete(key_block).where(key_block.c.id == block_id, key_block.c.valid_key == name)
        ).rowcount
        if not gone:
            raise KeyConflict({"block": f"no block {block_id} on key {name}"})
        if on_change is not None:
            on_change(conn, name, {"block": block_id})


def list_blocks(engine: Engine, name: str | None = None) -> list[dict[str, Any]]:
    """Blocks (of one key, or all), newest first; ended ones included, marked ``ended``."""
    stmt = select(key_block).order_by(key_block.c.id.desc())
    if name is not None:
        stmt = stmt.where(key_block.c.valid_key == name)
    now = _now()
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [{**r._mapping, "ended": r.until is not None and r.until <= now} for r in rows]
