"""ndt7 result files in ndt-server's data format (spec/data-format.md), and test UUIDs.

One gzip JSON file per subtest at
``<data dir>/ndt7/YYYY/MM/DD/ndt7-<download|upload>-<YYYYMMDDTHHMMSS.nnnnnnnnnZ>.<uuid>.json.gz``
holding ``GitShortCommit``, ``Version``, the two addresses, ``StartTime``, ``EndTime`` and a
``Download`` or ``Upload`` object with the UUID, times, ``ServerMeasurements``,
``ClientMeasurements`` (``null`` when the client sent none, as Go writes an empty slice),
``ClientMetadata`` and, when set, ``ServerMetadata`` — the layout M-Lab's own parser reads.
``ServerMetadata`` notes ``client_measurements_dropped`` when the server dropped client
measurements over its limits (see :mod:`.server`).
Times are RFC 3339 with nanoseconds and trailing zeros dropped, as Go marshals them.

UUIDs follow M-Lab's scheme ``<host>_<boot time>_<socket cookie, 16 hex digits>``, unique per
machine until it reboots and across every process on it; without a socket cookie the last
part is random.
"""

from __future__ import annotations

import gzip
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from netatlas import __version__

__all__ = ["Ndt7Result", "archive_path", "format_time", "make_uuid", "result_document"]

_encode = msgspec.json.Encoder().encode


@dataclass
class Ndt7Result:
    """Everything recorded about one subtest."""

    uuid: str
    direction: str  # download | upload
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    start_ns: int  # wall clock, ns since the epoch: the request arrived
    test_start_ns: int  # the WebSocket handshake completed
    end_ns: int = 0
    server_measurements: list[dict[str, Any]] = field(default_factory=list)
    client_measurements: list[Any] = field(default_factory=list)
    client_measurements_dropped: int = 0  # over the limits, or not JSON: not stored
    client_metadata: tuple[tuple[str, str], ...] = ()
    server_metadata: tuple[tuple[str, str], ...] = ()
    num_bytes: int = 0
    congestion_control: str | None = None
    error: str | None = None  # why the test ended early, when it did


def format_time(ns: int) -> str:
    """RFC 3339 in UTC with up to nine fractional digits, trailing zeros dropped (Go's
    ``time.RFC3339Nano``)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


def _file_time(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f".{frac:09d}Z"


def archive_path(result: Ndt7Result) -> str:
    """The file's path relative to the data directory."""
    day = datetime.fromtimestamp(result.start_ns / 1e9, UTC)
    name = f"ndt7-{result.direction}-{_file_time(result.start_ns)}.{result.uuid}.json.gz"
    return f"ndt7/{day:%Y/%m/%d}/{name}"


@cache
def _git_short_commit() -> str:
    from netatlas.version import version_info

    commit = version_info().get("commit", "")
    return commit[:7] if commit and commit != "unknown" else "unknown"


def _pairs(items: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in items]


def result_document(result: Ndt7Result) -> dict[str, Any]:
    """The result as ndt-server writes it."""
    test: dict[str, Any] = {
        "UUID": result.uuid,
        "StartTime": format_time(result.test_start_ns),
        "EndTime": format_time(result.end_ns),
        "ServerMeasurements": result.server_measurements or None,
        "ClientMeasurements": result.client_measurements or None,
        "ClientMetadata": _pairs(result.client_metadata) or None,
    }
    server_metadata = result.server_metadata
    if result.client_measurements_dropped:
        dropped = ("client_measurements_dropped", str(result.client_measurements_dropped))
        server_metadata = (*server_metadata, dropped)
    if server_metadata:
        test["ServerMetadata"] = _pairs(server_metadata)
    return {
        "GitShortCommit": _git_short_commit(),
        "Version": f"netatlas-v{__version__}",
        "ServerIP": result.server_ip,
        "ServerPort": result.server_port,
        "ClientIP": result.client_ip,
        "ClientPort": result.client_port,
        "StartTime": format_time(result.start_ns),
        "EndTime": format_time(result.end_ns),
        "Download" if result.direction == "download" else "Upload": test,
    }


def write_result(data_dir: Path, result: Ndt7Result) -> str:
    """Write the result file (atomically: a temporary file renamed into place); return its
    path relative to ``data_dir``."""
    relative = archive_path(result)
    target = data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    payload = _encode(result_document(result))
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as gz:
        gz.write(payload)
    os.replace(tmp, target)
    return relative


@cache
def _uuid_prefix() -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "netatlas"
    boot = 0
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                if line.startswith("btime "):
                    boot = int(line.split()[1])
                    break
    except (OSError, ValueError):
        pass
    if not boot:
        boot = int(time.time())
    return f"{host}_{boot}"


def make_uuid(cookie: int | None) -> str:
    """M-Lab's UUID form for a connection with this socket cookie (random without one)."""
    value = cookie if cookie is not None else secrets.randbits(64)
    return f"{_uuid_prefix()}_{value:016X}"
