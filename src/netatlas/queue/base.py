"""The queue contract shared by the SQL-table queue (embedded) and the Redis queue (scale-out).

Items are opaque bytes. A consumer *claims* a batch: up to N items move out of the queue under
a batch id and a lease. The consumer then either

* ``ack``s it after committing its effect together with the batch id (see
  ``netatlas.jobs.batches``), or
* ``commit``s it: pushes derived items to other queues and removes the batch in one atomic step.

A batch whose lease runs out (the consumer died) is handed out again with the *same* id, so
effects recorded under that id are recognised and not applied twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


class QueueUnavailable(Exception):
    """The queue backend cannot take or give items right now."""


@dataclass(frozen=True)
class Batch:
    id: str
    queue: str
    items: list[bytes]
    attempts: int = 1


class Queue(Protocol):
    def push(self, queue: str, items: Sequence[bytes]) -> None:
        """Append items durably; raises QueueUnavailable when that is not possible."""

    def claim(self, queue: str, limit: int) -> Batch | None:
        """Take up to ``limit`` items (or an expired batch) under a lease; None when empty."""

    def ack(self, batch: Batch) -> None:
        """Forget a finished batch."""

    def commit(self, batch: Batch, pushes: Mapping[str, Sequence[bytes]]) -> None:
        """Push derived items and forget ``batch``, atomically."""

    def size(self, queue: str) -> int:
        """Items waiting, plus items in claimed batches not yet finished."""

    def queues(self) -> list[str]:
        """Names of queues that hold anything."""

    def ping(self) -> bool:
        """True when the backend answers."""
