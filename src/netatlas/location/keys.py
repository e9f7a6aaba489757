"""API keys: the format rule, self-service keys' form and hash, and a small in-process cache
of key rows.

Two kinds of key live in ``api_key``:

* keys an operator makes (``netatlas keys create``, the admin pages), kept in clear as in
  Ichnaea: the key is ``valid_key``, ``key_hash`` is empty;
* self-service keys (sign-up): ``<id>-<secret>``, 12 hex digits, a hyphen and 27 letters or
  digits (40 characters, Ichnaea's limit). Only the id is kept in clear (``valid_key``: what
  counters, exports and the admin pages name the key by) and the SHA-256 of the whole key in
  ``key_hash``; the key itself is shown once and cannot be read back. The secret holds about
  160 random bits, so a fast hash is enough (as for admin session tokens).

A row with a hash is never matched by its id alone.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, or_, select
from sqlalchemy.exc import SQLAlchemyError

from netatlas.location.models import api_key, key_block

__all__ = [
    "CACHE_SECONDS",
    "ApiKey",
    "Block",
    "KeyCache",
    "hash_key",
    "new_self_service_key",
    "self_service_id",
    "well_formed",
]

# Ichnaea compatibility: 4–40 letters, digits or hyphens; anything else counts as no key.
_KEY_RE = re.compile(r"^[A-Za-z0-9-]{4,40}$")
_SELF_RE = re.compile(r"^([0-9a-f]{12})-[A-Za-z0-9]{27}$")
_ALPHABET = string.ascii_letters + string.digits
CACHE_SECONDS = 300.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Block:
    """The key is refused from ``network`` (None: everywhere) until ``until`` (seconds since
    the epoch; None: until the block is removed)."""

    network: Network | None
    until: float | None

    def applies(self, ip: str | None, now: float) -> bool:
        if self.until is not None and self.until <= now:
            return False
        if self.network is None:
            return True
        try:
            return ip is not None and ipaddress.ip_address(ip) in self.network
        except ValueError:
            return False


@dataclass(frozen=True)
class ApiKey:
    valid_key: str
    maxreq: int | None = None
    allow_fallback: bool = False
    allow_locate: bool = True
    allow_region: bool = True
    store_sample_locate: int = 100
    store_sample_submit: int = 100
    fallback_name: str | None = None
    fallback_schema: str | None = None
    fallback_url: str | None = None
    fallback_ratelimit: int | None = None
    fallback_ratelimit_interval: int | None = None
    fallback_cache_expire: int | None = None
    status: str = "active"  # or "pending" (awaits approval), "revoked"
    blocks: tuple[Block, ...] = ()

    @property
    def active(self) -> bool:
        return self.status == "active"

    def block_for(self, ip: str | None, now: float) -> Block | None:
        """The block refusing this key to ``ip`` at ``now``, if any (the longest first)."""
        found = [b for b in self.blocks if b.applies(ip, now)]
        if not found:
            return None
        return max(found, key=lambda b: float("inf") if b.until is None else b.until)


def well_formed(key: str | None) -> str | None:
    if key and _KEY_RE.match(key):
        return key
    return None


def hash_key(key: str) -> str:
    """What ``key_hash`` holds for a self-service key."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def self_service_id(key: str) -> str | None:
    """The public id of a key of the self-service form, else None."""
    found = _SELF_RE.match(key)
    return found.group(1) if found else None


def new_self_service_key() -> tuple[str, str]:
    """A fresh self-service key and its id."""
    key_id = secrets.token_hex(6)
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(27))
    return f"{key_id}-{secret}", key_id


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC).timestamp() if value.tzinfo is None else value.timestamp()


def _blocks(conn: Connection, name: str) -> tuple[Block, ...]:
    rows = conn.execute(select(key_block).where(key_block.c.valid_key == name)).all()
    found = []
    for row in rows:
        network = None
        if row.network:
            try:
                network = ipaddress.ip_network(row.network, strict=False)
            except ValueError:
                continue
        found.append(Block(network, _epoch(row.until)))
    return tuple(found)


def find_key(conn: Connection, key: str) -> ApiKey | None:
    """The row of ``key`` (a well-formed key, either kind), with its blocks; None if unknown."""
    key_id = self_service_id(key)
    names = [key] if key_id is None else [key, key_id]
    rows = conn.execute(select(api_key).where(or_(*(api_key.c.valid_key == n for n in names))))
    for row in rows:
        if row.key_hash is None:
            if row.valid_key != key:
                continue
        elif row.valid_key != key_id or not hmac.compare_digest(row.key_hash, hash_key(key)):
            continue
        return ApiKey(
            valid_key=row.valid_key,
            maxreq=row.maxreq,
            allow_fallback=bool(row.allow_fallback),
            allow_locate=bool(row.allow_locate),
            allow_region=bool(row.allow_region),
            store_sample_locate=row.store_sample_locate,
            store_sample_submit=row.store_sample_submit,
            fallback_name=row.fallback_name,
            fallback_schema=row.fallback_schema,
            fallback_url=row.fallback_url,
            fallback_ratelimit=row.fallback_ratelimit,
            fallback_ratelimit_interval=row.fallback_ratelimit_interval,
            fallback_cache_expire=row.fallback_cache_expire,
            status=row.status or "active",
            blocks=_blocks(conn, row.valid_key),
        )
    return None


class KeyCache:
    """Key rows cached for five minutes; unknown keys are cached too."""

    def __init__(self, engine: Engine, ttl: float = CACHE_SECONDS) -> None:
        self.engine = engine
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    def lookup(self, key: str | None) -> ApiKey | None:
        """The key's row whatever its state (revoked and pending keys too)."""
        name = well_formed(key)
        if name is None:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            with self.engine.connect() as conn:
                value = find_key(conn, name)
        except SQLAlchemyError:
            return None
        with self._lock:
            if len(self._cache) > 5000:
                self._cache.clear()
            self._cache[name] = (now + self.ttl, value)
        return value

    def get(self, key: str | None) -> ApiKey | None:
        """The key's row if the key is active; a pending or revoked key counts as no key."""
        found = self.lookup(key)
        return found if found is not None and found.active else None

    def clear(self) -> None:
        """Read every key again (after a change made in this process)."""
        with self._lock:
            self._cache.clear()
