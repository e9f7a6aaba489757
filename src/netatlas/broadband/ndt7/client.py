"""A small ndt7 client over real sockets (the ``websockets`` package), for tests, benchmarks
and people: ``python -m netatlas.broadband.ndt7.client ws://127.0.0.1:8000``.

It speaks the protocol as ndt7-js and ndt7-client-go do: the ``net.measurementlab.ndt.v7``
subprotocol, metadata in the query string, no compression; for a download it counts the
server's binary messages until the server closes; for an upload it sends random binary
messages (8 KiB, doubled by the spec's rule up to 8 MiB) for ``duration`` seconds and then
closes. Both ways it keeps the server's measurement messages and sends its own (``AppInfo``)
four times a second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from netatlas import __version__
from netatlas.broadband.ndt7 import spec
from netatlas.broadband.ndt7.summary import Summary, summarize

__all__ = ["ClientResult", "run_test"]

#: Largest upload message (ndt7-js uploads up to 2^23 bytes).
MAX_UPLOAD_MESSAGE = 1 << 23
CLIENT_INTERVAL = 0.25


@dataclass
class ClientResult:
    direction: str
    num_bytes: int = 0
    elapsed: float = 0.0
    server_measurements: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    uuid: str | None = None
    subprotocol: str | None = None
    message_sizes: list[int] = field(default_factory=list)  # each new binary size, in order

    @property
    def client_mbps(self) -> float:
        return 8.0 * self.num_bytes / self.elapsed / 1e6 if self.elapsed > 0 else 0.0

    @property
    def server(self) -> Summary:
        """The figures as M-Lab computes them from the server's last TCPInfo."""
        return summarize(self.direction, self.server_measurements)


def test_url(base: str, direction: str, metadata: dict[str, str] | None = None) -> str:
    query = {
        "client_name": "netatlas-ndt7-client",
        "client_version": __version__,
        "client_library_name": "netatlas",
        "client_library_version": __version__,
    }
    query.update(metadata or {})
    return f"{base.rstrip('/')}/ndt/v7/{direction}?{urlencode(query)}"


def _keep(result: ClientResult, text: str) -> None:
    try:
        message = json.loads(text)
    except ValueError:
        return
    if isinstance(message, dict):
        result.server_measurements.append(message)
        uuid = (message.get("ConnectionInfo") or {}).get("UUID")
        if uuid:
            result.uuid = uuid


async def _report(ws: ClientConnection, result: ClientResult, start: float) -> None:
    while True:
        await asyncio.sleep(CLIENT_INTERVAL)
        elapsed = int((time.monotonic() - start) * 1e6)
        app = {"AppInfo": {"ElapsedTime": elapsed, "NumBytes": result.num_bytes}}
        await ws.send(json.dumps({**app, "Origin": "client", "Test": result.direction}))


async def _download(ws: ClientConnection, result: ClientResult, start: float) -> None:
    reporter = asyncio.create_task(_report(ws, result, start))
    try:
        async for message in ws:
            if isinstance(message, str):
                _keep(result, message)
            else:
                result.num_bytes += len(message)
                if not result.message_sizes or result.message_sizes[-1] != len(message):
                    result.message_sizes.append(len(message))
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await reporter


async def _read(ws: ClientConnection, result: ClientResult) -> None:
    async for message in ws:
        if isinstance(message, str):
            _keep(result, message)


async def _upload(
    ws: ClientConnection, result: ClientResult, start: float, duration: float
) -> None:
    pool = os.urandom(MAX_UPLOAD_MESSAGE)
    reader = asyncio.create_task(_read(ws, result))
    reporter = asyncio.create_task(_report(ws, result, start))
    size = spec.INITIAL_MESSAGE_SIZE
    message = pool[:size]
    try:
        while time.monotonic() - start < duration and not reader.done():
            await ws.send(message)
            result.num_bytes += size
            grown = spec.next_message_size(size, result.num_bytes, MAX_UPLOAD_MESSAGE)
            if grown != size:
                size = grown
                message = pool[:size]
        await ws.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reader, 5)
    finally:
        for task in (reader, reporter):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await task


async def run_test(
    base: str,
    direction: str,
    *,
    metadata: dict[str, str] | None = None,
    duration: float = spec.DEFAULT_RUNTIME,
    subprotocol: bool = True,
    headers: dict[str, str] | None = None,
) -> ClientResult:
    """Run one subtest against ``base`` (``ws://host:port``). Refused handshakes raise
    ``websockets.exceptions.InvalidStatus`` (its ``response`` has the status and body)."""
    url = test_url(base, direction, metadata)
    result = ClientResult(direction)
    async with connect(
        url,
        subprotocols=[spec.SUBPROTOCOL] if subprotocol else None,  # type: ignore[list-item]
        compression=None,
        max_size=spec.MAX_MESSAGE_SIZE,
        open_timeout=10,
        close_timeout=5,
        user_agent_header=f"netatlas-ndt7-client/{__version__}",
        additional_headers=headers,
    ) as ws:
        result.subprotocol = ws.subprotocol
        start = time.monotonic()
        try:
            async with asyncio.timeout(spec.MAX_RUNTIME + 5):
                if direction == spec.DOWNLOAD:
                    await _download(ws, result, start)
                else:
                    await _upload(ws, result, start, duration)
        except ConnectionClosed:
            pass
        result.elapsed = time.monotonic() - start
        result.close_code = ws.close_code
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run an ndt7 download and upload test.")
    parser.add_argument("server", help="base URL, e.g. ws://127.0.0.1:8000")
    parser.add_argument("--only", choices=[spec.DOWNLOAD, spec.UPLOAD])
    args = parser.parse_args(argv)
    for direction in [args.only] if args.only else [spec.DOWNLOAD, spec.UPLOAD]:
        r = asyncio.run(run_test(args.server, direction))
        s = r.server
        print(
            f"{direction}: {r.client_mbps:.1f} Mbit/s (client), "
            f"{s.mean_mbps or 0:.1f} Mbit/s (server), MinRTT {s.min_rtt_ms} ms, uuid {r.uuid}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
