"""Settings documents an operator edits on the admin pages: the survey form and the
statistics aggregations.

Each is a JSON document stored in ``config_document`` under its name. While none is stored,
the settings file (``NETATLAS_SURVEY_PATH``, ``NETATLAS_AGGREGATIONS_PATH``) or the built-in
default applies. :class:`Configured` gives the one in force, checking the table at most once
every :data:`RECHECK` seconds, so an edit reaches every server process within that time
without a restart.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    Text,
    delete,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from netatlas.db.metadata import metadata
from netatlas.db.upsert import insert_for

__all__ = [
    "RECHECK",
    "Configured",
    "Document",
    "config_document",
    "delete_document",
    "get_document",
    "put_document",
]

T = TypeVar("T")

#: Seconds between two looks at the stored document.
RECHECK = 2.0

config_document = Table(
    "config_document",
    metadata,
    Column("name", String(32), primary_key=True),  # "survey" or "aggregations"
    Column("body", Text, nullable=False),  # JSON
    Column("version", Integer, nullable=False),  # bumped by every save
    Column("updated", DateTime, nullable=False),
    Column("updated_by", String(64)),
)


@dataclass(frozen=True)
class Document:
    name: str
    body: str
    version: int
    updated: datetime
    updated_by: str | None

    def data(self) -> Any:
        return json.loads(self.body)


def get_document(conn: Connection, name: str) -> Document | None:
    row = conn.execute(select(config_document).where(config_document.c.name == name)).first()
    if row is None:
        return None
    return Document(row.name, row.body, int(row.version), row.updated, row.updated_by)


def put_document(conn: Connection, name: str, data: Any, by: str | None) -> int:
    """Store ``data`` (JSON-serialisable) as the document ``name``; returns its version."""
    body = json.dumps(data, indent=2, ensure_ascii=False)
    now = datetime.now(UTC).replace(tzinfo=None)
    stmt = (
        insert_for(conn, config_document)
        .values(name=name, body=body, version=1, updated=now, updated_by=by)
        .on_conflict_do_update(
            index_elements=["name"],
            set_={
                "body": body,
                "version": config_document.c.version + 1,
                "updated": now,
                "updated_by": by,
            },
        )
        .returning(config_document.c.version)
    )
    return int(conn.execute(stmt).scalar_one())


def delete_document(conn: Connection, name: str) -> bool:
    """Forget the stored document (the settings file or default applies again)."""
    return bool(
        conn.execute(delete(config_document).where(config_document.c.name == name)).rowcount
    )


class Configured(Generic[T]):
    """The setting in force: the stored document when there is one, else ``fallback()``.

    ``parse`` turns a stored document's data into the setting (and raises on a bad one);
    parsed values are kept per document version, the fallback once.
    """

    def __init__(
        self,
        engine: Engine | None,
        name: str,
        parse: Callable[[Any], T],
        fallback: Callable[[], T],
        recheck: float = RECHECK,
    ) -> None:
        self.engine = engine
        self.name = name
        self._parse = parse
        self._fallback = fallback
        self._recheck = recheck
        self._lock = threading.Lock()
        self._checked = -float("inf")
        self._version = 0  # 0: no stored document
        self._value: T | None = None
        self._fallback_value: T | None = None

    def current(self) -> T:
        with self._lock:
            now = time.monotonic()
            if self.engine is not None and now - self._checked >= self._recheck:
                self._refresh()
                self._checked = now
            if self._version and self._value is not None:
                return self._value
            if self._fallback_value is None:
                self._fallback_value = self._fallback()
            return self._fallback_value

    def forget(self) -> None:
        """Look at the table again on the next call (after a save in this process)."""
        with self._lock:
            self._checked = -float("inf")

    def _refresh(self) -> None:
        assert self.engine is not None
        try:
            with self.engine.connect() as conn:
                doc = get_document(conn, self.name)
        except SQLAlchemyError:
            return  # keep what was in force: the heartbeat reports the database
        if doc is None:
            self._version, self._value = 0, None
        elif doc.version != self._version:
            self._value = self._parse(doc.data())
            self._version = doc.version
