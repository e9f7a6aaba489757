"""The audit log: who changed what, when and from where. Every admin change writes one entry
in the transaction that makes the change (or, for changes made through another feature's
functions, right after they succeed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from netatlas.admin.auth import utcnow
from netatlas.admin.models import audit_log

__all__ = ["Actor", "ChangeError", "entries", "record", "record_now"]


class ChangeError(ValueError):
    """An admin change that cannot be made; ``errors`` maps form fields to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Actor:
    """The administrator making a change, and the address the request came from."""

    user: str
    ip: str | None = None


def record(
    conn: Connection, actor: Actor, action: str, target: str | None = None, detail: Any = None
) -> None:
    conn.execute(
        insert(audit_log).values(
            time=utcnow(),
            username=actor.user,
            action=action,
            target=None if target is None else str(target)[:255],
            detail=None if detail is None else json.dumps(detail, default=str, sort_keys=True),
            client_ip=actor.ip,
        )
    )


def record_now(engine: Engine, actor: Actor, action: str, target: str | None, detail: Any) -> None:
    with engine.begin() as conn:
        record(conn, actor, action, target, detail)


def entries(engine: Engine, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
    """One page of entries, newest first, and the number of entries."""
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
        rows = conn.execute(
            select(audit_log)
            .order_by(audit_log.c.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
    return [dict(r._mapping) for r in rows], total
