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

pytestmark = pytest.mark.slow


def test_separate_process_app_runs_tests_into_the_same_store(settings: Settings) -> None:
    app = ndt7_app(settings)
    app.state.broadband.limits = Limits(runtime=1.0, max_runtime=3.0)
    server, thread, port = serve(app)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/__lbheartbeat__").json() == {"status": "OK"}
        assert httpx.get(f"{base}/speedtest").status_code == 404  # ndt7 only
        result = asyncio.run(run_test(f"ws://127.0.0.1:{port}", "download"))
        live = LiveServer(base, base.replace("http", "ws"), app, app.state.broadband)
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
