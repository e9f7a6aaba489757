"""A subtest's headline figures, computed as M-Lab's parser does (m-lab/etl ndt7_result).

From the *last* server measurement that has ``TCPInfo``:

* download Mbit/s = 8 × ``BytesAcked`` / ``ElapsedTime`` (µs); upload uses ``BytesReceived``;
* MinRTT (ms) = ``TCPInfo.MinRTT`` / 1000;
* loss rate = ``BytesRetrans`` / ``BytesSent`` for downloads, 0 for uploads (the server only
  receives, so it sees no loss of the client's data).

Without any ``TCPInfo`` (no kernel statistics, e.g. behind a proxy) the rate falls back to the
server's own byte count, ``AppInfo.NumBytes`` over ``AppInfo.ElapsedTime``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Summary", "summarize", "summarize_tcpinfo"]


@dataclass(frozen=True, slots=True)
class Summary:
    mean_mbps: float | None
    min_rtt_ms: float | None
    loss_rate: float | None
    elapsed_s: float | None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def summarize_tcpinfo(direction: str, tcp: Mapping[str, Any]) -> Summary:
    """The figures from one ``TCPInfo`` snapshot (the last of a subtest)."""
    elapsed = _int(tcp.get("ElapsedTime"))
    moved = _int(tcp.get("BytesAcked" if direction == "download" else "BytesReceived"))
    mbps = None
    if elapsed and elapsed > 0 and moved is not None and moved >= 0:
        mbps = 8.0 * moved / elapsed
    min_rtt = _int(tcp.get("MinRTT"))
    loss: float | None = 0.0
    if direction == "download":
        sent = _int(tcp.get("BytesSent"))
        retrans = _int(tcp.get("BytesRetrans"))
        loss = retrans / sent if sent and retrans is not None and sent > 0 else None
    return Summary(
        mean_mbps=mbps,
        min_rtt_ms=min_rtt / 1000.0 if min_rtt is not None and min_rtt >= 0 else None,
        loss_rate=loss,
        elapsed_s=elapsed / 1e6 if elapsed else None,
    )


def summarize(direction: str, server_measurements: Sequence[Mapping[str, Any]]) -> Summary:
    """The figures of a subtest from its server measurements (as stored in the result file)."""
    for m in reversed(server_measurements):
        tcp = m.get("TCPInfo")
        if isinstance(tcp, Mapping):
            return summarize_tcpinfo(direction, tcp)
    for m in reversed(server_measurements):
        app = m.get("AppInfo")
        if isinstance(app, Mapping):
            elapsed = _int(app.get("ElapsedTime"))
            moved = _int(app.get("NumBytes"))
            if elapsed and elapsed > 0 and moved is not None:
                return Summary(8.0 * moved / elapsed, None, None, elapsed / 1e6)
    return Summary(None, None, None, None)
