"""The ndt7 subtests over an accepted WebSocket (ndt-server spec/ndt7-protocol.md).

* **download**: the server sends binary messages of random bytes, 8 KiB at first and doubled
  while a message is under 1/16 of the bytes sent so far (up to 256 KiB), for 10 s, or until
  250 MB with ``early_exit=250``; then it closes.
* **upload**: the server counts the client's binary messages until the client closes or
  10 s have passed; then it sends its last measurement and closes.

Either way nothing runs past the 15 s hard stop: a client that stops reading (so that the
server's sends block) is cut off there.

In both, the server sends JSON measurement messages (``AppInfo``, ``ConnectionInfo``,
``Origin``, ``Test``, and ``TCPInfo`` / ``BBRInfo`` from the kernel) at Poisson intervals of
mean 250 ms, and keeps the client's text messages as client measurements. A binary message
from the side that should only be receiving ends the test.

The client's measurements are stored as it sent them, within limits: at most
:data:`MAX_CLIENT_MEASUREMENTS` messages and :data:`MAX_CLIENT_BYTES` in all per subtest, each
a JSON text of at most :data:`MAX_CLIENT_MESSAGE`. A well-behaved client sends one small
message (~100 bytes) every 250 ms, some 40 in a test. The rest (past those limits, or not
JSON) are dropped and counted: the result file records how many (``ServerMetadata``
``client_measurements_dropped``), and the test itself goes on.

The load is a few preallocated ``bytes`` objects, one per message size, sliced once from one
random buffer: a message is handed to the WebSocket as is, with no copy per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import msgspec

from netatlas.broadband.ndt7 import spec
from netatlas.broadband.ndt7.archive import Ndt7Result, format_time
from netatlas.broadband.ndt7.tcpinfo import bbr_info, tcp_info

__all__ = [
    "MAX_CLIENT_BYTES",
    "MAX_CLIENT_MEASUREMENTS",
    "MAX_CLIENT_MESSAGE",
    "Channel",
    "ChannelClosed",
    "Limits",
    "TestRunner",
    "load_messages",
]

#: Client text messages kept per subtest (about 40 arrive in 10 s).
MAX_CLIENT_MEASUREMENTS = 100
#: Largest client text message kept (bytes of UTF-8).
MAX_CLIENT_MESSAGE = 8 * 1024
#: Client text kept per subtest in all (bytes of UTF-8): what one test may add to its file.
MAX_CLIENT_BYTES = 64 * 1024
#: WebSocket close codes.
NORMAL_CLOSURE = 1000
PROTOCOL_ERROR = 1002
#: Time allowed for the last measurement and the close once the hard stop is reached (s).
FINISH_GRACE = 1.0

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class ChannelClosed(Exception):
    """The peer went away (close frame, EOF or reset)."""


class Channel(Protocol):
    """An accepted WebSocket, as the subtests need it."""

    async def send_bytes(self, data: bytes) -> None: ...

    async def send_text(self, data: str) -> None: ...

    async def receive(self) -> bytes | str:
        """The next message; raises :class:`ChannelClosed` when the peer is gone."""

    async def close(self, code: int) -> None: ...


@dataclass(frozen=True)
class Limits:
    runtime: float = spec.DEFAULT_RUNTIME
    max_runtime: float = spec.MAX_RUNTIME
    max_message: int = spec.MAX_SCALED_MESSAGE_SIZE


@cache
def load_messages(max_size: int = spec.MAX_SCALED_MESSAGE_SIZE) -> dict[int, bytes]:
    """One random message per power-of-two size from 8 KiB to ``max_size``."""
    pool = os.urandom(max_size)
    sizes: dict[int, bytes] = {}
    size = spec.INITIAL_MESSAGE_SIZE
    while size <= max_size:
        sizes[size] = pool[:size]
        size *= 2
    return sizes


class TestRunner:
    """Runs one subtest on ``channel`` and fills ``result``."""

    def __init__(
        self,
        channel: Channel,
        result: Ndt7Result,
        sock: socket.socket | None,
        *,
        limits: Limits = Limits(),
        early_exit_bytes: int | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel = channel
        self.result = result
        self.sock = sock
        self.limits = limits
        self.early_exit_bytes = early_exit_bytes
        self.rng = rng or random.Random()
        self.clock = clock
        self.start = clock()
        self.closed_by_peer = False
        self._client_bytes = 0  # of the client measurements kept
        bbr = result.congestion_control == "bbr"
        self._bbr = bbr and sock is not None
        self._connection = {
            "Client": _hostport(result.client_ip, result.client_port),
            "Server": _hostport(result.server_ip, result.server_port),
            "UUID": result.uuid,
            "StartTime": format_time(result.test_start_ns),
        }

    # -- measurements ---------------------------------------------------------------------

    def measurement(self) -> dict[str, Any]:
        """A server measurement now; also appended to the result."""
        elapsed = int((self.clock() - self.start) * 1e6)
        m: dict[str, Any] = {
            "AppInfo": {"NumBytes": self.result.num_bytes, "ElapsedTime": elapsed},
            "ConnectionInfo": self._connection,
            "Origin": "server",
            "Test": self.result.direction,
        }
        if self.sock is not None:
            if self._bbr:
                bbr = bbr_info(self.sock)
                if bbr is not None:
                    bbr["ElapsedTime"] = elapsed
                    m["BBRInfo"] = bbr
            tcp = tcp_info(self.sock)
            if tcp is not None:
                tcp["ElapsedTime"] = elapsed
                m["TCPInfo"] = tcp
        self.result.server_measurements.append(m)
        return m

    async def send_measurement(self) -> None:
        await self.channel.send_text(_encode(self.measurement()).decode())

    def _client_text(self, text: str) -> None:
        """Keep a client measurement within the limits; count it as dropped otherwise (the
        spec makes client messages optional: a bad or surplus one is not an error)."""
        kept = self.result.client_measurements
        size = len(text) if len(text) > MAX_CLIENT_MESSAGE else len(text.encode())
        if (
            len(kept) >= MAX_CLIENT_MEASUREMENTS
            or size > MAX_CLIENT_MESSAGE
            or self._client_bytes + size > MAX_CLIENT_BYTES
        ):
            self.result.client_measurements_dropped += 1
            return
        try:
            kept.append(_decode(text))
        except (msgspec.DecodeError, RecursionError):  # not JSON, or nested too deep
            self.result.client_measurements_dropped += 1
            return
        self._client_bytes += size

    # -- subtests -------------------------------------------------------------------------

    async def _read_during_download(self) -> None:
        while True:
            message = await self.channel.receive()
            if isinstance(message, str):
                self._client_text(message)
            else:
                self.result.error = "client sent binary data during a download"
                return

    async def download(self) -> None:
        messages = load_messages(self.limits.max_message)
        size = spec.INITIAL_MESSAGE_SIZE
        deadline = self.start + self.limits.runtime
        limit = self.early_exit_bytes
        next_sample = self.start
        reader = asyncio.create_task(self._read_during_download())
        try:
            async with asyncio.timeout(self._hard_stop()):
                while not reader.done():
                    now = self.clock()
                    if now >= deadline or (limit is not None and self.result.num_bytes >= limit):
                        break
                    if now >= next_sample:
                        await self.send_measurement()
                        next_sample = now + spec.next_sample_delay(self.rng)
                    message = messages[size]
                    await self.channel.send_bytes(message)
                    self.result.num_bytes += len(message)
                    size = spec.next_message_size(
                        size, self.result.num_bytes, self.limits.max_message
                    )
                    # Give other connections a turn even when the socket never pushes back.
                    await asyncio.sleep(0)
            if reader.done() and not reader.cancelled() and reader.exception() is not None:
                self.closed_by_peer = True
        except TimeoutError:
            self.result.error = "hard stop: the client did not keep up"
        except ChannelClosed:
            self.closed_by_peer = True
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ChannelClosed):
                await reader
        await self._finish()

    async def _sample_during_upload(self) -> None:
        while True:
            await asyncio.sleep(spec.next_sample_delay(self.rng))
            await self.send_measurement()

    async def upload(self) -> None:
        sampler = asyncio.create_task(self._sample_during_upload())
        try:
            # The client stops after 10 s; so does the server, sending its last measurement
            # before it closes, so that the client sees the figures that are stored. The
            # event loop's timers may fire a little early by this session's clock (uvloop's
            # time is cached to the millisecond), so the deadline is checked again on expiry.
            deadline = self.start + self.limits.runtime
            while (remaining := deadline - self.clock()) > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        while True:
                            message = await self.channel.receive()
                            if isinstance(message, str):
                                self._client_text(message)
                                continue
                            self.result.num_bytes += len(message)
        except ChannelClosed:
            self.closed_by_peer = True
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError, ChannelClosed):
                await sampler
        await self._finish()

    def _hard_stop(self) -> float:
        return max(0.0, self.start + self.limits.max_runtime - self.clock())

    async def _finish(self) -> None:
        """The last measurement (the summary) and a normal close, if the peer is still there
        and the hard stop is not past; the last snapshot is recorded either way."""
        if self.closed_by_peer or (self.result.error and self._hard_stop() <= 0):
            self.measurement()
        else:
            try:
                async with asyncio.timeout(max(self._hard_stop(), FINISH_GRACE)):
                    await self.send_measurement()
                    code = PROTOCOL_ERROR if self.result.error else NORMAL_CLOSURE
                    await self.channel.close(code)
            except (ChannelClosed, TimeoutError):
                pass
        self.result.end_ns = time.time_ns()


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
