"""`netatlas ndt7`: the endpoints in a process of their own, storing into the same place."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from netatlas.broadband.ndt7.client import run_test
from netatlas.broadband.ndt7.server import Limits
from netatlas.broadband.ndt7.worker import ndt7_app
from netatlas.cli import build_parser
from netatlas.settings import Settings
from tests.broadband.conftest import serve
from tests.broadband.ndt7.mlab_format import check_document, read
from tests.broadband.ndt7.test_server import LiveServer, stored
from tests.live import listening_port, wait_until

pytestmark = pytest.mark.slow


def test_separate_process_app_runs_tests_into_the_same_store(settings: Settings) -> None:
    app = ndt7_app(settings)
    app.state.services.broadband.get().limits = Limits(runtime=1.0, max_runtime=3.0)
    server, thread, port = serve(app)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/__lbheartbeat__").json() == {"status": "OK"}
        assert httpx.get(f"{base}/speedtest").status_code == 404  # ndt7 only
        result = asyncio.run(run_test(f"ws://127.0.0.1:{port}", "download"))
        live = LiveServer(base, base.replace("http", "ws"), app, app.state.services.broadband.get())
        row = stored(live, result.uuid)
        check_document(read(Path(settings.data_dir) / row["archive"]))
    finally:
        server.should_exit = True
        thread.join(15)


def test_page_points_at_the_separate_process(settings: Settings) -> None:
    from starlette.testclient import TestClient

    from netatlas.app import create_app

    app = create_app(replace(settings, ndt7_server="speed.example.org:8001"), run_jobs=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get("/api/v1/speedtest/config").json()["server"] == "speed.example.org:8001"
    app.state.services.engine.dispose()


def test_command_line() -> None:
    args = build_parser().parse_args(["ndt7", "--port", "8001"])
    assert args.port == 8001 and args.func.__name__ == "cmd_ndt7"


def test_the_separate_process_counts_reach_metrics(settings: Settings) -> None:
    """`netatlas ndt7` in a process of its own: its test counts show in the main /metrics."""
    import os
    import socket
    import subprocess
    import sys

    from starlette.testclient import TestClient

    from netatlas.app import create_app

    env = {
        **os.environ,
        "NETATLAS_DATA_DIR": str(settings.data_dir),
        "NETATLAS_DATABASE_URL": settings.database_url,
        "NETATLAS_REDIS_URL": settings.redis_url,
        "NETATLAS_LOG_LEVEL": "warning",
    }
    # Port 0: the process listens where the kernel says, and /proc tells us where.
    command = [sys.executable, "-m", "netatlas.cli", "ndt7", "--port", "0"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = listening_port(proc.pid, lambda: proc.poll() is None)

        def answers() -> bool:
            assert proc.poll() is None, "the ndt7 process exited"
            try:
                return httpx.get(f"http://127.0.0.1:{port}/__lbheartbeat__").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, "the ndt7 process to answer")
        app = create_app(settings, run_jobs=False)
        with TestClient(app) as client:
            series = 'netatlas_ndt7_tests_total{direction="upload",status="400"} '

            def count() -> float:
                # Other tests in this process may have counted some already: compare.
                for line in client.get("/metrics").text.splitlines():
                    if line.startswith(series):
                        return float(line[len(series) :])
                return 0.0

            before = count()
            # A WebSocket handshake without the ndt7 subprotocol: refused with 400.
            handshake = (
                f"GET /ndt/v7/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(handshake.encode())
                assert sock.recv(200).startswith(b"HTTP/1.1 400")
            # Flushed every FLUSH_SECONDS.
            wait_until(lambda: count() == before + 1, "the ndt7 process's count", pause=0.2)
        app.state.services.close()
    finally:
        proc.terminate()
        proc.wait(15)
