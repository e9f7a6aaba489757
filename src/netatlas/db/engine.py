"""Engines for SQLite (embedded) and PostgreSQL (scale-out).

SQLite runs in WAL mode so readers never wait for the writer. Transactions that write start
with ``BEGIN IMMEDIATE``, so two writers queue on the database lock instead of failing half-way
with a lock upgrade; connections opened with ``execution_options(readonly=True)`` start a plain
deferred transaction and read a snapshot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from netatlas.settings import Settings


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 8)
    return create_engine(url, **kwargs)


def make_read_engine(url: str) -> Engine:
    """An engine for the request hot path, which only reads.

    On PostgreSQL its connections run in autocommit mode and are not pinged on checkout, so a
    lookup is one round trip instead of three (ping, query, rollback); a connection that died
    is replaced on its first error. Its prepared statements always use their generic plan:
    the locate lookup names every shard table with an array of keys each, and PostgreSQL
    otherwise keeps planning it anew for each set of keys (0.6 ms a query, three times its
    execution). On SQLite it is the ordinary engine: callers mark their
    connections ``readonly`` and read a WAL snapshot.
    """
    if url.startswith("sqlite"):
        return make_engine(url)
    engine = make_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=False,
        pool_recycle=600,
        pool_size=16,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _generic_plans(dbapi_conn: Any, _record: Any) -> None:
        # A SET rather than connect options, which the URL may carry (search_path, …).
        with dbapi_conn.cursor() as cur:
            cur.execute("SET plan_cache_mode = force_generic_plan")
        dbapi_conn.commit()

    return engine


def engine_from_settings(settings: Settings, *, pooled: bool = True) -> Engine:
    if not pooled:
        return make_engine(settings.sqlalchemy_url, poolclass=NullPool)
    return make_engine(settings.sqlalchemy_url)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver's implicit transactions are switched off: SQLAlchemy's "begin" event
        # below decides between a deferred and an immediate transaction.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode loses nothing when a process crashes; only an OS crash or power
        # loss can drop the last transactions, which FULL would keep at several times the cost.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
