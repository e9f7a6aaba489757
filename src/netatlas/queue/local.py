"""The embedded queue: two tables in the application database.

Pushing is one INSERT in its own committed transaction, so a 2xx answer is only sent after the
items are on disk (WAL). Claiming moves items into ``queue_batch`` in one transaction.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence

import msgspec
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from netatlas.clock import Clock, system_clock
from netatlas.db.models import queue_batch, queue_item
from netatlas.queue.base import Batch, QueueUnavailable

_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(list[bytes]).decode


class _Pending:
    __slots__ = ("done", "error", "rows")

    def __init__(self, rows: list[dict[str, object]]) -> None:
        self.rows = rows
        self.done = False
        self.error: Exception | None = None


class SqlQueue:
    def __init__(
        self, engine: Engine, lease_seconds: float = 300.0, clock: Clock = system_clock
    ) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        # Item creation times and lease deadlines are read from this clock (seconds since
        # the epoch), so a test can run a lease out by advancing it.
        self.clock = clock
        self._writer = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[_Pending] = []

    def push(self, queue: str, items: Sequence[bytes]) -> None:
        """Insert items and commit before returning, grouping concurrent pushes.

        Group commit: whichever thread gets the writer lock commits every push waiting at that
        moment in one transaction. Threads then queue on a Python lock instead of polling
        SQLite's busy handler, whose growing sleeps gave second-long tails under load.
        """
        if not items:
            return
        now = self.clock()
        entry = _Pending([{"queue": queue, "payload": item, "created": now} for item in items])
        with self._pending_lock:
            self._pending.append(entry)
        with self._writer:
            if not entry.done:
                with self._pending_lock:
                    group, self._pending = self._pending, []
                error: Exception | None = None
                try:
                    with self.engine.begin() as conn:
                        conn.execute(insert(queue_item), [r for p in group for r in p.rows])
                except SQLAlchemyError as exc:
                    error = QueueUnavailable(str(exc))
                for pending in group:
                    pending.error = error
                    pending.done = True
        if entry.error is not None:
            raise entry.error

    def claim(self, queue: str, limit: int) -> Batch | None:
        now = self.clock()
        with self.engine.begin() as conn:
            expired = conn.execute(
                select(queue_batch.c.id, queue_batch.c.payload, queue_batch.c.attempts)
                .where(queue_batch.c.queue == queue, queue_batch.c.lease_until < now)
                .order_by(queue_batch.c.lease_until)
                .limit(1)
            ).first()
            if expired is not None:
                attempts = expired.attempts + 1
                conn.execute(
                    update(queue_batch)
                    .where(queue_batch.c.id == expired.id)
                    .values(lease_until=now + self.lease_seconds, attempts=attempts)
                )
                return Batch(expired.id, queue, _unpack(expired.payload), attempts)
            rows = conn.execute(
                select(queue_item.c.id, queue_item.c.payload)
                .where(queue_item.c.queue == queue)
                .order_by(queue_item.c.id)
                .limit(limit)
            ).all()
            if not rows:
                return None
            conn.execute(
                delete(queue_item).where(
                    queue_item.c.queue == queue,
                    queue_item.c.id >= rows[0].id,
                    queue_item.c.id <= rows[-1].id,
                )
            )
            items = [bytes(r.payload) for r in rows]
            batch = Batch(uuid.uuid4().hex, queue, items)
            conn.execute(
                insert(queue_batch).values(
                    id=batch.id,
                    queue=queue,
                    payload=_pack(items),
                    lease_until=now + self.lease_seconds,
                    attempts=1,
                )
            )
            return batch

    def ack(self, batch: Batch) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(queue_batch).where(queue_batch.c.id == batch.id))

    def commit(self, batch: Batch, pushes: Mapping[str, Sequence[bytes]]) -> None:
        now = self.clock()
        rows = [
            {"queue": name, "payload": item, "created": now}
            for name, items in pushes.items()
            for item in items
        ]
        with self.engine.begin() as conn:
            if rows:
                conn.execute(insert(queue_item), rows)
            conn.execute(delete(queue_batch).where(queue_batch.c.id == batch.id))

    def size(self, queue: str) -> int:
        with self.engine.connect() as conn:
            waiting = conn.execute(
                select(func.count()).select_from(queue_item).where(queue_item.c.queue == queue)
            ).scalar_one()
            claimed = conn.execute(
                select(queue_batch.c.payload).where(queue_batch.c.queue == queue)
            ).all()
        return int(waiting) + sum(len(_unpack(r.payload)) for r in claimed)

    def queues(self) -> list[str]:
        with self.engine.connect() as conn:
            names = set(conn.execute(select(queue_item.c.queue).distinct()).scalars())
            names |= set(conn.execute(select(queue_batch.c.queue).distinct()).scalars())
        return sorted(names)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except OperationalError:
            return False
        return True
