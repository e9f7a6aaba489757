"""The ndt7 protocol's fixed numbers and its request checks (ndt-server spec/ndt7-protocol.md).

Everything here is pure: no sockets, no framework. The handshake checks raise
:class:`Ndt7Error`, which the web layer turns into an HTTP answer *before* the WebSocket
upgrade, so a client always learns why it was refused.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

__all__ = [
    "DEFAULT_RUNTIME",
    "DOWNLOAD",
    "EARLY_EXIT_BYTES",
    "INITIAL_MESSAGE_SIZE",
    "MAX_MESSAGE_SIZE",
    "MAX_METADATA_BYTES",
    "MAX_RUNTIME",
    "MAX_SCALED_MESSAGE_SIZE",
    "SUBPROTOCOL",
    "UPLOAD",
    "Ndt7Error",
    "Request",
    "check_subprotocol",
    "next_message_size",
    "next_sample_delay",
    "parse_request",
]

SUBPROTOCOL = "net.measurementlab.ndt.v7"
DOWNLOAD = "download"
UPLOAD = "upload"

#: A subtest runs up to this long from the end of the handshake (seconds).
DEFAULT_RUNTIME = 10.0
#: Past this the server closes the connection whatever the client does (seconds).
MAX_RUNTIME = 15.0
#: First binary message size (2^13 bytes).
INITIAL_MESSAGE_SIZE = 1 << 13
#: Largest message we send (the spec allows up to 2^24; ndt-server stops at 2^20). One send is
#: the unit of event-loop time a download takes before other requests get a turn: a quarter
#: mebibyte keeps that near 0.1 ms at 10 Gbit/s and still fills a loopback link.
MAX_SCALED_MESSAGE_SIZE = 1 << 18
#: Largest message we accept, as the spec requires of every implementation (2^24 bytes).
MAX_MESSAGE_SIZE = 1 << 24
#: The query string (client metadata) may be at most this long.
MAX_METADATA_BYTES = 4096
#: ``early_exit=250``: stop the download once this many bytes are sent (250 MB).
EARLY_EXIT_BYTES = 250_000_000
#: Accepted values of ``early_exit`` (in MB). The spec accepts only 250.
EARLY_EXIT_VALUES = {"250": EARLY_EXIT_BYTES}

#: Measurement messages are sent at Poisson intervals of this mean, clamped (seconds),
#: as ndt-server does: on average 4 a second, never more than 40.
SAMPLE_MEAN = 0.25
SAMPLE_MIN = 0.025
SAMPLE_MAX = 0.625

#: Metadata keys that are credentials or server-only: checked or dropped, never stored.
#: ndt-server drops ``server_*`` keys; ``access_token`` is a credential.
TOKEN_KEY = "access_token"
SERVER_PREFIX = "server_"


class Ndt7Error(Exception):
    """A refused handshake: HTTP ``status`` and a message that says what to fix."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Request:
    """A checked ndt7 request: the metadata to store, the token and the early-exit limit."""

    metadata: tuple[tuple[str, str], ...]
    access_token: str | None
    early_exit_bytes: int | None


def check_subprotocol(offered: Sequence[str]) -> None:
    """The client must offer ``net.measurementlab.ndt.v7`` (the 101 answer echoes it)."""
    if SUBPROTOCOL not in offered:
        raise Ndt7Error(
            400,
            f"missing WebSocket subprotocol: send 'Sec-WebSocket-Protocol: {SUBPROTOCOL}'",
        )


def parse_request(query_string: bytes | str) -> Request:
    """Check the query string (the client's metadata) as the spec requires.

    At most 4096 bytes of URL-encoded UTF-8, every key once and with a value; ``early_exit``
    only as ``250``. Keys starting with ``server_`` are dropped and ``access_token`` is taken
    out, so neither is stored.
    """
    raw = query_string if isinstance(query_string, bytes) else query_string.encode("latin-1")
    if len(raw) > MAX_METADATA_BYTES:
        raise Ndt7Error(
            400, f"metadata too long: {len(raw)} bytes, the limit is {MAX_METADATA_BYTES}"
        )
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise Ndt7Error(400, "metadata must be URL-encoded (ASCII) UTF-8") from None
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, encoding="utf-8", errors="strict"
        )
    except UnicodeDecodeError:
        raise Ndt7Error(400, "metadata is not valid UTF-8 once decoded") from None
    seen: set[str] = set()
    for part in text.split("&"):
        if part and "=" not in part:
            raise Ndt7Error(400, f"metadata key without a value: {part[:64]!r}")
    kept: list[tuple[str, str]] = []
    token: str | None = None
    early_exit: int | None = None
    for key, value in pairs:
        if not key:
            raise Ndt7Error(400, "metadata with an empty key")
        if key in seen:
            raise Ndt7Error(400, f"duplicate metadata key: {key[:64]!r}")
        seen.add(key)
        if value == "":
            raise Ndt7Error(400, f"metadata key without a value: {key[:64]!r}")
        if key == TOKEN_KEY:
            token = value
            continue
        if key == "early_exit":
            if value not in EARLY_EXIT_VALUES:
                raise Ndt7Error(400, f"early_exit must be 250 (MB), not {value[:16]!r}")
            early_exit = EARLY_EXIT_VALUES[value]
        if key.startswith(SERVER_PREFIX):
            continue
        kept.append((key, value))
    return Request(metadata=tuple(kept), access_token=token, early_exit_bytes=early_exit)


def next_message_size(current: int, total_sent: int, cap: int = MAX_SCALED_MESSAGE_SIZE) -> int:
    """The spec's scaling rule: double the message while it is under 1/16 of the bytes
    sent so far, up to ``cap``."""
    if current < cap and current * 16 < total_sent:
        return current * 2
    return current


def next_sample_delay(rng: random.Random | None = None) -> float:
    """Seconds to the next measurement message: exponential, mean 250 ms, in [25, 625] ms."""
    draw = (rng or random).expovariate(1.0 / SAMPLE_MEAN)
    return min(SAMPLE_MAX, max(SAMPLE_MIN, draw))
