"""Admin-set URLs reach public hosts only: checked when saved (addresses and names resolved
now) and when connecting (the address actually connected to), unless private targets are
allowed. Real sockets on 127.0.0.1; no name needs outside DNS."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from netatlas.http.outbound import GuardedTransport, UnsafeTarget, check_url

REFUSED = [
    "http://127.0.0.1/v2/geosubmit",
    "http://127.1.2.3:8080/",
    "http://localhost:8000/v1/geolocate",
    "http://api.localhost/",
    "http://[::1]/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fe80::1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://[fd00::1]/",  # unique local
    "http://[fc00::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://240.0.0.1/",  # reserved
    "http://2130706433/",  # 127.0.0.1 as one number: a name that resolves to loopback
    "http://0x7f.1/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "http://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
    "http://public.example@127.0.0.1/",  # the host is what follows the @
]
ACCEPTED = [
    "https://8.8.8.8/v1/geolocate?key=k",
    "http://1.1.1.1:8080/",
    "https://[2606:4700:4700::1111]/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_targets_are_refused_when_saved(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="public"):
        check_url(url, allow_private=False)
    assert check_url(url, allow_private=True) == url  # when the setting allows them


@pytest.mark.parametrize("url", ACCEPTED)
def test_public_targets_are_accepted(url: str) -> None:
    assert check_url(url, allow_private=False) == url


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/", "file:///etc/passwd", "http:///x", "nonsense"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        check_url(url, allow_private=True)


def test_a_name_that_does_not_resolve_now_is_checked_later() -> None:
    url = "https://not-yet.invalid/v2/geosubmit"  # .invalid never resolves (RFC 6761)
    assert check_url(url, allow_private=False) == url


class _Server:
    def __init__(self) -> None:
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)


@pytest.fixture
def local() -> Iterator[_Server]:
    server = _Server()
    server.thread.start()
    yield server
    server.http.shutdown()
    server.http.server_close()
    server.thread.join()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]"])
def test_connections_to_private_addresses_are_refused(local: _Server, host: str) -> None:
    refused = pytest.raises(httpx.ConnectError, match="not a public address")
    with httpx.Client(transport=GuardedTransport()) as client, refused:
        client.get(f"http://{host}:{local.port}/")
    assert local.hits == 0
    with httpx.Client(transport=GuardedTransport(allow_private=True)) as client:
        if host != "[::ffff:127.0.0.1]":  # the server listens on IPv4 only
            assert client.get(f"http://{host}:{local.port}/").text == "ok"
    assert local.hits in (0, 1)


def test_proxies_from_the_environment_are_not_used(
    local: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would connect on our behalf, past the address check."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{local.port}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{local.port}")
    refused = pytest.raises(httpx.ConnectError, match="not a public address")
    with httpx.Client(transport=GuardedTransport(allow_private=False)) as client, refused:
        client.get("http://192.168.77.1:9/")
    assert local.hits == 0
