"""The external fallback client against a real HTTP server on 127.0.0.1 (no mocked HTTP)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine

from netatlas.clock import ManualClock
from netatlas.http.ratelimit import limiter_from_settings, redis_client
from netatlas.location.fallback import (
    BlueNetwork,
    CellNetwork,
    FallbackClient,
    FallbackConfig,
    FallbackQuery,
    MemoryFallbackCache,
    RedisFallbackCache,
    WifiNetwork,
    cache_keys,
    fallback_client_from_settings,
)
from netatlas.settings import Settings

# ----------------------------------------------------------------- a provider to talk to


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Provider:
    """A tiny HTTP server; answers with ``status`` / ``body`` (JSON-encoded unless bytes)."""

    status: int = 200
    body: Any = None
    delay: float = 0.0  # seconds to hold each answer back, unless ``release`` is set first
    release: threading.Event = field(default_factory=threading.Event)
    answered: int = 0  # answers sent
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def answer(self, status: int, body: Any) -> None:
        self.status, self.body = status, body

    def position(self, lat: float, lng: float, accuracy: float, **extra: Any) -> None:
        self.answer(200, {"location": {"lat": lat, "lng": lng}, "accuracy": accuracy, **extra})


@pytest.fixture
def provider() -> Iterator[Provider]:
    state = Provider()
    state.position(51.5, -0.1, 100.0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append(Recorded(self.path, headers, json.loads(raw)))
            if state.delay:
                state.release.wait(state.delay)
                if self.client_gone():
                    return  # the client gave up waiting: nobody to answer
            body = state.body if isinstance(state.body, bytes) else json.dumps(state.body).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            state.answered += 1

        def client_gone(self) -> bool:
            self.connection.setblocking(False)
            try:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            except BlockingIOError:
                return False
            except OSError:
                return True
            finally:
                self.connection.setblocking(True)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[FallbackClient]:
    """The client as the settings build it: Redis cache + limiter, or memory + SQL (the
    provider runs on 127.0.0.1, so private targets are allowed)."""
    local = replace(settings, allow_private_targets=True)
    limiter = limiter_from_settings(local, engine)
    # Rate limits count per fixed window: a frozen clock keeps a test's calls in one window.
    limiter.clock = ManualClock()  # type: ignore[attr-defined]
    fallback = fallback_client_from_settings(local, limiter)
    yield fallback
    fallback.close()


def config(provider: Provider, schema: str = "ichnaea/v1", **kwargs: Any) -> FallbackConfig:
    path = {"unwiredlabs/v1": "/v2/process.php#s3cret-token"}.get(schema, "/v1/geolocate?key=k")
    values: dict[str, Any] = {
        "name": "fb",
        "schema": schema,
        "url": provider.url + path,
        "ratelimit": 100,
        "ratelimit_interval": 60,
        "cache_expire": 60,
    }
    values.update(kwargs)
    return FallbackConfig(**values)


WIFIS = (
    WifiNetwork("0123456789ab", signal=-60, age=1500, channel=6, frequency=2437, snr=30, ssid="x"),
    WifiNetwork("01:23:45:67:89:AC", signal=-70),
)
CELL = CellNetwork("wcdma", 234, 30, 1200, 5000, psc=12, age=100, signal=-80, asu=20)
BLUES = (BlueNetwork("a0b1c2d3e4f5", signal=-75, age=200), BlueNetwork("a0b1c2d3e4f6"))
EVERYTHING = FallbackQuery(wifis=WIFIS, cells=(CELL,), blues=BLUES, lacf=False)


def wifi_query(*macs: str) -> FallbackQuery:
    return FallbackQuery(wifis=tuple(WifiNetwork(mac) for mac in macs))


# ----------------------------------------------------------------- schemas


@pytest.mark.parametrize("schema", ["ichnaea/v1", "combain/v1"])
def test_geolocate_schemas(client: FallbackClient, provider: Provider, schema: str) -> None:
    provider.position(51.5, -0.1, 120.5)
    outcome = client.lookup(config(provider, schema), EVERYTHING)
    assert outcome.status == "ok" and not outcome.cached
    result = outcome.result
    assert result is not None
    assert (result.lat, result.lon, result.accuracy) == (51.5, -0.1, 120.5)
    assert (result.score, result.fallback, result.source) == (10.0, None, "fallback")

    [request] = provider.requests
    assert request.path == "/v1/geolocate?key=k"
    assert request.headers["user-agent"] == "NetAtlas"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "bluetoothBeacons": [
            {"macAddress": "a0:b1:c2:d3:e4:f5", "age": 200, "signalStrength": -75},
            {"macAddress": "a0:b1:c2:d3:e4:f6"},
        ],
        "cellTowers": [
            {
                "radioType": "wcdma",
                "mobileCountryCode": 234,
                "mobileNetworkCode": 30,
                "locationAreaCode": 1200,
                "cellId": 5000,
                "primaryScramblingCode": 12,
                "age": 100,
                "signalStrength": -80,
            }
        ],
        "wifiAccessPoints": [
            {
                "macAddress": "01:23:45:67:89:ab",
                "age": 1500,
                "channel": 6,
                "signalStrength": -60,
                "signalToNoiseRatio": 30,
                "ssid": "x",
            },
            {"macAddress": "01:23:45:67:89:ac", "signalStrength": -70},
        ],
        "fallbacks": {"lacf": False, "ipf": False},
    }


def test_lacf_answers_score_less(client: FallbackClient, provider: Provider) -> None:
    provider.position(51.5, -0.1, 50000.0, fallback="lacf")
    result = client.locate(config(provider), replace(EVERYTHING, lacf=True))
    assert result is not None and (result.score, result.fallback) == (5.0, "lacf")
    assert provider.requests[0].body["fallbacks"] == {"lacf": True, "ipf": False}


def test_other_fallback_values_are_dropped(client: FallbackClient, provider: Provider) -> None:
    provider.position(51.5, -0.1, 5000.0, fallback="ipf")
    result = client.locate(config(provider), EVERYTHING)
    assert result is not None and (result.score, result.fallback) == (10.0, None)


def test_googlemaps_schema(client: FallbackClient, provider: Provider) -> None:
    result = client.locate(config(provider, "googlemaps/v1"), EVERYTHING)
    assert result is not None
    body = provider.requests[0].body
    assert set(body) == {"cellTowers", "wifiAccessPoints", "considerIp"}
    assert body["considerIp"] is False
    assert "primaryScramblingCode" not in body["cellTowers"][0]
    assert body["cellTowers"][0]["cellId"] == 5000
    assert all("ssid" not in ap for ap in body["wifiAccessPoints"])
    assert body["wifiAccessPoints"][0]["macAddress"] == "01:23:45:67:89:ab"


def test_googlemaps_cannot_carry_bluetooth(client: FallbackClient, provider: Provider) -> None:
    outcome = client.lookup(config(provider, "googlemaps/v1"), FallbackQuery(blues=BLUES))
    assert outcome.status == "skipped"
    assert provider.requests == []


def test_unwiredlabs_schema(client: FallbackClient, provider: Provider) -> None:
    provider.answer(200, {"status": "ok", "balance": 99, "lat": 51.5, "lon": -0.1, "accuracy": 80})
    result = client.locate(config(provider, "unwiredlabs/v1"), EVERYTHING)
    assert result is not None
    assert (result.lat, result.lon, result.accuracy, result.score) == (51.5, -0.1, 80.0, 10.0)
    [request] = provider.requests
    assert request.path == "/v2/process.php"  # the token is not sent in the URL
    assert request.body == {
        "token": "s3cret-token",
        "cells": [
            {
                "radio": "umts",
                "mcc": 234,
                "mnc": 30,
                "lac": 1200,
                "cid": 5000,
                "signal": -80,
                "psc": 12,
                "asu": 20,
            }
        ],
        "wifi": [
            {
                "bssid": "01:23:45:67:89:ab",
                "channel": 6,
                "frequency": 2437,
                "signal": -60,
                "signalToNoiseRatio": 30,
            },
            {"bssid": "01:23:45:67:89:ac", "signal": -70},
        ],
        "fallbacks": {"lacf": 0, "ipf": 0},
        "address": 0,
    }


def test_unwiredlabs_no_match_is_cached(client: FallbackClient, provider: Provider) -> None:
    provider.answer(200, {"status": "error", "message": "No matches found", "balance": 98})
    query = wifi_query("0123456789ab", "0123456789ac")
    cfg = config(provider, "unwiredlabs/v1")
    assert client.lookup(cfg, query).status == "not_found"
    again = client.lookup(cfg, query)
    assert (again.status, again.cached) == ("not_found", True)
    assert len(provider.requests) == 1


def test_unwiredlabs_errors(client: FallbackClient, provider: Provider) -> None:
    provider.answer(200, {"status": "error", "message": "Invalid token"})
    query = wifi_query("0123456789ab", "0123456789ac")
    cfg = config(provider, "unwiredlabs/v1")
    assert client.lookup(cfg, query).status == "error"
    assert client.lookup(cfg, query).status == "error"
    assert len(provider.requests) == 2  # errors are not cached


# ----------------------------------------------------------------- answers


def test_not_found_is_cached(client: FallbackClient, provider: Provider) -> None:
    provider.answer(404, {"error": {"code": 404, "message": "Not found"}})
    query = FallbackQuery(cells=(CELL,))
    assert client.lookup(config(provider), query).status == "not_found"
    again = client.lookup(config(provider), query)
    assert (again.status, again.cached, again.result) == ("not_found", True, None)
    assert len(provider.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 400, 403, 429])
def test_other_statuses_are_errors(client: FallbackClient, provider: Provider, status: int) -> None:
    provider.answer(status, {"error": "nope"})
    query = FallbackQuery(cells=(CELL,))
    assert client.lookup(config(provider), query).status == "error"
    assert client.locate(config(provider), query) is None
    assert len(provider.requests) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        [],
        {},
        {"location": {"lat": 51.5}, "accuracy": 10},
        {"location": {"lat": 91.0, "lng": 0.0}, "accuracy": 10},
        {"location": {"lat": 51.5, "lng": -0.1}, "accuracy": 0},
        {"location": {"lat": "51.5", "lng": -0.1}, "accuracy": 10},
        {"location": {"lat": 51.5, "lng": -0.1}, "accuracy": True},
    ],
)
def test_malformed_answers_are_errors(
    client: FallbackClient, provider: Provider, body: Any
) -> None:
    provider.answer(200, body)
    assert client.lookup(config(provider), EVERYTHING).status == "error"


def test_timeout_is_an_error(settings: Settings, engine: Engine, provider: Provider) -> None:
    provider.delay = 120.0  # far past the client's timeout: it must give up long before
    slow = FallbackClient(
        MemoryFallbackCache(),
        limiter_from_settings(settings, engine),
        timeout=0.2,
        allow_private=True,
    )
    assert slow.lookup(config(provider), EVERYTHING).status == "error"
    # The client gave up while the provider still held its (good) answer back.
    assert provider.requests and provider.answered == 0
    provider.release.set()
    slow.close()


def test_unreachable_provider_is_an_error(client: FallbackClient, provider: Provider) -> None:
    cfg = config(provider, url="http://127.0.0.1:1/v1/geolocate")
    assert client.lookup(cfg, EVERYTHING).status == "error"


def test_nothing_to_ask(client: FallbackClient, provider: Provider) -> None:
    assert client.lookup(config(provider), FallbackQuery()).status == "skipped"
    only_bad_macs = FallbackQuery(wifis=(WifiNetwork("zz"), WifiNetwork("0123")))
    assert client.lookup(config(provider), only_bad_macs).status == "skipped"
    assert provider.requests == []


# ----------------------------------------------------------------- rate limit


def test_rate_limit_reached(client: FallbackClient, provider: Provider) -> None:
    cfg = config(provider, ratelimit=2, cache_expire=0)
    assert client.lookup(cfg, EVERYTHING).status == "ok"
    assert client.lookup(cfg, EVERYTHING).status == "ok"
    assert client.lookup(cfg, EVERYTHING).status == "rate_limited"
    assert len(provider.requests) == 2
    # The limit is per provider name.
    assert client.lookup(replace(cfg, name="other"), EVERYTHING).status == "ok"


def test_cached_answers_bypass_the_rate_limit(client: FallbackClient, provider: Provider) -> None:
    cfg = config(provider, ratelimit=1)
    single_cell = FallbackQuery(cells=(CELL,))
    assert client.lookup(cfg, single_cell).status == "ok"
    assert client.lookup(cfg, EVERYTHING).status == "rate_limited"
    again = client.lookup(cfg, single_cell)
    assert (again.status, again.cached) == ("ok", True)
    assert len(provider.requests) == 1


def test_limiter_down_means_no_calls(provider: Provider) -> None:
    from netatlas.http.ratelimit import RedisLimiter

    down = RedisLimiter.from_url("redis://127.0.0.1:1/0")
    fallback = FallbackClient(MemoryFallbackCache(), down, allow_private=True)
    assert fallback.lookup(config(provider), EVERYTHING).status == "rate_limited"
    assert provider.requests == []
    fallback.close()


# ----------------------------------------------------------------- cache


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


# ----------------------------------------------------------------- key rows


@dataclass
class KeyRow:
    allow_fallback: bool = True
    fallback_name: str | None = "fb"
    fallback_schema: str | None = "combain/v1"
    fallback_url: str | None = "https://example.test/v1/geolocate"
    fallback_ratelimit: int | None = 10
    fallback_ratelimit_interval: int | None = 60
    fallback_cache_expire: int | None = None


def test_config_from_key() -> None:
    cfg = FallbackConfig.from_key(KeyRow())
    assert cfg == FallbackConfig(
        "fb", "combain/v1", "https://example.test/v1/geolocate", 10, 60, cache_expire=0
    )
    default = FallbackConfig.from_key(KeyRow(fallback_schema=None))
    assert default is not None and default.schema == "ichnaea/v1"
    for broken in (
        KeyRow(allow_fallback=False),
        KeyRow(fallback_name=None),
        KeyRow(fallback_url=""),
        KeyRow(fallback_ratelimit=None),
        KeyRow(fallback_ratelimit_interval=0),
        KeyRow(fallback_schema="acme/v9"),
    ):
        assert FallbackConfig.from_key(broken) is None
    assert FallbackConfig.from_key(object()) is None
    with pytest.raises(ValueError):
        FallbackConfig("fb", "acme/v9", "https://example.test/", 10, 60)
