"""Shared wiring: every database test runs on SQLite, and on PostgreSQL + Redis when
``NETATLAS_TEST_DATABASE_URL`` and ``NETATLAS_TEST_REDIS_URL`` are set (CI sets both)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, text

from netatlas.clock import ManualClock, system_clock
from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade
from netatlas.features import load_models
from netatlas.jobs.context import Context
from netatlas.settings import Settings

PG_URL = os.environ.get("NETATLAS_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("NETATLAS_TEST_REDIS_URL", "")
# Test data the repository carries (provenance and licences in tests/data/README.md).
DATA = Path(__file__).resolve().parent / "data"

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL and REDIS_URL else [])


def _worker_number(config: Any) -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") else 0


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating 50 tables per test is slow)."""
    path = tmp_path_factory.mktemp("template") / "netatlas.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """A migrated PostgreSQL schema for this test process, emptied between tests."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(_pg_url(schema))
    upgrade(engine)
    engine.dispose()
    yield schema
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _pg_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def _empty_pg(engine: Engine) -> None:
    tables = [t.name for t in load_models().sorted_tables]
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)))
        conn.execute(
            text(
                "INSERT INTO export_config (name, batch, schema)"
                " VALUES ('internal', 100, 'internal')"
            )
        )
        # As migration 0003 leaves it: the default raw archive.
        conn.execute(
            text(
                "INSERT INTO export_config (name, batch, schema, url, max_age)"
                " VALUES ('archive', 1000, 'file', 'archive/{year}/{month}/{day}', 3600)"
            )
        )


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for an empty, migrated database (and queue) on one backend."""
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "netatlas.db")
        yield Settings(data_dir=tmp_path, demo=False, embedded_jobs=False)
        return
    schema = request.getfixturevalue("pg_schema")
    # Each xdist worker counts down from the URL's database number (15, 14, ... by default),
    # so two suites run side by side with different numbers never share a database.
    base, _, number = REDIS_URL.rpartition("/")
    db = (int(number) if number.isdigit() else 15) - _worker_number(request.config)
    redis_url = f"{base}/{db}"
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    s = Settings(
        data_dir=tmp_path,
        database_url=_pg_url(schema),
        redis_url=redis_url,
        demo=False,
        embedded_jobs=False,
    )
    engine = make_engine(s.database_url)
    _empty_pg(engine)
    engine.dispose()
    yield s
    client.flushdb()
    client.close()


@pytest.fixture
def queue_clock() -> ManualClock:
    """The queue's clock, moved by hand (``queue_clock.advance(seconds)``); starts at the
    real time."""
    return ManualClock()


@pytest.fixture
def ctx(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Context]:
    """A job context on one backend. When the test also asks for ``queue_clock``, the queue
    reads that manual clock: leases run out when the test advances it, never by sleeping."""
    manual = "queue_clock" in request.fixturenames
    clock = request.getfixturevalue("queue_clock") if manual else system_clock
    context = Context.from_settings(settings, clock=clock)
    yield context
    context.engine.dispose()


@pytest.fixture
def engine(ctx: Context) -> Engine:
    return ctx.engine


@pytest.fixture
def app(settings: Settings) -> Iterator[Any]:
    from netatlas.app import create_app

    application = create_app(settings, run_jobs=False)
    yield application
    application.state.services.engine.dispose()


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    """An in-process HTTP client (httpx over ASGI, through Starlette's TestClient)."""
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


# A local S3 server (moto in server mode on 127.0.0.1), shared by the export and tile tests.


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """A fresh bucket on the local moto server, and a boto3 client to look into it."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=moto_endpoint)
    bucket = "b-" + uuid.uuid4().hex[:12]
    client.create_bucket(Bucket=bucket)
    yield bucket, client
