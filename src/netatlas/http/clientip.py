"""The client's IP address, believing ``X-Forwarded-For`` only from trusted proxies.

The address is the socket peer, unless the peer is a trusted proxy. Then the
``X-Forwarded-For`` chain is read from the right (each proxy appends the address it received
the request from), trusted hops are skipped, and the first untrusted address is the client.
Anything left of that address was written by the client itself and is never believed, so a
client cannot choose its own IP by sending the header.

A peer that is no IP address (``None`` from an ASGI server listening on a Unix socket, which
only local processes, i.e. the proxy in front, can connect to) counts as trusted.

Never raises: a hop that is not an address ends the walk, and the answer falls back to the
peer (or None when the peer is not an address either).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

__all__ = ["client_ip", "parse_trusted"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# A forwarded chain longer than this is cut to its right-most hops (no real chain comes close).
MAX_HOPS = 32


def _address(text: str) -> Address | None:
    """Parse one address as proxies write them: bare, quoted, ``[v6]:port`` or ``v4:port``."""
    value = text.strip().strip('"').strip()
    if not value:
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        value = value[1:end]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]  # IPv4 with a port
    try:
        addr: Address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@functools.lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    networks: list[Network] = []
    for entry in trusted:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return tuple(networks)


def parse_trusted(trusted: Sequence[str]) -> tuple[Network, ...]:
    """The valid entries of a trusted-proxy list as networks (bad entries are skipped)."""
    return _networks(tuple(trusted))


def _is_trusted(addr: Address, networks: tuple[Network, ...]) -> bool:
    return any(addr.version == net.version and addr in net for net in networks)


def client_ip(
    scope_client_host: str | None,
    forwarded_for: str | None,
    trusted: Sequence[str] = ("127.0.0.1", "::1"),
) -> str | None:
    """The client's address as text (IPv4-mapped IPv6 written as IPv4), or None.

    ``scope_client_host`` is the ASGI ``scope["client"][0]``; ``forwarded_for`` the
    ``X-Forwarded-For`` header (several headers joined with commas); ``trusted`` proxy
    addresses or CIDRs.
    """
    peer = _address(scope_client_host) if scope_client_host else None
    networks = _networks(tuple(trusted))
    if peer is not None and not _is_trusted(peer, networks):
        return str(peer)
    fallback = None if peer is None else str(peer)
    if not forwarded_for:
        return fallback
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()][-MAX_HOPS:]
    last_trusted: Address | None = None
    for hop in reversed(hops):
        addr = _address(hop)
        if addr is None:
            return fallback
        if not _is_trusted(addr, networks):
            return str(addr)
        last_trusted = addr
    # Every hop is a trusted address: the left-most is where the request started.
    return str(last_trusted) if last_trusted is not None else fallback
