"""Fallback providers an administrator sets: the URL must reach a public host (checked when
a key is saved, on the admin pages and in the CLI, and again when connecting), and an
answer over 64 KiB is a failed fallback, read no further."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from netatlas.cli import main
from netatlas.http.ratelimit import limiter_from_settings
from netatlas.location.fallback import (
    MAX_ANSWER,
    FallbackClient,
    MemoryFallbackCache,
    fallback_client_from_settings,
)
from netatlas.location.models import api_key
from netatlas.settings import Settings
from tests.admin import test_admin
from tests.location.fallback import test_client as test_fallback
from tests.location.fallback.test_client import EVERYTHING, Provider, config

provider = test_fallback.provider  # the fixture: a provider on 127.0.0.1
admin = test_admin.admin  # the fixture: a client logged in as an administrator

METADATA = "http://169.254.169.254/latest/meta-data/"


class Unlimited:
    def fallback_allowed(self, name: str, limit: int, interval: int) -> bool:
        return True


# ---- when saved --------------------------------------------------------------------------------


def test_the_admin_pages_refuse_private_fallback_urls(admin: TestClient, engine: Engine) -> None:
    token = test_admin._csrf(admin, "/admin/keys")
    form = {
        "csrf": token,
        "valid_key": "city-app",
        "allow_fallback": "on",
        "fallback_name": "provider",
        "fallback_url": METADATA,
        "store_sample_locate": "100",
        "store_sample_submit": "100",
    }
    res = admin.post("/admin/keys", data=form)
    assert res.status_code == 400 and "169.254.169.254" in res.text and "public" in res.text
    res = admin.post("/admin/keys", data={**form, "fallback_url": "https://8.8.8.8/v1/geolocate"})
    assert "The key was created." in res.text
    res = admin.post("/admin/keys/city-app", data={**form, "fallback_url": "http://[::1]:80/"})
    assert res.status_code == 400 and "public" in res.text
    with engine.connect() as conn:
        assert conn.execute(select(api_key.c.fallback_url)).scalar() == (
            "https://8.8.8.8/v1/geolocate"
        )


def test_the_cli_refuses_private_fallback_urls(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NETATLAS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NETATLAS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("NETATLAS_REDIS_URL", settings.redis_url)
    argv = ["keys", "create", "city-app", "--fallback-name", "p", "--fallback-url"]
    assert main([*argv, "http://10.0.0.7/v1/geolocate"]) == 2
    assert "public" in capsys.readouterr().out
    assert main([*argv, "https://8.8.8.8/v1/geolocate"]) == 0
    assert main(["keys", "update", "city-app", "--fallback-url", METADATA]) == 2
    monkeypatch.setenv("NETATLAS_ALLOW_PRIVATE_TARGETS", "true")
    assert main(["keys", "update", "city-app", "--fallback-url", METADATA]) == 0


# ---- when used ---------------------------------------------------------------------------------


def test_a_private_provider_is_refused_when_connecting(
    settings: Settings, engine: Engine, provider: Provider
) -> None:
    """A key row saved before the check, or a name that resolves to a private address now."""
    strict = fallback_client_from_settings(settings, limiter_from_settings(settings, engine))
    try:
        assert strict.lookup(config(provider), EVERYTHING).status == "error"
        assert provider.requests == []
    finally:
        strict.close()
    allowed = replace(settings, allow_private_targets=True)
    local = fallback_client_from_settings(allowed, limiter_from_settings(allowed, engine))
    try:
        assert local.lookup(config(provider), EVERYTHING).status == "ok"
    finally:
        local.close()


@pytest.fixture
def local_client() -> Iterator[FallbackClient]:
    client = FallbackClient(MemoryFallbackCache(), Unlimited(), allow_private=True)
    yield client
    client.close()


def _padded(size: int) -> dict[str, Any]:
    answer: dict[str, Any] = {"location": {"lat": 51.5, "lng": -0.1}, "accuracy": 50.0}
    answer["padding"] = "x" * (size - len(str(answer)) - 20)
    return answer


def test_an_answer_over_64_kib_is_a_failed_fallback(
    local_client: FallbackClient, provider: Provider
) -> None:
    provider.answer(200, _padded(MAX_ANSWER - 1024))
    assert local_client.lookup(config(provider, cache_expire=0), EVERYTHING).status == "ok"
    provider.answer(200, _padded(MAX_ANSWER + 1024))
    assert local_client.lookup(config(provider, cache_expire=0), EVERYTHING).status == "error"
    provider.answer(200, _padded(20 * 1024 * 1024))
    assert local_client.lookup(config(provider, cache_expire=0), EVERYTHING).status == "error"


class _Endless:
    """A provider that answers without a length: a gzip bomb, or bytes until it is cut off."""

    def __init__(self, mode: str) -> None:
        self.sent = 0
        endless = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection does

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if mode.startswith("gzip"):
                    text = b'{"location": {"lat": 51.5, "lng": -0.1}, "accuracy": 50.0'
                    text += b', "padding": "' + b"0" * (50 * 1024 * 1024) + b'"}'
                    if mode == "gzip-small":
                        text = text[:57] + b"}"
                    body = gzip.compress(text)
                    self.send_header("Content-Encoding", "gzip")
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.end_headers()
                chunk = b" " * 65536
                try:
                    for _ in range(1024):  # up to 64 MiB, if anyone reads that far
                        self.wfile.write(chunk)
                        endless.sent += len(chunk)
                except OSError:
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/geolocate"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.mark.parametrize(
    ("mode", "status"), [("gzip", "error"), ("stream", "error"), ("gzip-small", "ok")]
)
def test_an_answer_without_a_length_is_cut_at_64_kib(
    local_client: FallbackClient, provider: Provider, mode: str, status: str
) -> None:
    endless = _Endless(mode)
    endless.thread.start()
    try:
        cfg = config(provider, url=endless.url, cache_expire=0)
        assert local_client.lookup(cfg, EVERYTHING).status == status
    finally:
        endless.server.shutdown()
        endless.server.server_close()
        endless.thread.join()
    assert endless.sent < 32 * 1024 * 1024  # the client stopped reading long before the end
