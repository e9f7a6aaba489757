from __future__ import annotations

import calendar
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, func, inspect, select, text

from netatlas.db.engine import make_engine
from netatlas.db.migrate import current_revision, downgrade, upgrade
from netatlas.geo.buckets import ip_bucket
from netatlas.http.errors import DailyLimitExceeded, RateLimitExceeded
from netatlas.http.ratelimit import (
    DAILY_EXPIRE,
    Limiter,
    RedisLimiter,
    SqlLimiter,
    daily_key,
    fallback_key,
    limiter_from_settings,
)
from netatlas.http.ratelimit_models import rate_counter
from netatlas.settings import Settings
from tests.conftest import PG_URL, REDIS_URL, _pg_url

DOWN = "redis://127.0.0.1:1/0"  # nothing listens there
# 2026-03-01 12:00:30 UTC
NOON = float(calendar.timegm((2026, 3, 1, 12, 0, 30)))


class Clock:
    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(
    settings: Settings, engine: Engine, clock: Clock, keyless: int = 3, sql: bool = False
) -> Limiter:
    if settings.redis_url and not sql:
        return RedisLimiter.from_url(settings.redis_url, keyless_per_minute=keyless, clock=clock)
    return SqlLimiter(engine, keyless_per_minute=keyless, clock=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock()


# With PostgreSQL + Redis configured, the SQL limiter also runs on PostgreSQL.
KINDS = ["native", "sql"] if PG_URL and REDIS_URL else ["native"]


@pytest.fixture(params=KINDS)
def limiter(
    request: pytest.FixtureRequest, settings: Settings, engine: Engine, clock: Clock
) -> Limiter:
    """The limiter the settings choose, and on PostgreSQL the SQL one as well."""
    if request.param == "sql" and not settings.redis_url:
        pytest.skip("on SQLite the settings already choose the SQL limiter")
    return make(settings, engine, clock, sql=request.param == "sql")


def test_keys() -> None:
    assert daily_key("test", "v1.geolocate", NOON) == "apilimit:test:v1.geolocate:20260301"
    assert fallback_key("fb", 60, NOON) == f"fallback_ratelimit:fb:{int(NOON) // 60}"
    assert ip_bucket("81.2.69.192") == "81.2.69.192"
    assert ip_bucket("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert ip_bucket("::ffff:81.2.69.192") == "81.2.69.192"
    assert ip_bucket("garbage") is None and ip_bucket(None) is None


def test_from_settings(settings: Settings, engine: Engine) -> None:
    kind = RedisLimiter if settings.redis_url else SqlLimiter
    limiter = limiter_from_settings(settings, engine, keyless_per_minute=7)
    assert isinstance(limiter, kind) and limiter.keyless_per_minute == 7
    default = limiter_from_settings(settings, engine)
    assert isinstance(default, kind) and default.keyless_per_minute == 600
    assert default.submit.per_byte == 60 / settings.submit_bytes_per_minute
    assert default.submit.burst == settings.submit_burst_bytes


# ----------------------------------------------------------------- daily key limits


def test_daily_limit(limiter: Limiter) -> None:
    assert [limiter.check_daily("test", "v1.geolocate", 3) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(DailyLimitExceeded) as info:
        limiter.check_daily("test", "v1.geolocate", 3)
    assert info.value.status == 403 and info.value.reason == "dailyLimitExceeded"
    # Per endpoint and per key.
    assert limiter.check_daily("test", "v2.geosubmit", 3) == 1
    assert limiter.check_daily("other", "v1.geolocate", 3) == 1


def test_daily_limit_already_over(limiter: Limiter) -> None:
    # Ichnaea case 11: a key with maxreq 5 whose counter is already at 10.
    for _ in range(10):
        limiter.check_daily("test", "v1.geolocate", 100)
    with pytest.raises(DailyLimitExceeded):
        limiter.check_daily("test", "v1.geolocate", 5)


def test_daily_limit_resets_at_utc_midnight(limiter: Limiter, clock: Clock) -> None:
    clock.now = float(calendar.timegm((2026, 3, 1, 23, 59, 59)))
    limiter.check_daily("test", "v1.geolocate", 1)
    with pytest.raises(DailyLimitExceeded):
        limiter.check_daily("test", "v1.geolocate", 1)
    clock.now += 1
    assert limiter.check_daily("test", "v1.geolocate", 1) == 1


@pytest.mark.parametrize("maxreq", [None, 0, -1])
def test_unlimited_keys_are_not_counted(
    limiter: Limiter, settings: Settings, engine: Engine, maxreq: int | None
) -> None:
    for _ in range(5):
        assert limiter.check_daily("test", "v1.geolocate", maxreq) is None
    if settings.redis_url:
        assert redis.Redis.from_url(settings.redis_url).keys("apilimit:*") == []
    else:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(rate_counter)).scalar() == 0


def test_redis_daily_counter_expiry(settings: Settings, engine: Engine, clock: Clock) -> None:
    if not settings.redis_url:
        pytest.skip("Redis only")
    limiter = make(settings, engine, clock)
    limiter.check_daily("test", "v1.geolocate", 10)
    client = redis.Redis.from_url(settings.redis_url)
    key = daily_key("test", "v1.geolocate", NOON)
    assert client.get(key) == b"1"
    assert DAILY_EXPIRE - 5 <= client.ttl(key) <= DAILY_EXPIRE


@pytest.mark.parametrize("sql", [kind == "sql" for kind in KINDS])
def test_daily_counts_are_exact_under_concurrency(
    settings: Settings, engine: Engine, clock: Clock, sql: bool
) -> None:
    if sql and not settings.redis_url:
        pytest.skip("on SQLite the settings already choose the SQL limiter")
    limiter = make(settings, engine, clock, sql=sql)
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(25):
            count = limiter.check_daily("test", "v1.geolocate", 10_000)
            assert count is not None
            with lock:
                seen.append(count)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(1, 201))


def test_daily_limit_fails_open_without_store(tmp_path: Path) -> None:
    down = RedisLimiter.from_url(DOWN)
    assert down.check_daily("test", "v1.geolocate", 1) is None
    assert down.check_daily("test", "v1.geolocate", 1) is None
    unmigrated = SqlLimiter(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    assert unmigrated.check_daily("test", "v1.geolocate", 1) is None
    unmigrated.engine.dispose()


# ----------------------------------------------------------------- keyless per-IP limit


def test_keyless_rate_limit(limiter: Limiter, clock: Clock) -> None:
    for _ in range(3):
        limiter.check_keyless("81.2.69.192")
    with pytest.raises(RateLimitExceeded) as info:
        limiter.check_keyless("81.2.69.192")
    assert info.value.status == 429
    assert info.value.retry_after == 30  # NOON is 30 s into its minute
    limiter.check_keyless("81.2.69.193")  # another client
    clock.now += 30  # the next window
    limiter.check_keyless("81.2.69.192")


def test_keyless_ipv6_counts_per_64(limiter: Limiter) -> None:
    for host in ("2001:db8::1", "2001:db8::2", "2001:db8::3"):
        limiter.check_keyless(host)
    with pytest.raises(RateLimitExceeded):
        limiter.check_keyless("2001:db8::ffff")
    limiter.check_keyless("2001:db8:0:1::1")  # another /64


def test_keyless_without_address_or_limit(settings: Settings, engine: Engine) -> None:
    limiter = make(settings, engine, Clock(), keyless=1)
    for _ in range(5):
        limiter.check_keyless(None)
        limiter.check_keyless("garbage")
    off = make(settings, engine, Clock(), keyless=0)
    for _ in range(5):
        off.check_keyless("81.2.69.192")


def test_keyless_fails_open_without_redis() -> None:
    down = RedisLimiter.from_url(DOWN, keyless_per_minute=1)
    down.check_keyless("81.2.69.192")
    down.check_keyless("81.2.69.192")


# ----------------------------------------------------------------- keyless submit bytes

KIB_PER_SECOND = 60 * 1024  # a minute's refill: 1 KiB a second


@pytest.fixture(params=KINDS)
def submits(
    request: pytest.FixtureRequest, settings: Settings, engine: Engine, clock: Clock
) -> Limiter:
    """A submit limit of 1 KiB a second with a 16 KiB bucket, on each kind of limiter."""
    if request.param == "sql" and not settings.redis_url:
        pytest.skip("on SQLite the settings already choose the SQL limiter")
    rates = {"submit_per_minute": KIB_PER_SECOND, "submit_burst": 16 * 1024, "clock": clock}
    if settings.redis_url and request.param == "native":
        return RedisLimiter.from_url(settings.redis_url, **rates)
    return SqlLimiter(engine, **rates)


def test_submit_bucket(submits: Limiter, clock: Clock) -> None:
    submits.check_submit("81.2.69.192", 10_000)
    submits.check_submit("81.2.69.192", 6_000)  # 16,000 of 16,384 bytes
    with pytest.raises(RateLimitExceeded) as info:
        submits.check_submit("81.2.69.192", 1)  # counts as SUBMIT_MIN_COST (4 KiB)
    assert info.value.status == 429 and info.value.reason == "rateLimitExceeded"
    assert info.value.retry_after == 4  # 16,000 + 4,096 - 16,384 bytes at 1 KiB a second
    submits.check_submit("81.2.69.193", 16_000)  # another address has a bucket of its own
    clock.now += 3.5
    with pytest.raises(RateLimitExceeded):
        submits.check_submit("81.2.69.192", 1)
    clock.now += 0.5  # the refused requests were not counted
    submits.check_submit("81.2.69.192", 1)
    clock.now += 16
    for _ in range(4):  # refilled: four minimal requests fit again
        submits.check_submit("81.2.69.192", 100)
    with pytest.raises(RateLimitExceeded):
        submits.check_submit("81.2.69.192", 100)


def test_submit_body_larger_than_the_bucket(submits: Limiter, clock: Clock) -> None:
    # One body larger than the whole bucket passes when the bucket is full, and empties it.
    submits.check_submit("81.2.69.192", 10_000_000)
    with pytest.raises(RateLimitExceeded) as info:
        submits.check_submit("81.2.69.192", 10_000_000)
    assert info.value.retry_after == 16
    clock.now += 16
    submits.check_submit("81.2.69.192", 10_000_000)


def test_submit_ipv6_counts_per_64(submits: Limiter) -> None:
    submits.check_submit("2001:db8::1", 8192)
    submits.check_submit("2001:db8::2", 8192)
    with pytest.raises(RateLimitExceeded):
        submits.check_submit("2001:db8::ffff", 8192)
    submits.check_submit("2001:db8:0:1::1", 8192)  # another /64


def test_submit_without_address_or_limit(settings: Settings, engine: Engine) -> None:
    rates = {"submit_per_minute": 1, "submit_burst": 1}
    limiter: Limiter
    if settings.redis_url:
        limiter = RedisLimiter.from_url(settings.redis_url, **rates)
    else:
        limiter = SqlLimiter(engine, **rates)
    limiter.check_submit("81.2.69.192", 1)
    with pytest.raises(RateLimitExceeded):
        limiter.check_submit("81.2.69.192", 1)
    for _ in range(5):
        limiter.check_submit(None, 10**9)
        limiter.check_submit("garbage", 10**9)
    off = SqlLimiter(engine, submit_per_minute=0, submit_burst=1)
    for _ in range(5):
        off.check_submit("81.2.69.192", 10**9)


def test_submit_limit_fails_open_without_redis() -> None:
    down = RedisLimiter.from_url(DOWN, submit_per_minute=1, submit_burst=1)
    down.check_submit("81.2.69.192", 10**9)
    down.check_submit("81.2.69.192", 10**9)


def test_submit_redis_bucket_expires(settings: Settings, engine: Engine, clock: Clock) -> None:
    if not settings.redis_url:
        pytest.skip("Redis only")
    limiter = RedisLimiter.from_url(
        settings.redis_url, submit_per_minute=KIB_PER_SECOND, submit_burst=16 * 1024, clock=clock
    )
    limiter.check_submit("81.2.69.192", 10_240)  # 10 s of refill
    client = redis.Redis.from_url(settings.redis_url)
    assert 0 < client.ttl("submitlimit:81.2.69.192") <= 11
    assert float(client.get("submitlimit:81.2.69.192") or 0) == pytest.approx(clock.now + 10)


def test_submit_memory_buckets_are_purged(engine: Engine, clock: Clock) -> None:
    limiter = SqlLimiter(engine, submit_per_minute=KIB_PER_SECOND, clock=clock)
    for i in range(1000):
        limiter.check_submit(f"10.0.{i // 256}.{i % 256}", 4096)
    clock.now += 120  # every bucket is full again: none needs keeping
    limiter.check_submit("81.2.69.192", 4096)
    assert len(limiter._submits._arrivals) == 1


# ----------------------------------------------------------------- fallback provider limit


def test_fallback_rate_limit(limiter: Limiter, clock: Clock) -> None:
    assert limiter.fallback_allowed("fb", 2, 60)
    assert limiter.fallback_allowed("fb", 2, 60)
    assert not limiter.fallback_allowed("fb", 2, 60)
    assert limiter.fallback_allowed("other", 2, 60)
    clock.now += 60
    assert limiter.fallback_allowed("fb", 2, 60)


def test_fallback_rate_limit_nonsense_config(limiter: Limiter) -> None:
    assert not limiter.fallback_allowed("fb", 0, 60)
    assert not limiter.fallback_allowed("fb", 10, 0)


def test_fallback_refused_without_store(tmp_path: Path) -> None:
    down = RedisLimiter.from_url(DOWN)
    assert not down.fallback_allowed("fb", 100, 60)
    unmigrated = SqlLimiter(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    assert not unmigrated.fallback_allowed("fb", 100, 60)
    unmigrated.engine.dispose()


# ----------------------------------------------------------------- SQL table upkeep


def test_sql_purge(engine: Engine, clock: Clock) -> None:
    limiter = SqlLimiter(engine, clock=clock)
    limiter.fallback_allowed("fb", 10, 60)  # expires after 5 minutes
    limiter.check_daily("test", "v1.geolocate", 10)  # expires after 25 hours
    clock.now += 3600
    assert limiter.purge() == 1
    clock.now += DAILY_EXPIRE
    assert limiter.purge() == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rate_counter)).scalar() == 0


def test_sql_purges_now_and_then(engine: Engine, clock: Clock) -> None:
    limiter = SqlLimiter(engine, clock=clock)
    limiter.fallback_allowed("fb", 10, 60)
    clock.now += 3600
    limiter.fallback_allowed("fb", 10, 60)  # this call's purge removes the first window
    with engine.connect() as conn:
        keys = conn.execute(select(rate_counter.c.key)).scalars().all()
    assert keys == [fallback_key("fb", 60, clock.now)]


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database (SQLite file or a fresh PostgreSQL schema)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield engine
        engine.dispose()
        return
    if not PG_URL:
        pytest.skip("NETATLAS_TEST_DATABASE_URL not set")
    schema = f"m_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(_pg_url(schema))
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_migration_0002(bare_engine: Engine) -> None:
    upgrade(bare_engine, "0002")
    assert current_revision(bare_engine) == "0002"
    assert "rate_counter" in inspect(bare_engine).get_table_names()
    indexes = inspect(bare_engine).get_indexes("rate_counter")
    assert [i["name"] for i in indexes] == ["ix_rate_counter_expires"]
    downgrade(bare_engine, "0001")
    assert current_revision(bare_engine) == "0001"
    assert "rate_counter" not in inspect(bare_engine).get_table_names()
    upgrade(bare_engine, "0002")
    assert "rate_counter" in inspect(bare_engine).get_table_names()
    limiter = SqlLimiter(bare_engine, clock=Clock())
    assert [limiter.check_daily("k", "v1.geolocate", 5) for _ in range(2)] == [1, 2]
