"""The fallback cache: one entry per network of a query, holding the provider's answer.

Only for keys that set ``fallback_cache_expire``, and only for queries with one cell and
nothing else, or 1–19 WiFi networks and nothing else, or 1–19 Bluetooth beacons and nothing
else. A later query is answered from the cache if every one of its networks is cached and
either all say "not found", or all hold positions in the same ~100 m grid cell of (lat, lon)
with the same fallback flag: then the answer is their mean centre, with an accuracy covering
every cached circle. Anything else is asked again. (Ichnaea built the grid cell from the
latitude twice, so answers on one parallel but far apart agreed; here the longitude counts.)

The entries live behind :class:`FallbackCache`: in Redis in scale-out mode, in process memory
in embedded mode.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec
import redis
from redis.exceptions import RedisError

from netatlas.geo.distance import distance
from netatlas.location.fallback.config import FallbackConfig
from netatlas.location.fallback.query import FallbackQuery, mac12
from netatlas.location.fallback.result import (
    SCORE,
    SCORE_LACF,
    FallbackOutcome,
    FallbackResult,
)

__all__ = [
    "CACHE_MAX_NETWORKS",
    "FallbackCache",
    "MemoryFallbackCache",
    "RedisFallbackCache",
    "cache_keys",
    "cache_value",
    "from_cache",
]

log = logging.getLogger(__name__)

#: A WiFi-only or Bluetooth-only query is cached only with fewer networks than this.
CACHE_MAX_NETWORKS = 20
#: Grid used to decide whether cached answers agree: 1/1000 degree, about 100 m.
GRID_SCALE = 1000

_NOT_FOUND = b"404"


class FallbackCache(Protocol):
    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The cached value of each key, None where missing (all None if unreachable)."""

    def set_many(self, keys: Sequence[str], value: bytes, ttl: int) -> None:
        """Store ``value`` under every key for ``ttl`` seconds (best effort)."""


class RedisFallbackCache:
    """The cache in Redis (scale-out): shared by every web process."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        try:
            values = self.client.mget(list(keys))
        except RedisError as exc:
            log.warning("fallback cache not read: %s", exc)
            return [None] * len(keys)
        return [v if isinstance(v, bytes) else None for v in values]

    def set_many(self, keys: Sequence[str], value: bytes, ttl: int) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, value, ex=max(1, ttl))
            pipe.execute()
        except RedisError as exc:
            log.warning("fallback cache not written: %s", exc)


class MemoryFallbackCache:
    """The cache in process memory (embedded mode): a TTL map of bounded size.

    When full, expired entries are dropped, then the oldest stored.
    """

    def __init__(
        self, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._data: dict[str, tuple[float, bytes]] = {}

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = self.clock()
        out: list[bytes | None] = []
        with self._lock:
            for key in keys:
                hit = self._data.get(key)
                out.append(hit[1] if hit is not None and hit[0] > now else None)
        return out

    def set_many(self, keys: Sequence[str], value: bytes, ttl: int) -> None:
        now = self.clock()
        expires = now + max(1, ttl)
        with self._lock:
            for key in keys:
                self._data.pop(key, None)  # re-insert: the newest entries stay last
                self._data[key] = (expires, value)
            if len(self._data) > self.max_entries:
                self._shrink(now)

    def _shrink(self, now: float) -> None:
        self._data = {k: v for k, v in self._data.items() if v[0] > now}
        excess = len(self._data) - self.max_entries
        if excess > 0:
            for key in list(self._data)[:excess]:
                del self._data[key]


def _cacheable(query: FallbackQuery) -> bool:
    wifis, cells, blues = len(query.wifis), len(query.cells), len(query.blues)
    if cells == 1 and not wifis and not blues:
        return query.cells[0].cid is not None
    if wifis and not cells and not blues:
        return wifis < CACHE_MAX_NETWORKS
    if blues and not cells and not wifis:
        return blues < CACHE_MAX_NETWORKS
    return False


def cache_keys(config: FallbackConfig, query: FallbackQuery) -> list[str] | None:
    """One cache key per network of a cacheable query; None if the query is not cached."""
    if config.cache_expire <= 0 or not _cacheable(query):
        return None
    prefix = f"cache:fallback:{config.name}:{config.schema}:"
    keys: list[str] = []
    for cell in query.cells:
        keys.append(f"{prefix}cell:{cell.radio}:{cell.mcc}:{cell.mnc}:{cell.lac}:{cell.cid}")
    for kind, networks in (("wifi", query.wifis), ("blue", query.blues)):
        for network in networks:
            mac = mac12(network.mac)
            if mac is None:
                return None
            keys.append(f"{prefix}{kind}:{mac}")
    return sorted(set(keys))


class _CachedPosition(msgspec.Struct, frozen=True):
    lat: float
    lon: float
    accuracy: float
    fallback: str | None = None


_encode = msgspec.json.Encoder()
_decode_cached = msgspec.json.Decoder(_CachedPosition)


def cache_value(result: FallbackResult | None) -> bytes:
    """What is stored for a provider's answer: its position, or "not found" for None."""
    if result is None:
        return _NOT_FOUND
    return _encode.encode(_CachedPosition(result.lat, result.lon, result.accuracy, result.fallback))


def from_cache(values: list[bytes | None]) -> FallbackOutcome | None:
    """The cached answer for a query, or None when the provider must be asked."""
    if not values or any(v is None for v in values):
        return None
    if all(v == _NOT_FOUND for v in values):
        return FallbackOutcome("not_found", cached=True)
    positions: list[_CachedPosition] = []
    for value in values:
        if value == _NOT_FOUND or value is None:
            return None  # some networks found, some not: ask again
        try:
            positions.append(_decode_cached.decode(value))
        except msgspec.DecodeError:
            return None
    cells = {(round(p.lat * GRID_SCALE), round(p.lon * GRID_SCALE), p.fallback) for p in positions}
    if len(cells) != 1:
        return None
    lat = sum(p.lat for p in positions) / len(positions)
    lon = sum(p.lon for p in positions) / len(positions)
    accuracy = max(distance(lat, lon, p.lat, p.lon) + p.accuracy for p in positions)
    flag = positions[0].fallback
    result = FallbackResult(
        lat=lat,
        lon=lon,
        accuracy=accuracy,
        score=SCORE_LACF if flag == "lacf" else SCORE,
        fallback=flag,
    )
    return FallbackOutcome("ok", result, cached=True)
