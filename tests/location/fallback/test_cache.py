"""The fallback cache: which queries are cached, when cached answers agree, and the memory and
Redis stores, through the client and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from dataclasses import replace

import pytest

from netatlas.http.ratelimit import redis_client
from netatlas.location.fallback import (
    BlueNetwork,
    FallbackClient,
    FallbackQuery,
    MemoryFallbackCache,
    RedisFallbackCache,
    cache_keys,
)
from netatlas.settings import Settings
from tests.location.fallback import test_client
from tests.location.fallback.test_client import (
    BLUES,
    CELL,
    WIFIS,
    Provider,
    config,
    wifi_query,
)

provider = test_client.provider  # the fixture: a provider on 127.0.0.1
client = test_client.client  # the fixture: the client as the settings build it


def test_cache_hit_needs_no_call(client: FallbackClient, provider: Provider) -> None:
    provider.position(51.5, -0.1, 100.0)
    query = wifi_query("0123456789ab", "0123456789ac")
    assert client.lookup(config(provider), query).status == "ok"
    again = client.lookup(config(provider), query)
    assert again.cached and again.result is not None
    assert (again.result.lat, again.result.lon) == (51.5, -0.1)
    assert again.result.accuracy == pytest.approx(100.0)
    assert len(provider.requests) == 1


def test_cache_agreeing_answers_are_merged(client: FallbackClient, provider: Provider) -> None:
    cfg = config(provider)
    provider.position(51.5, -0.1, 100.0)
    client.lookup(cfg, wifi_query("0123456789a1", "0123456789a2"))
    provider.position(51.50004, -0.1, 60.0, fallback="ipf")  # same 100 m grid cell
    client.lookup(cfg, wifi_query("0123456789b1", "0123456789b2"))
    outcome = client.lookup(cfg, wifi_query("0123456789a1", "0123456789b2"))
    assert outcome.cached and outcome.result is not None
    result = outcome.result
    assert result.lat == pytest.approx(51.50002) and result.lon == pytest.approx(-0.1)
    # Covers both cached circles: 100 m round a point about 2.2 m from the centre.
    assert result.accuracy == pytest.approx(100.0 + 2.224, abs=0.01)
    assert (result.score, result.fallback) == (10.0, None)
    assert len(provider.requests) == 2


@pytest.mark.parametrize(
    "second",
    [
        (51.6, -0.1, None),  # another latitude
        (51.5, 10.0, None),  # same latitude, far away (Ichnaea's lat/lat key agreed here)
        (51.5, -0.1, "lacf"),  # same place, but a cell-area estimate
    ],
)
def test_cache_disagreeing_answers_are_asked_again(
    client: FallbackClient, provider: Provider, second: tuple[float, float, str | None]
) -> None:
    cfg = config(provider)
    provider.position(51.5, -0.1, 100.0)
    client.lookup(cfg, wifi_query("0123456789a1", "0123456789a2"))
    lat, lng, flag = second
    provider.position(lat, lng, 100.0, **({"fallback": flag} if flag else {}))
    client.lookup(cfg, wifi_query("0123456789b1", "0123456789b2"))
    provider.position(51.55, 5.0, 42.0)
    outcome = client.lookup(cfg, wifi_query("0123456789a1", "0123456789b2"))
    assert not outcome.cached and outcome.result is not None
    assert outcome.result.accuracy == 42.0
    assert len(provider.requests) == 3


def test_cache_partly_known_is_asked_again(client: FallbackClient, provider: Provider) -> None:
    cfg = config(provider)
    client.lookup(cfg, wifi_query("0123456789a1", "0123456789a2"))
    outcome = client.lookup(cfg, wifi_query("0123456789a1", "0123456789c9"))
    assert not outcome.cached
    assert len(provider.requests) == 2


def test_cache_found_and_not_found_is_asked_again(
    client: FallbackClient, provider: Provider
) -> None:
    cfg = config(provider)
    client.lookup(cfg, wifi_query("0123456789a1", "0123456789a2"))
    provider.answer(404, {})
    client.lookup(cfg, wifi_query("0123456789b1", "0123456789b2"))
    provider.position(51.5, -0.1, 100.0)
    outcome = client.lookup(cfg, wifi_query("0123456789a1", "0123456789b1"))
    assert (outcome.status, outcome.cached) == ("ok", False)
    assert len(provider.requests) == 3


def test_cache_all_not_found(client: FallbackClient, provider: Provider) -> None:
    cfg = config(provider)
    provider.answer(404, {})
    client.lookup(cfg, wifi_query("0123456789a1", "0123456789a2"))
    client.lookup(cfg, wifi_query("0123456789b1", "0123456789b2"))
    outcome = client.lookup(cfg, wifi_query("0123456789a1", "0123456789b1"))
    assert (outcome.status, outcome.cached) == ("not_found", True)
    assert len(provider.requests) == 2


@pytest.mark.parametrize(
    "query",
    [
        FallbackQuery(cells=(CELL, replace(CELL, cid=5001))),  # two cells
        FallbackQuery(cells=(replace(CELL, cid=None),)),  # a cell area
        FallbackQuery(wifis=WIFIS, cells=(CELL,)),  # mixed
        FallbackQuery(wifis=WIFIS, blues=BLUES),  # mixed
        wifi_query(*(f"0123456789{i:02x}" for i in range(20))),  # 20 WiFi networks
        FallbackQuery(blues=tuple(BlueNetwork(f"a0b1c2d3e4{i:02x}") for i in range(20))),
    ],
)
def test_uncacheable_queries(
    client: FallbackClient, provider: Provider, query: FallbackQuery
) -> None:
    assert cache_keys(config(provider), query) is None
    client.lookup(config(provider), query)
    client.lookup(config(provider), query)
    assert len(provider.requests) == 2


def test_cacheable_queries(provider: Provider) -> None:
    cfg = config(provider)
    assert cache_keys(cfg, FallbackQuery(cells=(CELL,))) == [
        "cache:fallback:fb:ichnaea/v1:cell:wcdma:234:30:1200:5000"
    ]
    assert cache_keys(cfg, wifi_query(*(f"0123456789{i:02x}" for i in range(19)))) is not None
    assert cache_keys(cfg, FallbackQuery(blues=BLUES)) == [
        "cache:fallback:fb:ichnaea/v1:blue:a0b1c2d3e4f5",
        "cache:fallback:fb:ichnaea/v1:blue:a0b1c2d3e4f6",
    ]
    assert cache_keys(replace(cfg, cache_expire=0), FallbackQuery(cells=(CELL,))) is None


def test_no_cache_without_expiry(client: FallbackClient, provider: Provider) -> None:
    cfg = config(provider, cache_expire=0)
    query = FallbackQuery(cells=(CELL,))
    client.lookup(cfg, query)
    client.lookup(cfg, query)
    assert len(provider.requests) == 2


def test_memory_cache_expiry_and_size() -> None:
    now = [100.0]
    cache = MemoryFallbackCache(max_entries=3, clock=lambda: now[0])
    cache.set_many(["a", "b"], b"1", ttl=10)
    assert cache.get_many(["a", "b", "c"]) == [b"1", b"1", None]
    now[0] += 10
    assert cache.get_many(["a"]) == [None]
    cache.set_many(["c", "d"], b"2", ttl=10)  # the expired ones make room
    cache.set_many(["e"], b"3", ttl=10)
    cache.set_many(["f"], b"4", ttl=10)  # full: the oldest ("c") goes
    assert cache.get_many(["c", "d", "e", "f"]) == [None, b"2", b"3", b"4"]


def test_redis_cache_down_is_a_miss(provider: Provider) -> None:
    cache = RedisFallbackCache(redis_client("redis://127.0.0.1:1/0"))
    assert cache.get_many(["a", "b"]) == [None, None]
    cache.set_many(["a"], b"1", ttl=10)  # no exception

    class Unlimited:
        def fallback_allowed(self, name: str, limit: int, interval: int) -> bool:
            return True

    fallback = FallbackClient(cache, Unlimited(), allow_private=True)
    assert fallback.lookup(config(provider), FallbackQuery(cells=(CELL,))).status == "ok"
    fallback.close()


def test_redis_cache_expiry(settings: Settings, provider: Provider) -> None:
    if not settings.redis_url:
        pytest.skip("Redis only")
    cache = RedisFallbackCache(redis_client(settings.redis_url))
    cache.set_many(["cache:fallback:t:1"], b"404", ttl=30)
    assert cache.get_many(["cache:fallback:t:1", "cache:fallback:t:2"]) == [b"404", None]
    assert 25 <= cache.client.ttl("cache:fallback:t:1") <= 30
