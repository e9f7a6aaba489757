"""Tile stores: where rendered tiles are published, behind one small Protocol.

A store holds ``{z}/{x}/{y}.png`` tiles, ``0/0/0@2x.png`` and ``data.json``. Two
implementations: a local directory (the embedded default, ``<data dir>/tiles``, served by the
app at ``/tiles/…``) and an S3 bucket prefix (:mod:`netatlas.storage.s3`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from netatlas.settings import Settings

DATA_JSON = "data.json"
RETINA = "0/0/0@2x.png"
MAX_ZOOM = 13
DEFAULT_ZOOMS = (0, 11)
_TILE_PATH = re.compile(r"^(\d{1,2})/(\d{1,5})/(\d{1,5})(@2x)?\.png$")


class StoreError(Exception):
    """The store could not be listed, read or written."""


@dataclass(frozen=True)
class StoredTile:
    size: int
    md5: str  # hex digest of the content


def tile_path(z: int, x: int, y: int) -> str:
    return f"{z}/{x}/{y}.png"


def valid_tile(z: int, x: int, y: int, retina: bool = False) -> bool:
    if retina:
        return z == x == y == 0
    return 0 <= z <= MAX_ZOOM and 0 <= x < (1 << z) and 0 <= y < (1 << z)


def parse_zooms(text: str) -> tuple[int, int]:
    """``"0-11"`` or ``"5"`` → (min, max); ValueError for anything else."""
    match = re.fullmatch(r"(\d{1,2})(?:-(\d{1,2}))?", text.strip())
    if match is None:
        raise ValueError(f"zoom levels look like 0-11 or 5, not {text!r}")
    zooms = (int(match.group(1)), int(match.group(2) or match.group(1)))
    if not zooms[0] <= zooms[1] <= MAX_ZOOM:
        raise ValueError(f"zoom levels must satisfy min <= max <= {MAX_ZOOM}, not {text!r}")
    return zooms


def is_tile_path(path: str) -> bool:
    match = _TILE_PATH.match(path)
    if match is None:
        return False
    z, x, y = (int(g) for g in match.group(1, 2, 3))
    return valid_tile(z, x, y, match.group(4) is not None)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class TileStore(Protocol):
    """Where tiles are published. Paths are relative and ``/``-separated."""

    @property
    def url(self) -> str:
        """A stable name of the store (``file:///…`` or ``s3://bucket/prefix``)."""

    def listing(self, paths: Collection[str] | None = None) -> dict[str, StoredTile]:
        """Size and MD5 of the stored tiles: all of them, or those of ``paths`` that exist."""

    def read(self, path: str) -> bytes | None:
        """The content of one object, or None when it does not exist."""

    def write(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Store each (path, content), replacing what is there; a reader never sees half."""

    def delete(self, paths: Sequence[str]) -> None:
        """Remove these objects; paths already gone are no error."""


class DirectoryTileStore:
    """Tiles as files under a directory; each write is a rename of a finished file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def url(self) -> str:
        return self.root.resolve().as_uri()

    def _file(self, path: str) -> Path:
        if path != DATA_JSON and not is_tile_path(path):
            raise ValueError(f"not a tile store path: {path!r}")
        return self.root / path

    def listing(self, paths: Collection[str] | None = None) -> dict[str, StoredTile]:
        if paths is None:
            if not self.root.is_dir():
                return {}
            names = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*.png"))
            paths = [name for name in names if is_tile_path(name)]
        found: dict[str, StoredTile] = {}
        for path in paths:
            data = self.read(path)
            if data is not None:
                found[path] = StoredTile(len(data), md5_hex(data))
        return found

    def read(self, path: str) -> bytes | None:
        try:
            return self._file(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StoreError(f"{self.root}: {exc}") from exc

    def write(self, items: Sequence[tuple[str, bytes]]) -> None:
        for path, data in items:
            target = self._file(path)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
                try:
                    with os.fdopen(fd, "wb") as out:
                        out.write(data)
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, target)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
            except OSError as exc:
                raise StoreError(f"{target}: {exc}") from exc

    def delete(self, paths: Sequence[str]) -> None:
        for path in paths:
            try:
                self._file(path).unlink(missing_ok=True)
            except OSError as exc:
                raise StoreError(f"{self.root}: {exc}") from exc


def default_tile_dir(settings: Settings) -> Path:
    return settings.data_dir / "tiles"


def open_store(target: str, settings: Settings) -> TileStore:
    """``s3://bucket/prefix`` → an S3 store; a directory (relative: to the data dir) → a
    directory store; empty → ``<data dir>/tiles``."""
    if target.startswith("s3://"):
        from netatlas.storage.s3 import S3TileStore

        return S3TileStore.from_url(target, endpoint_url=settings.s3_endpoint_url)
    return DirectoryTileStore(_local_path(settings, target))


def local_tile_dir(settings: Settings) -> Path | None:
    """The directory the app serves at ``/tiles``: the configured store when it is local."""
    if settings.tiles_store.startswith("s3://"):
        return None
    return _local_path(settings, settings.tiles_store)


def _local_path(settings: Settings, target: str) -> Path:
    if target.startswith("file://"):
        target = target[len("file://") :]
    if not target:
        return default_tile_dir(settings)
    path = Path(target)
    return path if path.is_absolute() else settings.data_dir / path


def published(settings: Settings, path: str) -> bytes | None:
    """A tile (or ``data.json``) of the local tile store, for serving; None when absent."""
    root = local_tile_dir(settings)
    return None if root is None else DirectoryTileStore(root).read(path)
