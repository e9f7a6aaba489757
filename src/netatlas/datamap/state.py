"""What the last render of a tile store drew, kept beside the data dir for incremental runs.

A tile changes whenever the points drawn in it change, and points change for more reasons than
a row's ``modified`` date: a cell loses a point every 30 days, a one-day cell appears once its
privacy delay has passed, and a cell disappears at 365 days (before or after the cleanup job
deletes its row). Keeping each cell's drawn point count from the last run and comparing it
with this run's finds every one of those changes, and nothing else, without trusting clocks.

The snapshot also keeps the point count of every pixel at the deepest zoom level, so an
incremental run only projects the points of changed cells. It stays local (never next to the
tiles): it lists every grid cell, which the published tiles deliberately blur.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netatlas.datamap.points import U8, U64
from netatlas.datamap.raster import U32

# Bump when the points, levels or encoding change: tiles of an older version are all redrawn.
VERSION = 1
_ARRAYS = ("keys", "counts", "pixel_keys", "pixel_counts")


class Busy(Exception):
    """Another render of the same tile store is running."""


@dataclass(frozen=True)
class Snapshot:
    run: str  # the run id, also written to the store's data.json
    zooms: tuple[int, int]
    version: int
    keys: U64  # sorted cell keys with at least one drawn point
    counts: U8
    pixel_keys: U64  # sorted Morton keys of the deepest zoom's pixels that hold points
    pixel_counts: U32


def state_path(state_dir: Path, store_url: str) -> Path:
    digest = hashlib.sha256(store_url.encode()).hexdigest()[:16]
    return state_dir / f"render-{digest}.npz"


def load(path: Path) -> Snapshot | None:
    """The snapshot, or None when there is none or it cannot be read (then: a full render)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return Snapshot(
                run=str(data["run"]),
                zooms=(int(data["zooms"][0]), int(data["zooms"][1])),
                version=int(data["version"]),
                keys=data["keys"].astype(np.uint64),
                counts=data["counts"].astype(np.uint8),
                pixel_keys=data["pixel_keys"].astype(np.uint64),
                pixel_counts=data["pixel_counts"].astype(np.uint32),
            )
    except (OSError, KeyError, ValueError, IndexError):
        return None


def save(path: Path, snapshot: Snapshot) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".render-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(
                out,
                run=np.array(snapshot.run),
                zooms=np.array(snapshot.zooms, dtype=np.int64),
                version=np.array(snapshot.version, dtype=np.int64),
                **{name: getattr(snapshot, name) for name in _ARRAYS},
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the render lock of one store for this process (raises Busy if another has it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise Busy(str(path)) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
