"""Kernel TCP statistics of a test's connection: ``TCP_INFO``, BBR's ``TCP_CC_INFO`` and the
socket cookie, read with ``getsockopt`` on Linux.

Field names and types follow M-Lab's tcp-info package (the ``TCPInfo`` objects in ndt-server's
result files): unsigned 32-bit counters as they are, 64-bit counters as signed integers (so an
unset ``MaxPacingRate`` reads -1, as in M-Lab's files), and the two bit-field bytes whole
(``WScale``, ``AppLimited``), as M-Lab stores them.

An ASGI application never sees its sockets, so :func:`find_socket` finds the connection's
file descriptor by its two addresses among the process's open descriptors and duplicates it:
the duplicate reads the same kernel socket and is closed when the test ends. Behind a reverse
proxy, or with no ``/proc``, there is no such socket: the test then runs without ``TCPInfo``
(``AppInfo`` still counts the bytes).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import struct
from typing import Any

__all__ = [
    "TCP_INFO_FIELDS",
    "bbr_info",
    "congestion_control",
    "find_socket",
    "socket_cookie",
    "tcp_info",
]

_TCP_INFO = getattr(socket, "TCP_INFO", 11)
_TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)
_TCP_CC_INFO = 26  # include/uapi/linux/tcp.h
_SO_COOKIE = 57  # include/uapi/asm-generic/socket.h

# struct tcp_info (include/uapi/linux/tcp.h) up to tcpi_snd_wnd, the last field M-Lab keeps.
# B: __u8, I: __u32, q: __u64 read as signed like M-Lab's int64 fields.
TCP_INFO_FIELDS: tuple[tuple[str, str], ...] = (
    ("State", "B"),
    ("CAState", "B"),
    ("Retransmits", "B"),
    ("Probes", "B"),
    ("Backoff", "B"),
    ("Options", "B"),
    ("WScale", "B"),
    ("AppLimited", "B"),
    ("RTO", "I"),
    ("ATO", "I"),
    ("SndMSS", "I"),
    ("RcvMSS", "I"),
    ("Unacked", "I"),
    ("Sacked", "I"),
    ("Lost", "I"),
    ("Retrans", "I"),
    ("Fackets", "I"),
    ("LastDataSent", "I"),
    ("LastAckSent", "I"),
    ("LastDataRecv", "I"),
    ("LastAckRecv", "I"),
    ("PMTU", "I"),
    ("RcvSsThresh", "I"),
    ("RTT", "I"),
    ("RTTVar", "I"),
    ("SndSsThresh", "I"),
    ("SndCwnd", "I"),
    ("AdvMSS", "I"),
    ("Reordering", "I"),
    ("RcvRTT", "I"),
    ("RcvSpace", "I"),
    ("TotalRetrans", "I"),
    ("PacingRate", "q"),
    ("MaxPacingRate", "q"),
    ("BytesAcked", "q"),
    ("BytesReceived", "q"),
    ("SegsOut", "I"),
    ("SegsIn", "I"),
    ("NotsentBytes", "I"),
    ("MinRTT", "I"),
    ("DataSegsIn", "I"),
    ("DataSegsOut", "I"),
    ("DeliveryRate", "q"),
    ("BusyTime", "q"),
    ("RWndLimited", "q"),
    ("SndBufLimited", "q"),
    ("Delivered", "I"),
    ("DeliveredCE", "I"),
    ("BytesSent", "q"),
    ("BytesRetrans", "q"),
    ("DSackDups", "I"),
    ("ReordSeen", "I"),
    ("RcvOooPack", "I"),
    ("SndWnd", "I"),
)


def _prefixes() -> list[tuple[int, struct.Struct, tuple[str, ...]]]:
    """(bytes needed, struct, names) for each prefix of the struct, longest first: older
    kernels return a shorter struct, and only complete fields are read."""
    out = []
    for n in range(len(TCP_INFO_FIELDS), 0, -1):
        fields = TCP_INFO_FIELDS[:n]
        layout = struct.Struct("=" + "".join(f for _, f in fields))
        out.append((layout.size, layout, tuple(name for name, _ in fields)))
    return out


_PREFIXES = _prefixes()
_FULL_SIZE = _PREFIXES[0][0]
_BBR = struct.Struct("=IIIII")


def tcp_info(sock: socket.socket) -> dict[str, int] | None:
    """The connection's ``TCP_INFO`` as M-Lab names it, or None when it cannot be read."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _FULL_SIZE + 64)
    except OSError:
        return None
    size = len(raw)
    for needed, layout, names in _PREFIXES:
        if needed <= size:
            return dict(zip(names, layout.unpack_from(raw), strict=True))
    return None


def congestion_control(sock: socket.socket) -> str | None:
    """The congestion control algorithm of the connection (``bbr``, ``cubic``…)."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, _TCP_CONGESTION, 16)
    except OSError:
        return None
    return raw.split(b"\0", 1)[0].decode("ascii", "replace") or None


def bbr_info(sock: socket.socket) -> dict[str, int] | None:
    """BBR's model of the path (``BW`` bytes/s, ``MinRTT`` µs, gains), when BBR runs."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, _TCP_CC_INFO, _BBR.size)
    except OSError:
        return None
    if len(raw) < _BBR.size:
        return None
    bw_lo, bw_hi, min_rtt, pacing_gain, cwnd_gain = _BBR.unpack_from(raw)
    return {
        "BW": (bw_hi << 32) | bw_lo,
        "MinRTT": min_rtt,
        "PacingGain": pacing_gain,
        "CwndGain": cwnd_gain,
    }


def socket_cookie(sock: socket.socket) -> int | None:
    """The kernel's 64-bit socket cookie, unique per socket until the machine reboots."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, _SO_COOKIE, 8)
    except OSError:
        return None
    if len(raw) != 8:
        return None
    value: int = struct.unpack("=Q", raw)[0]
    return value


def _same(address: Any, host: str, port: int) -> bool:
    if not isinstance(address, tuple) or len(address) < 2 or address[1] != port:
        return False
    try:
        a = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
        b = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    if isinstance(b, ipaddress.IPv6Address) and b.ipv4_mapped is not None:
        b = b.ipv4_mapped
    return a == b


def find_socket(local: tuple[str, int], peer: tuple[str, int]) -> socket.socket | None:
    """A duplicate of this process's TCP socket with these two addresses, or None.

    The caller closes it. Costs a few system calls per open descriptor (about a millisecond
    for a few hundred); run it off the event loop.
    """
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for name in names:
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            dup = os.dup(int(name))
        except (OSError, ValueError):
            continue
        try:
            sock = socket.socket(fileno=dup)
        except OSError:
            os.close(dup)
            continue
        try:
            if sock.type == socket.SOCK_STREAM and sock.family in (
                socket.AF_INET,
                socket.AF_INET6,
            ):
                with contextlib.suppress(OSError):
                    if _same(sock.getpeername(), *peer) and _same(sock.getsockname(), *local):
                        return sock
        except OSError:
            pass
        sock.close()
    return None
