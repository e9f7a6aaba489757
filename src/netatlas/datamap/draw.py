"""Tile images from the pixel counts: every non-empty tile, or only the dirty ones."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from netatlas.datamap.png import levels, pngquant, tile_png, world_png
from netatlas.datamap.points import U64
from netatlas.datamap.pyramid import Zooms, base_zoom
from netatlas.datamap.raster import U32, deinterleave, tile_runs, zoom_out
from netatlas.storage.tiles import RETINA, tile_path

QUANTISE_BATCH = 256


def scope_paths(dirty: Mapping[int, U64]) -> list[str]:
    """Store paths of the dirty tiles (and of the 512 px tile when zoom 0 is dirty)."""
    paths: list[str] = []
    for z, tiles in sorted(dirty.items()):
        xs, ys = deinterleave(tiles)
        paths += [tile_path(z, x, y) for x, y in zip(xs.tolist(), ys.tolist(), strict=True)]
        if z == 0 and tiles.size:
            paths.append(RETINA)
    return paths


def draw(
    pixel_keys: U64,
    pixel_counts: U32,
    zooms: Zooms,
    dirty: Mapping[int, U64] | None = None,
) -> Iterator[tuple[str, bytes]]:
    """(path, PNG) of every non-empty tile, deepest zoom first; ``dirty``: only those tiles."""
    none = np.zeros(0, dtype=np.uint64)
    keys, counts = pixel_keys, pixel_counts
    for z in range(base_zoom(zooms), zooms[0] - 1, -1):
        if zooms[0] <= z <= zooms[1]:
            for run in tile_runs(keys, None if dirty is None else dirty.get(z, none)):
                part = slice(run.start, run.stop)
                shades = levels(keys[part], counts[part], z)
                yield tile_path(z, run.x, run.y), tile_png(keys[part], shades)
        retina = z == 1 and zooms[0] == 0 and keys.size > 0
        if retina and (dirty is None or dirty.get(0, none).size > 0):
            yield RETINA, world_png(keys, levels(keys, counts, 1), 1)
        if z > zooms[0]:
            keys, counts = zoom_out(keys, counts)


def quantised(tiles: Iterator[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    """The tiles passed through pngquant in batches (each kept only where it got smaller)."""
    batch: list[tuple[str, bytes]] = []
    for item in tiles:
        batch.append(item)
        if len(batch) >= QUANTISE_BATCH:
            yield from _quantise(batch)
            batch = []
    yield from _quantise(batch)


def _quantise(batch: list[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    if batch:
        smaller = pngquant([data for _, data in batch])
        yield from zip([path for path, _ in batch], smaller, strict=True)
