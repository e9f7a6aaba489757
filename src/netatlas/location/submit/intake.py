"""Accepting a submission: decode, parse leniently, queue durably.

This is the domain step behind the three submit routes; it knows nothing about HTTP.
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Literal

from netatlas.http.body import decode_body
from netatlas.http.errors import Unavailable
from netatlas.http.metrics import STATS
from netatlas.location.keys import ApiKey
from netatlas.location.submit.backpressure import QUEUE_RETRY_AFTER, Backpressure
from netatlas.location.submit.parse import parse_submit
from netatlas.location.submit.report import Submission, encode_submission
from netatlas.queue import Queue, QueueUnavailable

INCOMING = "incoming"


def contributor_id(address: str | None, key: bytes) -> int:
    """A contributor's id: a 31-bit hash of the client address keyed with a site secret.

    Stations remember who vouches for their position (offline packs publish only stations seen
    by two contributors); the keyed hash lets two submissions be told apart without the
    address being kept or recoverable. 0 (unknown) without an address or a key.
    """
    if not address or not key:
        return 0
    digest = hashlib.blake2b(address.encode(), key=key[:64], digest_size=4).digest()
    return (int.from_bytes(digest, "big") & 0x7FFFFFFF) or 1


def prepare_submission(
    raw: bytes,
    *,
    api: Literal["v2", "v1", "v0"],
    content_encoding: str | None,
    charset: str | None,
    max_size: int,
    key: ApiKey | None,
) -> tuple[bytes | None, int]:
    """Decode and parse ``raw`` into the queue item; returns (item or None, reports).

    Pure CPU work. Raises ParseError / PayloadTooLarge for a body that cannot be read at all;
    bad entries are dropped and counted.
    """
    text = decode_body(raw, content_encoding, charset, max_size)
    return parse_submission(text, api=api, key=key)


def parse_submission(
    text: str, *, api: Literal["v2", "v1", "v0"], key: ApiKey | None, contributor: int = 0
) -> tuple[bytes | None, int]:
    """Parse a decoded body into the queue item; returns (item or None, reports)."""
    now_ms = int(time.time() * 1000)
    result = parse_submit(text, api, now_ms)
    STATS.requests += 1
    STATS.dropped.update(result.dropped)
    if not result.reports:
        return None, 0
    # A key's submit sample rate may discard the whole request; it still succeeds.
    if key is not None and random.random() * 100 >= key.store_sample_submit:
        return None, 0
    submission = Submission(
        reports=result.reports,
        api_key=key.valid_key if key else None,
        received=now_ms,
        contributor=contributor,
    )
    return encode_submission(submission), len(result.reports)


def queue_submission(
    queue: Queue, item: bytes, reports: int, pressure: Backpressure | None = None
) -> None:
    """Push a prepared item durably; ServiceUnavailable when the queue cannot take it.

    With ``pressure``, a backlog over the hard limit refuses the item (``Overloaded``, a 503
    with ``Retry-After``) before anything is queued.
    """
    if pressure is not None:
        pressure.admit_submission()
    try:
        queue.push(INCOMING, [item])
    except QueueUnavailable as exc:
        raise Unavailable(QUEUE_RETRY_AFTER) from exc
    STATS.reports += reports


def accept_submission(
    queue: Queue,
    raw: bytes,
    *,
    api: Literal["v2", "v1", "v0"],
    content_encoding: str | None,
    charset: str | None,
    max_size: int,
    key: ApiKey | None,
) -> int:
    """Queue the reports in ``raw``; returns how many were queued."""
    item, reports = prepare_submission(
        raw,
        api=api,
        content_encoding=content_encoding,
        charset=charset,
        max_size=max_size,
        key=key,
    )
    if item is not None:
        queue_submission(queue, item, reports)
    return reports
