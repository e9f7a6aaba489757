"""INSERT … ON CONFLICT for whichever of SQLite and PostgreSQL a connection talks to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(conn: Connection, table: Table) -> Any:
    """A dialect ``insert()`` that has ``on_conflict_do_update`` / ``…_do_nothing``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
