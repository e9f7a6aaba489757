"""IP address → autonomous system (number and organisation), from a MaxMind ASN database.

MaxMind publishes GeoLite2-ASN monthly, and its updater replaces the file in place. The
database is read into memory (``MODE_MEMORY``) rather than memory-mapped, so a file rewritten
under a running server can never corrupt a look-up (a mapped file truncated in place kills the
process with SIGBUS); and the file's identity (inode, size, modification time) is checked at
most every ``check_every`` seconds: a changed file is loaded and swapped in, with no restart.
A file that cannot be read keeps the database already loaded (or none) and is tried again at
the next check. Look-ups never raise.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import maxminddb

from netatlas.geo.geoip import lookup_address

__all__ = ["AsnInfo", "AsnLookup", "MaxMindAsn", "NoAsn", "asn_from_path"]

log = logging.getLogger(__name__)

#: Seconds between checks of the database file for a new version.
CHECK_EVERY = 30.0


@dataclass(frozen=True, slots=True)
class AsnInfo:
    asn: int
    name: str | None  # autonomous_system_organization, e.g. "Comcast Cable Communications, LLC"


class AsnLookup(Protocol):
    def lookup(self, ip: str) -> AsnInfo | None:
        """The AS announcing a public address, or None. Never raises."""


class NoAsn:
    """No database configured."""

    def lookup(self, ip: str) -> AsnInfo | None:
        return None


def _identity(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class MaxMindAsn:
    def __init__(
        self,
        path: str,
        *,
        check_every: float = CHECK_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.check_every = check_every
        self.clock = clock
        self._reader: Any = None
        self._identity: tuple[int, int, int] | None = None
        self._checked = clock()
        self._lock = threading.Lock()
        self.build_epoch: int | None = None
        self._load(_identity(path))

    def _load(self, identity: tuple[int, int, int] | None) -> None:
        self._identity = identity
        if identity is None:
            return
        try:
            reader = maxminddb.open_database(self.path, maxminddb.MODE_MEMORY)
            database_type = str(reader.metadata().database_type)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            log.warning("ASN database %s not usable: %s", self.path, exc)
            return
        if "ASN" not in database_type:
            log.warning("%s is a %s database, not an ASN one", self.path, database_type)
            reader.close()
            return
        old, self._reader = self._reader, reader
        self.build_epoch = int(reader.metadata().build_epoch)
        if old is not None:
            # Not closed: a look-up in another thread may still hold it; memory mode keeps
            # no file open, so the collector frees it.
            log.info("ASN database %s reloaded (built %s)", self.path, self.build_epoch)

    def _maybe_reload(self) -> None:
        now = self.clock()
        if now - self._checked < self.check_every:
            return
        with self._lock:
            if now - self._checked < self.check_every:
                return
            self._checked = now
            identity = _identity(self.path)
            if identity != self._identity:
                self._load(identity)

    def lookup(self, ip: str) -> AsnInfo | None:
        self._maybe_reload()
        reader = self._reader
        address = lookup_address(ip)
        if reader is None or address is None:
            return None
        try:
            record = reader.get(address)
        except (ValueError, OSError, maxminddb.InvalidDatabaseError) as exc:
            log.warning("ASN look-up of %s failed: %s", address, exc)
            return None
        if not isinstance(record, Mapping):
            return None
        number = record.get("autonomous_system_number")
        if isinstance(number, bool) or not isinstance(number, int):
            return None
        name = record.get("autonomous_system_organization")
        return AsnInfo(number, name if isinstance(name, str) and name else None)


def asn_from_path(path: str) -> AsnLookup:
    """MaxMind when a path is configured, else the always-None lookup."""
    return MaxMindAsn(path) if path else NoAsn()
