"""Pixel counts of the deepest zoom level: from all cells, or updated by the cells that changed.

A full run projects every point; an incremental run starts from the counts the last run saved
and adds or takes away only the points of cells whose count changed. Counts are integers, so
both ways give exactly the same pixels, and the pixels whose count changed name the tiles to
redraw.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from netatlas.datamap.points import U8, U64, expand, jitter
from netatlas.datamap.raster import TILE_BITS, U32, count_sorted, merge_counts, project

# Cells per chunk while making points: with two chunks in flight, the temporaries of 13
# points per cell stay near 200 MB.
CHUNK = 100_000
THREADS = 2

I64 = npt.NDArray[np.int64]
Zooms = tuple[int, int]


def base_zoom(zooms: Zooms) -> int:
    # The 512 px zoom-0 tile is drawn from zoom-1 pixels, so never start below zoom 1.
    return max(zooms[1], 1)


def pixels(keys: U64, counts: U8, zoom: int) -> tuple[U64, U32]:
    """Sorted Morton keys of the pixels at ``zoom`` that hold points, and their point counts."""

    def chunk(start: int) -> tuple[U64, U32]:
        cells, index = expand(keys[start : start + CHUNK], counts[start : start + CHUNK])
        lat, lon = jitter(cells, index)
        found = project(lat, lon, zoom)
        found.sort()
        return count_sorted(found)

    starts = range(0, keys.size, CHUNK)
    if len(starts) <= 1:
        return merge_counts([chunk(s) for s in starts])
    # numpy lets go of the GIL in its loops and sorts, so two threads use both cores.
    with ThreadPoolExecutor(THREADS, thread_name_prefix="tiles") as pool:
        return merge_counts(list(pool.map(chunk, starts)))


def changed_cells(
    old_keys: U64, old_counts: U8, new_keys: U64, new_counts: U8
) -> tuple[U64, U8, U8]:
    """Cells whose drawn point count differs (both key arrays sorted): keys, before, after."""
    if np.array_equal(old_keys, new_keys):  # no cell came or went
        moved = old_counts != new_counts
        return new_keys[moved], old_counts[moved], new_counts[moved]
    if old_keys.size == 0:
        return new_keys, np.zeros(new_keys.size, dtype=np.uint8), new_counts
    at = np.minimum(np.searchsorted(old_keys, new_keys), old_keys.size - 1)
    known = old_keys[at] == new_keys
    before = np.where(known, old_counts[at], 0).astype(np.uint8)
    moved = before != new_counts
    gone = np.ones(old_keys.size, dtype=bool)
    gone[at[known]] = False
    return (
        np.concatenate([new_keys[moved], old_keys[gone]]),
        np.concatenate([before[moved], old_counts[gone]]),
        np.concatenate([new_counts[moved], np.zeros(int(gone.sum()), dtype=np.uint8)]),
    )


def delta(keys: U64, before: U8, after: U8, zoom: int) -> tuple[U64, I64]:
    """Pixels whose point count changes, and by how much.

    Point k of a cell is the same whatever the cell's count, so a cell going from 4 to 9 points
    adds its points 4-8 and a cell going from 9 to 4 takes the same ones away.
    """
    low = np.minimum(before, after)
    moved = (np.maximum(before, after) - low).astype(np.int64)
    cells, index = expand(keys, moved, low)
    lat, lon = jitter(cells, index)
    found = project(lat, lon, zoom)
    sign = np.repeat(np.where(after > before, 1, -1).astype(np.int64), moved)
    order = np.argsort(found, kind="stable")
    found, sign = found[order], sign[order]
    if found.size == 0:
        return found, sign
    starts = np.flatnonzero(np.concatenate(([True], found[1:] != found[:-1])))
    sums = np.add.reduceat(sign, starts)
    keep = sums != 0
    return found[starts][keep], sums[keep]


def apply_delta(keys: U64, counts: U32, delta_keys: U64, delta_counts: I64) -> tuple[U64, U32]:
    """The pixel counts after adding a delta (both sorted); pixels left with none are dropped."""
    if delta_keys.size == 0:
        return keys, counts
    at = np.searchsorted(keys, delta_keys)
    known = at < keys.size
    known[known] = keys[at[known]] == delta_keys[known]
    total = counts.astype(np.int64)
    total[at[known]] += delta_counts[known]
    fresh = ~known
    if np.any(delta_counts[fresh] < 0):
        raise ValueError("the saved pixel counts do not match the saved cells")
    merged_keys = np.insert(keys, at[fresh], delta_keys[fresh])
    merged = np.insert(total, at[fresh], delta_counts[fresh])
    if np.any(merged < 0):
        raise ValueError("the saved pixel counts do not match the saved cells")
    keep = merged > 0
    return merged_keys[keep], merged[keep].astype(np.uint32)


def dirty_tiles(delta_keys: U64, zooms: Zooms) -> dict[int, U64]:
    """Per zoom level, the sorted keys of the tiles that hold a changed pixel."""
    base = base_zoom(zooms)
    tiles = delta_keys >> np.uint64(2 * TILE_BITS)
    return {
        z: count_sorted(tiles >> np.uint64(2 * (base - z)))[0]
        for z in range(zooms[0], zooms[1] + 1)
    }
