"""The external fallback provider: another geolocation service asked on a key's behalf.

A key row may name a provider (``fallback_name``, ``fallback_schema``, ``fallback_url``,
``fallback_ratelimit`` per ``fallback_ratelimit_interval`` seconds, ``fallback_cache_expire``).
When our own data and GeoIP do not answer well enough, the locate code hands the query's
networks to :meth:`FallbackClient.lookup`, which follows Ichnaea's rules:

* **Outbound**: one JSON POST, ``User-Agent: NetAtlas``, 5 s timeout (per connect / read /
  write phase), one retry of a failed connection, at most 20 pooled connections, only to
  public addresses (:mod:`netatlas.http.outbound`), an answer of at most 64 KiB. Four body
  schemas: ``ichnaea/v1`` and ``combain/v1`` (the geolocate body, with ``fallbacks: {lacf:
  <the query's value>, ipf: false}`` so the provider never locates *our* address),
  ``googlemaps/v1`` (no Bluetooth, no PSC, no SSID, ``considerIp: false``) and
  ``unwiredlabs/v1`` (the token is the URL's fragment, fields renamed, ``status`` /
  ``message`` in the answer).
* **Answer**: HTTP 404 (or Unwired Labs' "No matches found") is "not found" and is cached;
  any other non-2xx status, a timeout or a malformed body is an error: no result, nothing
  cached. A position scores 10, or 5 when the provider says it is a cell-area estimate
  (``fallback: "lacf"``, the only fallback value kept).
* **Cache** (only if the key sets ``fallback_cache_expire``, and only for queries with one
  cell and nothing else, or 1–19 WiFi networks and nothing else, or 1–19 Bluetooth beacons
  and nothing else): each network of the query is a cache entry holding the answer (or "not
  found"). A later query is answered from the cache if every one of its networks is
  cached and either all say "not found", or all hold positions in the same ~100 m grid cell
  of (lat, lon) with the same fallback flag: then the answer is their mean centre, with an
  accuracy covering every cached circle. Anything else is asked again. (Ichnaea built the
  grid cell from the latitude twice, so answers on one parallel but far apart agreed; here
  the longitude counts.) Cached answers do not count against the rate limit.
* **Rate limit**: each call out is counted by the limiter (see :mod:`netatlas.location.
  limits`); over the key's limit, or with the counter store down, nothing is asked.

The client is synchronous (``httpx.Client``, thread-safe): the locate code runs in a worker
thread, like the database look-ups before it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urldefrag

import httpx
import msgspec
import redis
from redis.exceptions import RedisError

from netatlas.geo.distance import distance
from netatlas.http.outbound import GuardedTransport
from netatlas.http.ratelimit import redis_client
from netatlas.settings import Settings

__all__ = [
    "CACHE_MAX_NETWORKS",
    "SCHEMAS",
    "BlueNetwork",
    "CellNetwork",
    "FallbackCache",
    "FallbackClient",
    "FallbackConfig",
    "FallbackOutcome",
    "FallbackQuery",
    "FallbackRateLimit",
    "FallbackResult",
    "MemoryFallbackCache",
    "RedisFallbackCache",
    "WifiNetwork",
    "build_body",
    "cache_keys",
    "fallback_client_from_settings",
]

log = logging.getLogger(__name__)

SCHEMAS = ("ichnaea/v1", "combain/v1", "googlemaps/v1", "unwiredlabs/v1")
#: A WiFi-only or Bluetooth-only query is cached only with fewer networks than this.
CACHE_MAX_NETWORKS = 20
#: Score of a provider's answer, and of one it marks as a cell-area estimate.
SCORE = 10.0
SCORE_LACF = 5.0
#: Grid used to decide whether cached answers agree: 1/1000 degree, about 100 m.
GRID_SCALE = 1000
TIMEOUT = 5.0
USER_AGENT = "NetAtlas"
#: Longest answer read from a provider (a position is a few hundred bytes).
MAX_ANSWER = 64 * 1024

_NOT_FOUND = b"404"


# --------------------------------------------------------------------------- query and config


@dataclass(frozen=True, slots=True)
class WifiNetwork:
    """One WiFi access point of a query; ``mac`` as 12 hex digits (separators allowed)."""

    mac: str
    signal: int | None = None  # dBm
    age: int | None = None  # ms
    channel: int | None = None
    frequency: int | None = None  # MHz
    snr: int | None = None  # dB
    ssid: str | None = None


@dataclass(frozen=True, slots=True)
class BlueNetwork:
    """One Bluetooth beacon of a query."""

    mac: str
    signal: int | None = None
    age: int | None = None


@dataclass(frozen=True, slots=True)
class CellNetwork:
    """One cell of a query; ``cid`` None for a cell-area (LAC only) entry."""

    radio: str  # gsm, wcdma, lte or nr
    mcc: int
    mnc: int
    lac: int
    cid: int | None = None
    psc: int | None = None
    age: int | None = None
    signal: int | None = None
    ta: int | None = None
    asu: int | None = None


@dataclass(frozen=True, slots=True)
class FallbackQuery:
    """What the provider is asked about: validated networks and the ``lacf`` flag."""

    wifis: Sequence[WifiNetwork] = ()
    cells: Sequence[CellNetwork] = ()
    blues: Sequence[BlueNetwork] = ()
    lacf: bool = True

    @property
    def empty(self) -> bool:
        return not (self.wifis or self.cells or self.blues)


@dataclass(frozen=True, slots=True)
class FallbackConfig:
    """A key's provider settings (the ``fallback_*`` columns of ``api_key``)."""

    name: str
    schema: str
    url: str
    ratelimit: int
    ratelimit_interval: int
    cache_expire: int = 0

    def __post_init__(self) -> None:
        if self.schema not in SCHEMAS:
            raise ValueError(f"unknown fallback schema {self.schema!r}")

    @classmethod
    def from_key(cls, key: object) -> FallbackConfig | None:
        """The config of a key row (any object with the ``api_key`` column names as
        attributes), or None when the key may not fall back: ``allow_fallback`` off, or a
        name, URL, rate limit or interval missing, or a schema we do not speak. A missing
        schema means ``ichnaea/v1``."""
        if not getattr(key, "allow_fallback", False):
            return None
        name = getattr(key, "fallback_name", None)
        url = getattr(key, "fallback_url", None)
        ratelimit = getattr(key, "fallback_ratelimit", None)
        interval = getattr(key, "fallback_ratelimit_interval", None)
        schema = getattr(key, "fallback_schema", None) or "ichnaea/v1"
        if not name or not url or ratelimit is None or not interval or schema not in SCHEMAS:
            return None
        return cls(
            name=str(name),
            schema=str(schema),
            url=str(url),
            ratelimit=int(ratelimit),
            ratelimit_interval=int(interval),
            cache_expire=int(getattr(key, "fallback_cache_expire", None) or 0),
        )


@dataclass(frozen=True, slots=True)
class FallbackResult:
    """A provider's position (fields as the locate code's ``Result``)."""

    lat: float
    lon: float
    accuracy: float
    score: float
    fallback: str | None = None  # "lacf" or None
    source: str = "fallback"
    region: str | None = None


Status = Literal["ok", "not_found", "error", "rate_limited", "skipped"]


@dataclass(frozen=True, slots=True)
class FallbackOutcome:
    """What :meth:`FallbackClient.lookup` did: ``status`` and, if "ok", the result.

    ``cached`` tells whether the answer ("ok" or "not_found") came from the cache.
    """

    status: Status
    result: FallbackResult | None = None
    cached: bool = False


# --------------------------------------------------------------------------- outbound bodies


def _mac12(mac: str) -> str | None:
    value = mac.lower().replace(":", "").replace("-", "").replace(".", "")
    if len(value) != 12 or any(c not in "0123456789abcdef" for c in value):
        return None
    return value


def _colon_mac(mac12: str) -> str:
    return ":".join(mac12[i : i + 2] for i in range(0, 12, 2))


# (name in the outbound body, attribute of the network) per schema and network type.
Fields = tuple[tuple[str, str], ...]
_BLUE: Fields = (("macAddress", "mac"), ("age", "age"), ("signalStrength", "signal"))
_CELL: Fields = (
    ("radioType", "radio"),
    ("mobileCountryCode", "mcc"),
    ("mobileNetworkCode", "mnc"),
    ("locationAreaCode", "lac"),
    ("cellId", "cid"),
    ("primaryScramblingCode", "psc"),
    ("age", "age"),
    ("signalStrength", "signal"),
    ("timingAdvance", "ta"),
)
_WIFI: Fields = (
    ("macAddress", "mac"),
    ("age", "age"),
    ("channel", "channel"),
    ("signalStrength", "signal"),
    ("signalToNoiseRatio", "snr"),
    ("ssid", "ssid"),
)
_GOOGLE_CELL: Fields = tuple(f for f in _CELL if f[1] != "psc")
_GOOGLE_WIFI: Fields = tuple(f for f in _WIFI if f[1] != "ssid")
_UNWIRED_CELL: Fields = (
    ("radio", "radio"),
    ("mcc", "mcc"),
    ("mnc", "mnc"),
    ("lac", "lac"),
    ("cid", "cid"),
    ("signal", "signal"),
    ("tA", "ta"),
    ("psc", "psc"),
    ("asu", "asu"),
)
_UNWIRED_WIFI: Fields = (
    ("bssid", "mac"),
    ("channel", "channel"),
    ("frequency", "frequency"),
    ("signal", "signal"),
    ("signalToNoiseRatio", "snr"),
)
_UNWIRED_RADIO = {"wcdma": "umts"}


def _entries(networks: Sequence[object], fields: Fields) -> list[dict[str, Any]]:
    """Outbound entries, without empty fields; entries with an invalid MAC are left out."""
    entries = []
    for network in networks:
        entry: dict[str, Any] = {}
        for name, attr in fields:
            value = getattr(network, attr)
            if attr == "mac":
                value = _mac12(value)
                if value is None:
                    break
                value = _colon_mac(value)
            if value is not None:
                entry[name] = value
        else:
            entries.append(entry)
    return entries


def _geolocate_body(query: FallbackQuery, *, google: bool) -> dict[str, Any]:
    parts = {
        "bluetoothBeacons": [] if google else _entries(query.blues, _BLUE),
        "cellTowers": _entries(query.cells, _GOOGLE_CELL if google else _CELL),
        "wifiAccessPoints": _entries(query.wifis, _GOOGLE_WIFI if google else _WIFI),
    }
    body: dict[str, Any] = {name: entries for name, entries in parts.items() if entries}
    if not body:
        return body
    if google:
        body["considerIp"] = False
    else:
        body["fallbacks"] = {"lacf": query.lacf, "ipf": False}
    return body


def _unwired_body(query: FallbackQuery, token: str) -> dict[str, Any]:
    cells = _entries(query.cells, _UNWIRED_CELL)
    for cell in cells:
        cell["radio"] = _UNWIRED_RADIO.get(cell["radio"], cell["radio"])
    parts = {"cells": cells, "wifi": _entries(query.wifis, _UNWIRED_WIFI)}
    body: dict[str, Any] = {name: entries for name, entries in parts.items() if entries}
    if not body:
        return body
    body["token"] = token
    body["fallbacks"] = {"lacf": int(query.lacf), "ipf": 0}
    body["address"] = 0
    return body


def build_body(schema: str, url: str, query: FallbackQuery) -> tuple[str, dict[str, Any]]:
    """The URL to POST to and the JSON body for ``schema``; an empty body means the
    schema cannot carry any of the query's networks (e.g. Bluetooth to Google)."""
    if schema == "unwiredlabs/v1":
        plain, token = urldefrag(url)
        return plain, _unwired_body(query, token)
    if schema not in SCHEMAS:
        raise ValueError(f"unknown fallback schema {schema!r}")
    plain, _fragment = urldefrag(url)
    return plain, _geolocate_body(query, google=schema == "googlemaps/v1")


# --------------------------------------------------------------------------- answers


class _Error(Exception):
    pass


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _make_result(lat: object, lon: object, accuracy: object, fallback: object) -> FallbackResult:
    la, lo, acc = _number(lat), _number(lon), _number(accuracy)
    if la is None or lo is None or acc is None:
        raise _Error("answer without lat, lon and accuracy")
    if not (-90.0 <= la <= 90.0 and -180.0 <= lo <= 180.0) or acc <= 0:
        raise _Error("answer out of range")
    flag = "lacf" if fallback == "lacf" else None
    return FallbackResult(
        lat=la, lon=lo, accuracy=acc, score=SCORE_LACF if flag else SCORE, fallback=flag
    )


def _parse(schema: str, data: Any) -> FallbackResult | None:
    """The result in a 2xx answer's JSON; None for "not found"; _Error if malformed."""
    if not isinstance(data, dict):
        raise _Error("answer is not a JSON object")
    if schema == "unwiredlabs/v1":
        if data.get("status") != "ok":
            if data.get("message") == "No matches found":
                return None
            raise _Error(f"provider error: {data.get('message')!r}")
        return _make_result(
            data.get("lat"), data.get("lon"), data.get("accuracy"), data.get("fallback")
        )
    location = data.get("location")
    if not isinstance(location, dict):
        raise _Error("answer without location")
    return _make_result(
        location.get("lat"), location.get("lng"), data.get("accuracy"), data.get("fallback")
    )


# --------------------------------------------------------------------------- cache


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
            mac = _mac12(network.mac)
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


def _from_cache(values: list[bytes | None]) -> FallbackOutcome | None:
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


# --------------------------------------------------------------------------- client


class FallbackRateLimit(Protocol):
    def fallback_allowed(self, name: str, limit: int, interval: int) -> bool:
        """Count one call for ``name``; False when over the limit (or unknown)."""


class FallbackClient:
    """Asks external providers, with the cache and the rate limit in front.

    ``transport`` replaces the default one (one connection retry, 20 pooled connections,
    public addresses only unless ``allow_private``: see :mod:`netatlas.http.outbound`); proxies
    named in the environment are not used. An answer longer than :data:`MAX_ANSWER` bytes is
    an error, read no further.
    """

    def __init__(
        self,
        cache: FallbackCache,
        limiter: FallbackRateLimit,
        *,
        timeout: float = TIMEOUT,
        user_agent: str = USER_AGENT,
        transport: httpx.BaseTransport | None = None,
        allow_private: bool = False,
    ) -> None:
        self.cache = cache
        self.limiter = limiter
        if transport is None:
            transport = GuardedTransport(
                allow_private=allow_private,
                retries=1,
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
            )
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": user_agent},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def locate(self, config: FallbackConfig, query: FallbackQuery) -> FallbackResult | None:
        """The provider's position for ``query``, or None (not found, error, limited)."""
        return self.lookup(config, query).result

    def lookup(self, config: FallbackConfig, query: FallbackQuery) -> FallbackOutcome:
        """Cache, then rate limit, then the provider; see the module docs for the rules."""
        if query.empty:
            return FallbackOutcome("skipped")
        url, body = build_body(config.schema, config.url, query)
        if not body:
            return FallbackOutcome("skipped")
        keys = cache_keys(config, query)
        if keys is not None:
            cached = _from_cache(self.cache.get_many(keys))
            if cached is not None:
                return cached
        if not self.limiter.fallback_allowed(
            config.name, config.ratelimit, config.ratelimit_interval
        ):
            return FallbackOutcome("rate_limited")
        try:
            result = self._call(config.schema, url, body)
        except _Error as exc:
            log.warning("fallback %s failed: %s", config.name, exc)
            return FallbackOutcome("error")
        if keys is not None:
            if result is None:
                value = _NOT_FOUND
            else:
                value = _encode.encode(
                    _CachedPosition(result.lat, result.lon, result.accuracy, result.fallback)
                )
            self.cache.set_many(keys, value, config.cache_expire)
        if result is None:
            return FallbackOutcome("not_found")
        return FallbackOutcome("ok", result)

    def _call(self, schema: str, url: str, body: dict[str, Any]) -> FallbackResult | None:
        try:
            with self._http.stream(
                "POST", url, content=_encode.encode(body), headers=_JSON
            ) as response:
                if response.status_code == 404:
                    return None
                if not 200 <= response.status_code < 300:
                    raise _Error(f"HTTP {response.status_code}")
                content = _read_capped(response)
        except httpx.HTTPError as exc:
            raise _Error(f"{type(exc).__name__}: {exc}") from exc
        try:
            data = msgspec.json.decode(content)
        except msgspec.DecodeError as exc:
            raise _Error(f"answer is not JSON: {exc}") from exc
        return _parse(schema, data)


# Answers come uncompressed if the provider honours Accept-Encoding (they are small).
_JSON = {"Content-Type": "application/json", "Accept-Encoding": "identity"}


def _read_capped(response: httpx.Response) -> bytes:
    """The body, or _Error once it (or what it decompresses to) passes :data:`MAX_ANSWER`
    bytes. Raw bytes are read and decompressed here, with a bound: a small compressed answer
    must not inflate into megabytes in one piece."""
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_ANSWER:
        raise _Error(f"answer of {declared} bytes, over the {MAX_ANSWER} byte limit")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > MAX_ANSWER:
            raise _Error(f"answer over the {MAX_ANSWER} byte limit")
        chunks.append(chunk)
    raw = b"".join(chunks)
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise _Error(f"answer in an encoding not asked for: {encoding[:20]!r}")
    inflate = zlib.decompressobj(zlib.MAX_WBITS | (16 if "gzip" in encoding else 0))
    try:
        data = inflate.decompress(raw, MAX_ANSWER + 1)
    except zlib.error as exc:
        raise _Error(f"answer not {encoding}: {exc}") from exc
    if len(data) > MAX_ANSWER or inflate.unconsumed_tail:
        raise _Error(f"answer over the {MAX_ANSWER} byte limit once decompressed")
    return data


def fallback_client_from_settings(settings: Settings, limiter: FallbackRateLimit) -> FallbackClient:
    """A client caching in Redis in scale-out mode, in process memory in embedded mode."""
    cache: FallbackCache
    if settings.redis_url:
        cache = RedisFallbackCache(redis_client(settings.redis_url))
    else:
        cache = MemoryFallbackCache()
    return FallbackClient(cache, limiter, allow_private=settings.allow_private_targets)
