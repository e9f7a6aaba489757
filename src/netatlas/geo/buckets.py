"""Address buckets: what a per-address limit counts, so one host cannot spread over many keys."""

from __future__ import annotations

import ipaddress

__all__ = ["ip_bucket"]


def ip_bucket(ip: str | None) -> str | None:
    """What the keyless limit counts: the IPv4 address, or the /64 of an IPv6 address."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(addr) >> 64 << 64, 64)))
    return str(addr)
