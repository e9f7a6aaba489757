"""Connections to hosts an administrator named: geosubmit export targets, fallback providers.

An administrator (or whoever took over an admin session) can type any URL into those
settings. Without a guard, the service would then POST to its own loopback services, the
cloud metadata endpoint (169.254.169.254), or anything else on the private network it runs
in. So, unless ``NETATLAS_ALLOW_PRIVATE_TARGETS`` is set (tests, closed networks), such a
URL may only reach public unicast addresses:

* **when it is saved**, :func:`check_url` refuses a URL whose host is, or resolves to, a
  loopback, link-local, private (RFC 1918, RFC 6598, ULA fc00::/7), unspecified, multicast or
  otherwise reserved address, with a message saying why;
* **when it is used**, :class:`GuardedTransport` resolves the host itself, drops every such
  address, and connects to one of the addresses it checked (TLS still verifies the host
  name). A name that resolved to a public address when saved and to a private one later (DNS
  rebinding) is refused at the connection, as a connection error.

Redirects are never followed by the clients that use this, and proxies from the environment
are not used (a proxy would connect on our behalf, past the check).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

__all__ = ["GuardedTransport", "UnsafeTarget", "check_url", "public_address", "resolve"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
# IPv6 ranges that carry an IPv4 address a router may hand on: NAT64 (RFC 6052).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeTarget(ValueError):
    """A URL that may not be used as a target; the message says why."""


def _embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr.sixtofour is not None:
        return addr.sixtofour
    return None


def public_address(addr: IPAddress) -> bool:
    """Whether ``addr`` is a public unicast address (and so may be connected to)."""
    if isinstance(addr, ipaddress.IPv6Address):
        inner = _embedded_v4(addr)
        if inner is not None and not public_address(inner):
            return False
    return addr.is_global and not (
        addr.is_multicast
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_private
        or addr.is_unspecified
        or addr.is_reserved
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an address literal is itself). OSError if none."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        addr = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if addr not in found:
            found.append(addr)
    return found


def check_url(url: str, *, allow_private: bool, schemes: Iterable[str] = ("http", "https")) -> str:
    """``url`` if it may be saved as a target; :class:`UnsafeTarget` saying why not.

    A host name that does not resolve now is accepted: it is checked again, address by
    address, whenever a connection is made.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"not a valid URL: {exc}") from None
    allowed = tuple(schemes)
    if parts.scheme not in allowed:
        raise UnsafeTarget(f"the URL must start with {' or '.join(s + '://' for s in allowed)}")
    host = parts.hostname
    if not host:
        raise UnsafeTarget("the URL has no host")
    if allow_private:
        return url
    if host == "localhost" or host.endswith(".localhost"):
        raise UnsafeTarget(f"{host} is this machine: targets must be public hosts")
    try:
        addresses = resolve(host, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError, ValueError):
        return url  # not resolvable now: checked when connecting
    bad = [a for a in addresses if not public_address(a)]
    if bad:
        raise UnsafeTarget(
            f"{host} is, or resolves to, {bad[0]}: a loopback, link-local, private or other"
            " non-public address. Targets must be public hosts"
            " (NETATLAS_ALLOW_PRIVATE_TARGETS=true allows others)"
        )
    return url


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects only to public addresses of a host, resolved and checked here."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError, ValueError) as exc:
            raise httpcore.ConnectError(f"{host}: {exc}") from exc
        usable = [a for a in addresses if public_address(a)]
        if not usable:
            raise httpcore.ConnectError(
                f"{host} resolves to {', '.join(map(str, addresses))}: not a public address"
                " (NETATLAS_ALLOW_PRIVATE_TARGETS is off)"
            )
        error: Exception | None = None
        for addr in usable:  # the checked address itself, never the name again
            try:
                return self._backend.connect_tcp(
                    str(addr), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("targets are never Unix sockets")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An ``httpx`` transport that connects only to public addresses unless
    ``allow_private``. No proxy: the connection is made from here, to the checked address."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        retries: int = 0,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(retries=retries, limits=limits, trust_env=False)
        if allow_private:
            return
        # The same pool httpx builds, with the guarded network backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            retries=retries,
            network_backend=_GuardedBackend(),
        )
