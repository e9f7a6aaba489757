"""Real local servers for export tests: an MLS-compatible receiver and a moto S3 server."""

from __future__ import annotations

import dataclasses
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from netatlas.jobs.context import Context
from netatlas.settings import Settings


class Receiver:
    """A geosubmit endpoint on 127.0.0.1 that can be told to fail for a while."""

    def __init__(self) -> None:
        self.failing = 0  # answer 503 to this many more requests
        self.down = False  # answer 503 to everything
        self.items: list[dict[str, Any]] = []
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append(dict(self.headers.items()))
                    fail = receiver.down or receiver.failing > 0
                    if receiver.failing > 0:
                        receiver.failing -= 1
                    if not fail:
                        if self.headers.get("Content-Encoding") == "gzip":
                            body = gzip.decompress(body)
                        receiver.items += json.loads(body)["items"]
                self.send_response(503 if fail else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v2/geosubmit"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
    r.thread.join()


@pytest.fixture
def xsettings(settings: Settings, moto_endpoint: str) -> Settings:
    """The test settings with retries that need no waiting, the moto S3 endpoint, and
    targets on 127.0.0.1 allowed (the receiver)."""
    return dataclasses.replace(
        settings,
        export_retry_seconds=0.0,
        export_max_attempts=3,
        s3_endpoint_url=moto_endpoint,
        allow_private_targets=True,
    )


@pytest.fixture
def xctx(xsettings: Settings) -> Iterator[Context]:
    context = Context.from_settings(xsettings)
    yield context
    context.engine.dispose()
