"""The published packs as the site serves them: each pack's newest complete build."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import IO

import msgspec

from netatlas.location.packs.build import MANIFEST, PREFIX, Manifest, current_all
from netatlas.storage.files import FileStore

__all__ = ["PackListing", "Published", "ServedFile"]


@dataclass(frozen=True)
class ServedFile:
    key: str  # the name in the store
    size: int
    sha256: str  # the strong ETag
    media_type: str


@dataclass(frozen=True)
class Published:
    manifest: Manifest
    manifest_bytes: bytes  # as served at /downloads/packs/<id>/manifest.json

    def file(self, name: str) -> ServedFile | None:
        base = f"{PREFIX}{self.manifest.pack}/{self.manifest.build}/"
        if name == MANIFEST:
            digest = hashlib.sha256(self.manifest_bytes).hexdigest()
            return ServedFile(base + MANIFEST, len(self.manifest_bytes), digest, "application/json")
        for f in self.manifest.files:
            if f.name == name:
                return ServedFile(base + name, f.size, f.sha256, "application/gzip")
        return None


class PackListing:
    """The published packs, re-read from the store at most once a minute."""

    def __init__(self, store: FileStore, seconds: float = 60.0) -> None:
        self.store = store
        self.seconds = seconds
        self._lock = threading.Lock()
        self._at = -1e18
        self._value: dict[str, Published] = {}

    def get(self) -> dict[str, Published]:
        """Pack id -> its newest complete build."""
        with self._lock:
            if time.monotonic() - self._at > self.seconds:
                found = {}
                for m in current_all(self.store):
                    found[m.pack] = Published(m, msgspec.json.format(msgspec.json.encode(m)))
                self._value = found
                self._at = time.monotonic()
            return self._value

    def open(self, served: ServedFile) -> IO[bytes]:
        return self.store.open(served.key)
