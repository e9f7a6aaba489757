"""Publishing rendered tiles to a store: upload what is new or changed, delete what is stale."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from netatlas.storage.files import md5_hex
from netatlas.storage.tiles import TileStore

UPLOAD_BATCH = 256


@dataclass
class SyncStats:
    rendered: int = 0  # tiles drawn in this run
    rendered_bytes: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0  # drawn, but the store already had the same bytes
    deleted: int = 0  # stale tiles removed (their area has no points any more)
    uploaded_bytes: int = 0
    tiles_delta: int = 0  # change in the number of stored tiles
    bytes_delta: int = 0  # change in the bytes of stored tiles


def sync(
    store: TileStore,
    tiles: Iterable[tuple[str, bytes]],
    scope: Collection[str] | None = None,
) -> SyncStats:
    """Make the store's tiles match ``tiles``.

    ``scope`` None: ``tiles`` is the whole pyramid, so every other stored tile is stale.
    Otherwise only paths in ``scope`` are compared, and those of them not drawn are stale.
    Tiles are compared by size and MD5, so unchanged ones are never rewritten.
    """
    stats = SyncStats()
    existing = store.listing(scope)
    drawn: set[str] = set()
    pending: list[tuple[str, bytes]] = []
    for path, data in tiles:
        drawn.add(path)
        stats.rendered += 1
        stats.rendered_bytes += len(data)
        old = existing.get(path)
        if old is None:
            stats.new += 1
            stats.tiles_delta += 1
            stats.bytes_delta += len(data)
        elif old.size == len(data) and old.md5 == md5_hex(data):
            stats.unchanged += 1
            continue
        else:
            stats.changed += 1
            stats.bytes_delta += len(data) - old.size
        stats.uploaded_bytes += len(data)
        pending.append((path, data))
        if len(pending) >= UPLOAD_BATCH:
            store.write(pending)
            pending = []
    store.write(pending)
    stale = sorted(path for path in existing if path not in drawn)
    store.delete(stale)
    stats.deleted = len(stale)
    stats.tiles_delta -= len(stale)
    stats.bytes_delta -= sum(existing[path].size for path in stale)
    return stats
