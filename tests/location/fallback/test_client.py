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
from netatlas.http.ratelimit import limiter_from_settings
from netatlas.location.fallback import (
    BlueNetwork,
    CellNetwork,
    FallbackClient,
    FallbackConfig,
    FallbackQuery,
    MemoryFallbackCache,
    WifiNetwork,
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
