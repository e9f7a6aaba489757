"""Tile stores: where rendered tiles are published, on top of the file store.

A store holds ``{z}/{x}/{y}.png`` tiles, ``0/0/0@2x.png`` and ``data.json``: in a local
directory (the embedded default, ``<data dir>/tiles``, served by the app at ``/tiles/…``) or
under an S3 bucket prefix (:mod:`netatlas.storage.s3`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import Path

from netatlas.settings import Settings
from netatlas.storage.files import (
    Checksum,
    DirectoryStore,
    FileStore,
    S3Location,
    Upload,
    parse_url,
    s3_store,
)

DATA_JSON = "data.json"
RETINA = "0/0/0@2x.png"
MAX_ZOOM = 13
DEFAULT_ZOOMS = (0, 11)
TILE_MAX_AGE = 600  # seconds; tiles are re-rendered every ten minutes at most
DATA_MAX_AGE = 60
_TILE_PATH = re.compile(r"^(\d{1,2})/(\d{1,5})/(\d{1,5})(@2x)?\.png$")


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


class TileStore:
    """Where tiles are published: a file store holding only tiles and ``data.json``. On S3
    each object carries its content type and how long a browser or CDN may cache it."""

    def __init__(self, files: FileStore) -> None:
        self.files = files

    @property
    def url(self) -> str:
        """A stable name of the store (``file:///…`` or ``s3://bucket/prefix/``)."""
        return self.files.url

    def listing(self, paths: Collection[str] | None = None) -> dict[str, Checksum]:
        """Size and MD5 of the stored tiles: all of them, or those of ``paths`` that exist."""
        return self.files.checksums(paths, keep=is_tile_path)

    def read(self, path: str) -> bytes | None:
        """The content of one object, or None when it does not exist."""
        return self.files.read(_check(path))

    def write(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Store each (path, content), replacing what is there; a reader never sees half."""
        self.files.put_many([_upload(_check(path), data) for path, data in items])

    def delete(self, paths: Sequence[str]) -> None:
        """Remove these objects; paths already gone are no error."""
        self.files.delete_many([_check(path) for path in paths])


def _check(path: str) -> str:
    if path != DATA_JSON and not is_tile_path(path):
        raise ValueError(f"not a tile store path: {path!r}")
    return path


def _upload(path: str, data: bytes) -> Upload:
    if path == DATA_JSON:
        kind, max_age = "application/json", DATA_MAX_AGE
    else:
        kind, max_age = "image/png", TILE_MAX_AGE
    return Upload(path, data, content_type=kind, cache_control=f"public, max-age={max_age}")


class DirectoryTileStore(TileStore):
    """Tiles as files under a directory, readable by all (a web server may serve them); a
    tile that is lost in a crash is drawn again, so writes do not wait for the disk."""

    def __init__(self, root: Path) -> None:
        super().__init__(DirectoryStore(root, mode=0o644, durable=False))
        self.root = root


def default_tile_dir(settings: Settings) -> Path:
    return settings.data_dir / "tiles"


def open_store(target: str, settings: Settings) -> TileStore:
    """``s3://bucket/prefix`` → an S3 store; a directory (relative: to the data dir) → a
    directory store; empty → ``<data dir>/tiles``."""
    where = _where(settings, target)
    if isinstance(where, S3Location):
        return TileStore(s3_store(where, settings.s3_endpoint_url))
    return DirectoryTileStore(where)


def local_tile_dir(settings: Settings) -> Path | None:
    """The directory the app serves at ``/tiles``: the configured store when it is local."""
    where = _where(settings, settings.tiles_store)
    return None if isinstance(where, S3Location) else where


def _where(settings: Settings, target: str) -> S3Location | Path:
    if target in ("", "file://"):
        return default_tile_dir(settings)
    where = parse_url(target)
    return where if isinstance(where, S3Location) else settings.data_dir / where


def published(settings: Settings, path: str) -> bytes | None:
    """A tile (or ``data.json``) of the local tile store, for serving; None when absent."""
    root = local_tile_dir(settings)
    return None if root is None else DirectoryTileStore(root).read(path)
