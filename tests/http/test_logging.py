"""Log lines as JSON or text, with the request id of the request they were written for."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.http.logging import (
    REQUEST_ID,
    JsonFormatter,
    TextFormatter,
    configure_logging,
    uvicorn_log_config,
)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("netatlas.test_logging")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_json_lines_carry_extras_and_the_request_id(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    token = REQUEST_ID.set("req-1")
    try:
        logger.info("hello %s", "there", extra={"status": 503, "thing": object()})
    finally:
        REQUEST_ID.reset(token)
    logger.info("outside")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello there"
    assert first["level"] == "info"
    assert first["logger"] == "netatlas.test_logging"
    assert first["request_id"] == "req-1"
    assert first["status"] == 503
    assert first["thing"].startswith("<object")
    assert "request_id" not in second


def test_exceptions_are_one_json_line(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "ValueError: bad" in json.loads(lines[0])["error"]


def test_text_lines() -> None:
    record = logging.LogRecord("netatlas.x", logging.WARNING, "", 0, "slow %d", (5,), None)
    record.duration_ms = 1200
    token = REQUEST_ID.set("abc")
    try:
        line = TextFormatter().format(record)
    finally:
        REQUEST_ID.reset(token)
    assert line == "WARNING netatlas.x slow 5 [abc] duration_ms=1200"


def test_request_ids_reach_logs_written_in_the_thread_pool(settings: Any) -> None:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.testclient import TestClient

    from netatlas.http.observe import Observe

    seen: list[str | None] = []

    async def view(request: Request) -> Response:
        await run_in_threadpool(lambda: seen.append(REQUEST_ID.get()))
        return Response("ok")

    app = Starlette(routes=[Route("/", view)], middleware=[Middleware(Observe)])
    with TestClient(app) as client:
        res = client.get("/", headers={"X-Request-ID": "from-nginx"})
    assert seen == ["from-nginx"]
    assert res.headers["x-request-id"] == "from-nginx"


def test_configuration_from_settings(settings: Any) -> None:
    import dataclasses

    config = uvicorn_log_config(dataclasses.replace(settings, log_format="json"))
    assert config["formatters"]["netatlas"]["fmt"] == "json"
    assert config["loggers"]["uvicorn.error"]["propagate"] is True
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging(dataclasses.replace(settings, log_format="json", log_level="warning"))
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        assert root.level == logging.WARNING
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
