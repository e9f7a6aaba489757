"""Request limits: daily quotas per API key, rate limits for keyless clients (locate requests,
submitted bytes), and the rate limit on calls to a key's external fallback provider.

Two implementations with the same behaviour, picked by :func:`limiter_from_settings`:

* :class:`RedisLimiter` (scale-out): ``INCR`` + ``EXPIRE`` in one ``MULTI`` per check, so
  every web process shares the counters;
* :class:`SqlLimiter` (embedded): the daily quota and the fallback limit are exact counters in
  the ``rate_counter`` table, updated with one ``INSERT … ON CONFLICT DO UPDATE SET count =
  count + 1 RETURNING count``, so concurrent requests (threads or processes) never lose an
  increment. The keyless per-IP limits are counted in process memory instead: they are checked
  on every keyless request, and a database write per request would cost more than the request
  itself; an embedded install serves from one process, and if it ever runs several each
  enforces the limit on its own share (a client gets at most processes × limit).

Limits (Ichnaea compatible where Ichnaea had them):

* **daily**: counter ``apilimit:<key>:<endpoint>:<YYYYMMDD>`` (UTC day, ``endpoint`` like
  ``v1.geolocate``), kept 25 hours; when ``maxreq`` is set (non-zero) and the count after this
  request's increment exceeds it → :class:`DailyLimitExceeded`. Keys without a limit are not
  counted at all.
* **keyless**: a fixed one-minute window per client address (per /64 for IPv6, which one
  subscriber usually holds whole) → :class:`RateLimitExceeded` with ``retry_after`` = seconds
  to the next window. 0 turns it off.
* **per address**: counter ``<name>:<address>:<epoch // window>`` (IPv6 per /64), kept two
  windows, for other endpoints' own limits (e.g. survey posts an hour);
  :meth:`Limiter.check_address` → :class:`RateLimitExceeded` once more than ``limit`` were
  counted in the window. The SQL limiter keeps these in the database: they are rare requests,
  and every process then shares one count.
* **submit**: submissions without a known key, per client address (per /64 for IPv6), in bytes
  of JSON after decompression, each request counting as at least :data:`SUBMIT_MIN_COST`. A
  token bucket (kept as its "theoretical arrival time", the generic cell rate algorithm) refills
  at ``per_minute`` and holds ``burst``: an address may send ``burst`` bytes at once, then
  ``per_minute`` a minute. A request that does not fit → :class:`RateLimitExceeded` with
  ``retry_after`` = seconds until it would; it is not counted. A single body larger than the
  burst counts as the burst (it passes when the bucket is full). In Redis the bucket is key
  ``submitlimit:<address>``, updated by one Lua script; 0 bytes a minute turns it off.
* **fallback**: counter ``fallback_ratelimit:<name>:<epoch // interval>``, kept five
  intervals; :meth:`Limiter.fallback_allowed` is False once more than ``limit`` calls were
  made in the interval.

Failures: if the counter store is down, daily, keyless, per-address and submit checks let the
request through (a broken Redis must not take the API down with it), while the fallback check
answers False (a broken Redis must not let unlimited paid calls through). Both are logged.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import SQLAlchemyError

from netatlas.db.upsert import insert_for
from netatlas.geo.buckets import ip_bucket
from netatlas.http.errors import DailyLimitExceeded, RateLimitExceeded
from netatlas.http.quota import Usage, seconds_to_day_end, seconds_to_window_end
from netatlas.http.ratelimit_models import rate_counter
from netatlas.settings import Settings

__all__ = [
    "DAILY_EXPIRE",
    "KEYLESS_RATE_PER_MINUTE",
    "KEYLESS_WINDOW",
    "SUBMIT_BURST_BYTES",
    "SUBMIT_BYTES_PER_MINUTE",
    "SUBMIT_MIN_COST",
    "Limiter",
    "RedisLimiter",
    "SqlLimiter",
    "address_key",
    "daily_key",
    "fallback_key",
    "limiter_from_settings",
    "redis_client",
]

log = logging.getLogger(__name__)

#: Seconds a daily counter is kept (Ichnaea: 25 hours, so a day's counter outlives the day).
DAILY_EXPIRE = 25 * 3600
#: Default for the keyless rate limit (requests per client address per minute).
KEYLESS_RATE_PER_MINUTE = 600
#: Length of the keyless rate-limit window, in seconds.
KEYLESS_WINDOW = 60
#: How often (seconds) the SQL limiter deletes counters that ran out.
PURGE_EVERY = 600.0
#: Default steady rate of the keyless submit limit: bytes of JSON a minute per client address.
SUBMIT_BYTES_PER_MINUTE = 8 * 1024 * 1024
#: Default size of the keyless submit limit's bucket (bytes an address may send at once).
SUBMIT_BURST_BYTES = 64 * 1024 * 1024
#: What a submit request counts as at least, in bytes, whatever its size: requests cost too.
SUBMIT_MIN_COST = 4096

# KEYS[1]: the bucket; ARGV: now, cost and burst (all in seconds of refill). Returns "0" and
# stores the new arrival time when the cost fits, else the seconds until it would (as text:
# Lua numbers would come back truncated to integers).
_SUBMIT_SCRIPT = """
local now = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new = tat + tonumber(ARGV[2])
local over = new - now - tonumber(ARGV[3])
if over > 0 then return tostring(over) end
redis.call('SET', KEYS[1], string.format('%.6f', new), 'EX', math.ceil(new - now) + 1)
return '0'
"""


class Limiter(Protocol):
    clock: Callable[[], float]  # seconds since the epoch (tests move it)

    def check_daily(self, api_key: str, endpoint: str, maxreq: int | None) -> int | None:
        """Count one request of ``api_key`` on ``endpoint`` against its daily ``maxreq``.

        Returns the count including this request (None when the key has no limit or the
        store is down); raises :class:`DailyLimitExceeded` (with ``retry_after``, the seconds
        to the next UTC day) when it is over the limit.
        """

    def daily_count(self, api_key: str, endpoint: str) -> int | None:
        """Requests of ``api_key`` on ``endpoint`` counted today, without counting one (None
        when the store is down)."""

    def check_keyless(self, ip: str | None) -> Usage | None:
        """Count one request without a key from ``ip``; :class:`RateLimitExceeded` if over.

        Returns the address's standing in the minute (None when nothing was counted: no
        limit, no address, or the store is down)."""

    def check_submit(self, ip: str | None, size: int) -> None:
        """Count a keyless submission of ``size`` bytes from ``ip``; :class:`RateLimitExceeded`
        (and nothing counted) when it does not fit the address's bucket."""

    def fallback_allowed(self, name: str, limit: int, interval: int) -> bool:
        """Count one external fallback call for ``name``; False when over ``limit`` calls
        per ``interval`` seconds, or when that cannot be known."""

    def check_address(
        self, name: str, ip: str | None, limit: int, window: int, message: str | None = None
    ) -> None:
        """Count one ``name`` request from ``ip`` (IPv6: its /64); :class:`RateLimitExceeded`
        (with ``message``) when more than ``limit`` came in this ``window`` of seconds.
        No address, or a limit of 0: nothing is counted."""


def daily_key(api_key: str, endpoint: str, now: float) -> str:
    """``apilimit:<key>:<endpoint>:<YYYYMMDD>`` for the UTC day of ``now``."""
    return f"apilimit:{api_key}:{endpoint}:{time.strftime('%Y%m%d', time.gmtime(now))}"


def fallback_key(name: str, interval: int, now: float) -> str:
    """``fallback_ratelimit:<name>:<window number>``."""
    return f"fallback_ratelimit:{name}:{int(now) // interval}"


def redis_client(url: str) -> redis.Redis:
    """A Redis client for per-request counters and caches (fail fast: 2 s timeouts, one
    retry without backoff)."""
    return redis.Redis.from_url(
        url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 1)
    )


def address_key(name: str, bucket: str, window: int, now: float) -> str:
    """``<name>:<address or /64>:<window number>``."""
    return f"{name}:{bucket}:{int(now) // window}"


def _retry_after(now: float, window: int) -> int:
    return seconds_to_window_end(now, window)


def _over_daily(now: float) -> DailyLimitExceeded:
    return DailyLimitExceeded(retry_after=seconds_to_day_end(now))


def _keyless_usage(count: int, limit: int, now: float) -> Usage:
    usage = Usage(limit, count, seconds_to_window_end(now, KEYLESS_WINDOW))
    if count > limit:
        error = RateLimitExceeded(retry_after=usage.reset)
        error.headers.update(usage.headers())
        raise error
    return usage


class SubmitRate:
    """The keyless submit limit's parameters, in seconds of refill (see the module docstring)."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.on = per_minute > 0
        self.per_byte = 60.0 / per_minute if self.on else 0.0
        self.burst = max(burst, SUBMIT_MIN_COST)
        self.burst_seconds = self.burst * self.per_byte

    def cost(self, size: int) -> float:
        return min(max(size, SUBMIT_MIN_COST), self.burst) * self.per_byte


def _refused(over: float) -> RateLimitExceeded:
    return RateLimitExceeded(
        "You have exceeded the rate limit for submissions from your address.",
        retry_after=max(1, math.ceil(over)),
    )


class RedisLimiter:
    """Counters in Redis, shared by every process of a scale-out install."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        keyless_per_minute: int = KEYLESS_RATE_PER_MINUTE,
        submit_per_minute: int = SUBMIT_BYTES_PER_MINUTE,
        submit_burst: int = SUBMIT_BURST_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.keyless_per_minute = keyless_per_minute
        self.submit = SubmitRate(submit_per_minute, submit_burst)
        self.clock = clock
        self._submit_script = client.register_script(_SUBMIT_SCRIPT)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisLimiter:
        """A limiter on its own client: short timeouts and one immediate retry, so that a
        Redis outage costs each request milliseconds, not redis-py's default backoff."""
        return cls(redis_client(url), **kwargs)

    def _incr(self, key: str, expire: int) -> int:
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, expire)
        count, _ = pipe.execute()
        return int(count)

    def check_daily(self, api_key: str, endpoint: str, maxreq: int | None) -> int | None:
        if not maxreq or maxreq < 0:
            return None
        now = self.clock()
        try:
            count = self._incr(daily_key(api_key, endpoint, now), DAILY_EXPIRE)
        except RedisError as exc:
            log.warning("daily limit not checked, Redis failed: %s", exc)
            return None
        if count > maxreq:
            raise _over_daily(now)
        return count

    def daily_count(self, api_key: str, endpoint: str) -> int | None:
        try:
            value = self.client.get(daily_key(api_key, endpoint, self.clock()))
        except RedisError as exc:
            log.warning("daily count not read, Redis failed: %s", exc)
            return None
        return int(value) if value is not None else 0

    def check_keyless(self, ip: str | None) -> Usage | None:
        bucket = ip_bucket(ip)
        if bucket is None or self.keyless_per_minute <= 0:
            return None
        now = self.clock()
        key = f"iplimit:{bucket}:{int(now) // KEYLESS_WINDOW}"
        try:
            count = self._incr(key, 2 * KEYLESS_WINDOW)
        except RedisError as exc:
            log.warning("keyless rate limit not checked, Redis failed: %s", exc)
            return None
        return _keyless_usage(count, self.keyless_per_minute, now)

    def check_submit(self, ip: str | None, size: int) -> None:
        bucket = ip_bucket(ip)
        if bucket is None or not self.submit.on:
            return
        args = (repr(self.clock()), repr(self.submit.cost(size)), repr(self.submit.burst_seconds))
        try:
            over = float(self._submit_script(keys=[f"submitlimit:{bucket}"], args=args))
        except RedisError as exc:
            log.warning("submit rate limit not checked, Redis failed: %s", exc)
            return
        if over > 0:
            raise _refused(over)

    def fallback_allowed(self, name: str, limit: int, interval: int) -> bool:
        if interval <= 0 or limit <= 0:
            return False
        try:
            count = self._incr(fallback_key(name, interval, self.clock()), 5 * interval)
        except RedisError as exc:
            log.warning("fallback %s refused, Redis failed: %s", name, exc)
            return False
        return count <= limit

    def check_address(
        self, name: str, ip: str | None, limit: int, window: int, message: str | None = None
    ) -> None:
        bucket = ip_bucket(ip)
        if bucket is None or limit <= 0 or window <= 0:
            return
        now = self.clock()
        try:
            count = self._incr(address_key(name, bucket, window, now), 2 * window)
        except RedisError as exc:
            log.warning("%s limit not checked, Redis failed: %s", name, exc)
            return
        if count > limit:
            raise RateLimitExceeded(message, retry_after=_retry_after(now, window))


class _MemoryWindow:
    """Fixed-window counters in process memory; the previous window is dropped whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def incr(self, key: str, window: int) -> int:
        with self._lock:
            if window != self._window:
                self._window = window
                self._counts = {}
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
            return count


class _MemoryBuckets:
    """Token buckets in process memory, each kept as its theoretical arrival time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals: dict[str, float] = {}
        self._next_purge = 0.0

    def take(self, key: str, cost: float, burst: float, now: float) -> float:
        """0 when ``cost`` fits (and is taken), else the seconds until it would."""
        with self._lock:
            if now >= self._next_purge:  # full buckets need no entry
                self._arrivals = {k: t for k, t in self._arrivals.items() if t > now}
                self._next_purge = now + KEYLESS_WINDOW
            arrival = max(self._arrivals.get(key, now), now) + cost
            over = arrival - now - burst
            if over > 0:
                return over
            self._arrivals[key] = arrival
            return 0.0


class SqlLimiter:
    """Counters in the database (embedded mode); keyless counts in process memory."""

    def __init__(
        self,
        engine: Engine,
        *,
        keyless_per_minute: int = KEYLESS_RATE_PER_MINUTE,
        submit_per_minute: int = SUBMIT_BYTES_PER_MINUTE,
        submit_burst: int = SUBMIT_BURST_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.keyless_per_minute = keyless_per_minute
        self.submit = SubmitRate(submit_per_minute, submit_burst)
        self.clock = clock
        self._keyless = _MemoryWindow()
        self._submits = _MemoryBuckets()
        self._purge_lock = threading.Lock()
        self._next_purge = 0.0

    def _incr(self, key: str, expires: int) -> int:
        with self.engine.begin() as conn:
            stmt = insert_for(conn, rate_counter).values(key=key, count=1, expires=expires)
            stmt = stmt.on_conflict_do_update(
                index_elements=[rate_counter.c.key],
                set_={"count": rate_counter.c.count + 1},
            ).returning(rate_counter.c.count)
            count = conn.execute(stmt).scalar_one()
        self._maybe_purge()
        return int(count)

    def _maybe_purge(self) -> None:
        now = self.clock()
        with self._purge_lock:
            if now < self._next_purge:
                return
            self._next_purge = now + PURGE_EVERY
        try:
            self.purge()
        except SQLAlchemyError as exc:
            log.warning("expired rate counters not deleted: %s", exc)

    def purge(self) -> int:
        """Delete counters that ran out; returns how many."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(rate_counter).where(rate_counter.c.expires < self.clock()))
        return int(result.rowcount or 0)

    def check_daily(self, api_key: str, endpoint: str, maxreq: int | None) -> int | None:
        if not maxreq or maxreq < 0:
            return None
        now = self.clock()
        try:
            count = self._incr(daily_key(api_key, endpoint, now), int(now) + DAILY_EXPIRE)
        except SQLAlchemyError as exc:
            log.warning("daily limit not checked, database failed: %s", exc)
            return None
        if count > maxreq:
            raise _over_daily(now)
        return count

    def daily_count(self, api_key: str, endpoint: str) -> int | None:
        key = daily_key(api_key, endpoint, self.clock())
        try:
            with self.engine.connect() as conn:
                value = conn.execute(
                    select(rate_counter.c.count).where(rate_counter.c.key == key)
                ).scalar()
        except SQLAlchemyError as exc:
            log.warning("daily count not read, database failed: %s", exc)
            return None
        return int(value or 0)

    def check_keyless(self, ip: str | None) -> Usage | None:
        bucket = ip_bucket(ip)
        if bucket is None or self.keyless_per_minute <= 0:
            return None
        now = self.clock()
        count = self._keyless.incr(bucket, int(now) // KEYLESS_WINDOW)
        return _keyless_usage(count, self.keyless_per_minute, now)

    def check_submit(self, ip: str | None, size: int) -> None:
        bucket = ip_bucket(ip)
        if bucket is None or not self.submit.on:
            return
        rate = self.submit
        over = self._submits.take(bucket, rate.cost(size), rate.burst_seconds, self.clock())
        if over > 0:
            raise _refused(over)

    def fallback_allowed(self, name: str, limit: int, interval: int) -> bool:
        if interval <= 0 or limit <= 0:
            return False
        now = self.clock()
        try:
            count = self._incr(fallback_key(name, interval, now), int(now) + 5 * interval)
        except SQLAlchemyError as exc:
            log.warning("fallback %s refused, database failed: %s", name, exc)
            return False
        return count <= limit

    def check_address(
        self, name: str, ip: str | None, limit: int, window: int, message: str | None = None
    ) -> None:
        bucket = ip_bucket(ip)
        if bucket is None or limit <= 0 or window <= 0:
            return
        now = self.clock()
        try:
            count = self._incr(address_key(name, bucket, window, now), int(now) + 2 * window)
        except SQLAlchemyError as exc:
            log.warning("%s limit not checked, database failed: %s", name, exc)
            return
        if count > limit:
            raise RateLimitExceeded(message, retry_after=_retry_after(now, window))


def limiter_from_settings(
    settings: Settings, engine: Engine, *, keyless_per_minute: int | None = None
) -> Limiter:
    """Redis counters in scale-out mode, database counters in embedded mode.

    ``keyless_per_minute`` defaults to the ``keyless_rate_per_minute`` setting; the submit limit
    comes from ``submit_bytes_per_minute`` and ``submit_burst_bytes``.
    """
    if keyless_per_minute is None:
        keyless_per_minute = settings.keyless_rate_per_minute
    kwargs: dict[str, Any] = {
        "keyless_per_minute": keyless_per_minute,
        "submit_per_minute": settings.submit_bytes_per_minute,
        "submit_burst": settings.submit_burst_bytes,
    }
    if settings.redis_url:
        return RedisLimiter.from_url(settings.redis_url, **kwargs)
    return SqlLimiter(engine, **kwargs)
