"""Malformed and hostile input: no 500, no crash, memory bounded.

* schemathesis generates requests for every operation in ``/openapi.json``, valid ones
  (responses must match the document: status, content type, body schema) and invalid ones
  (no 5xx), against the app in-process on both backends. Runs are bounded
  (:data:`MAX_EXAMPLES` per operation) and deterministic.
* Every JSON POST endpoint gets random bytes, broken gzip, a gzip bomb, deeply nested JSON,
  non-UTF-8 text and absurd numbers (in-process).
* A real ``netatlas serve`` gets 100 MB bodies (declared and chunked), a 256 MB gzip bomb and
  slow clients that trickle their headers, while ordinary requests keep being answered; its
  memory stays within a bound set by the body limit, not by what clients send.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import os
import random
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from netatlas.http.openapi import app_document
from tests.live import listening_port, wait_until

pytestmark = pytest.mark.fault

MAX_EXAMPLES = 20
BOMB = 256 << 20  # what the gzip bomb inflates to: 64 times the served body limit
NETATLAS = str(Path(sys.executable).with_name("netatlas"))


def _fuzz(app: Any, mode: str, checks: list[Any]) -> list[str]:
    """Run every operation of the app's document through schemathesis; the failures found.

    Driven through Hypothesis directly (schemathesis' pytest plugin does not run on pytest 9):
    deterministic, no example database, no shrinking (a failure is reported as found).
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy(generation_mode=GenerationMode(mode))

        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=strategy)
        def run(case: Any) -> None:
            case.call_and_validate(checks=checks)

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            continue  # nothing to make invalid (no body, no parameters)
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    return failures


def test_valid_requests_get_documented_answers(app: Any) -> None:
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    failures = _fuzz(app, "positive", checks)
    assert not failures, "\n\n".join(failures)


def test_invalid_requests_never_get_a_server_error(app: Any) -> None:
    failures = _fuzz(app, "negative", [not_a_server_error, status_code_conformance])
    assert not failures, "\n\n".join(failures)


# Hostile bodies, in-process -----------------------------------------------------------------


@functools.cache
def _bomb(expanded: int) -> bytes:
    """A gzip stream that inflates to ``expanded`` zero bytes (about 1,000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(expanded >> 20)]
    return b"".join(parts) + compressor.flush()


@functools.cache
def _hostile_bodies() -> dict[str, tuple[bytes, dict[str, str]]]:
    rng = random.Random(23)
    gz = {"Content-Encoding": "gzip"}
    bodies: dict[str, tuple[bytes, dict[str, str]]] = {
        f"random-{i}": (rng.randbytes(rng.choice([1, 17, 1000, 65536])), {}) for i in range(6)
    }
    bodies.update(
        {
            "random-gzip-labelled": (rng.randbytes(5000), gz),
            "truncated-gzip": (gzip.compress(b'{"items": []}' * 100)[:40], gz),
            "gzip-bomb": (_bomb(BOMB), gz),
            "deep-arrays": (b"[" * 200_000, {}),
            "deep-objects": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, {}),
            "deep-inside-items": (b'{"items": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", {}),
            "latin-1": ('{"items": [{"x": "é"}]}'.encode("latin-1"), {}),
            "bad-charset": (b"{}", {"Content-Type": "application/json; charset=klingon"}),
            "huge-numbers": (b'{"items": [{"timestamp": 1e999, "position": {"age": -1e308}}]}', {}),
            "nul-bytes": (b'{"items": [{"\x00": "\x00"}]}', {}),
            "unknown-encoding": (b"{}", {"Content-Encoding": "br"}),
        }
    )  # fmt: skip
    return bodies


def _json_posts(app: Any) -> list[str]:
    paths = app_document(app.routes)["paths"]
    return sorted(p for p, ops in paths.items() if "post" in ops and "{" not in p)


def test_hostile_bodies_never_get_a_server_error(app: Any) -> None:
    failures = []
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        for path in _json_posts(app):
            for name, (body, headers) in _hostile_bodies().items():
                res = client.post(path, content=body, headers=headers)
                if res.status_code >= 500:
                    failures.append((path, name, res.status_code))
    assert not failures


# A real server: big bodies, slow clients, memory ----------------------------------------------

BODY_LIMIT = 4 << 20


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """``netatlas serve`` (one process, SQLite) with a 4 MiB body limit: (port, pid)."""
    env = {
        **os.environ,
        "NETATLAS_DATA_DIR": str(tmp_path_factory.mktemp("served")),
        "NETATLAS_DEMO": "false",
        "NETATLAS_EMBEDDED_JOBS": "false",
        "NETATLAS_LOG_LEVEL": "error",
        "NETATLAS_MAX_BODY_BYTES": str(BODY_LIMIT),
    }
    env.pop("NETATLAS_DATABASE_URL", None)
    env.pop("NETATLAS_REDIS_URL", None)
    # Port 0: the server listens where the kernel says, and /proc tells us where.
    proc = subprocess.Popen(
        [NETATLAS, "serve", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port = listening_port(proc.pid, lambda: proc.poll() is None)

    def answers() -> bool:
        assert proc.poll() is None, "the server died at start"
        heartbeat = b"GET /__lbheartbeat__ HTTP/1.1\r\nHost: x\r\n\r\n"
        return _request(port, heartbeat, quiet=True) == 200

    wait_until(answers, "the server to start", pause=0.2)
    yield port, proc.pid
    proc.terminate()
    proc.wait(30)


def _status(data: bytes) -> int:
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def _request(port: int, head: bytes, body: Iterable[bytes] = (), quiet: bool = False) -> int:
    """Send ``head`` then ``body`` chunks, stopping as soon as the server answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head)
            sock.setblocking(False)
            answer = b""
            for chunk in body:
                with contextlib.suppress(BlockingIOError):
                    answer += sock.recv(65536)
                if answer:
                    break
                try:
                    sock.setblocking(True)
                    sock.sendall(chunk)
                except OSError:
                    break  # the server answered and closed while we were still sending
                finally:
                    sock.setblocking(False)
            sock.setblocking(True)
            sock.settimeout(30)
            while b"\r\n" not in answer:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
            return _status(answer)
    except OSError:
        if quiet:
            return 0
        raise


def _waiting(sock: socket.socket) -> bool:
    """True while the server keeps ``sock`` open without answering it (no data, no EOF)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(timeout)
    return False


def _zeros(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    chunk = bytes(size)
    for _ in range(total // size):
        yield chunk


def _chunked(total: int) -> Iterator[bytes]:
    for chunk in _zeros(total):
        yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    yield b"0\r\n\r\n"


def _post(path: str, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}\r\n".encode()
    )


def test_big_bodies_bombs_and_slow_clients(server: tuple[int, int]) -> None:
    port, pid = server
    hundred_mb = 100 << 20
    before = _rss(pid)
    for path in ("/v2/geosubmit", "/v1/geolocate"):
        declared = _post(path, f"Content-Length: {hundred_mb}\r\n")
        assert _request(port, declared, _zeros(hundred_mb)) == 413
        chunked = _post(path, "Transfer-Encoding: chunked\r\n")
        assert _request(port, chunked, _chunked(hundred_mb)) == 413
        bomb = _bomb(BOMB)
        head = _post(path, f"Content-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n")
        assert _request(port, head, iter([bomb])) == 413

    # Slow clients hold connections open, trickling header bytes; others are still served.
    slow = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"POST /v2/geosubmit HTTP/1.1\r\nHost: x\r\n")
        slow.append(sock)
    try:
        for second in range(3):
            for sock in slow:
                sock.sendall(f"X-Slow-{second}: 1\r\n".encode())
            # Answered while every slow client still holds its half-sent request: they block
            # no one (a server that waited for them would never answer: they never finish).
            assert _request(port, b"GET /__lbheartbeat__ HTTP/1.1\r\nHost: x\r\n\r\n") == 200
            assert all(_waiting(sock) for sock in slow)
            time.sleep(0.5)  # the slow clients' pace, not a deadline
    finally:
        for sock in slow:
            sock.close()

    assert _request(port, b"GET /__heartbeat__ HTTP/1.1\r\nHost: x\r\n\r\n") == 200
    grown = _rss(pid) - before
    # Bounded by a few copies of the 4 MiB limit, not by the 100 MB bodies and the 256 MB bomb.
    assert grown < 24 * BODY_LIMIT, f"memory grew by {grown >> 20} MiB"
