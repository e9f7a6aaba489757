"""Pixel counts: updating the saved counts by the changed cells equals counting from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from netatlas.datamap.points import MAX_POINTS, cell_keys
from netatlas.datamap.pyramid import (
    apply_delta,
    changed_cells,
    delta,
    dirty_tiles,
    pixels,
)
from netatlas.datamap.raster import tile_keys


def random_cells(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    lat = rng.integers(142_400, 142_600, n)  # Berlin, 0.2° square
    lon = rng.integers(193_300, 193_500, n)
    keys = np.unique(cell_keys(lat, lon))
    return keys, rng.integers(1, MAX_POINTS + 1, keys.size).astype(np.uint8)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_delta_updates_equal_a_recount(seed: int) -> None:
    rng = np.random.default_rng(seed)
    old_keys, old_counts = random_cells(rng, 3000)
    # Some cells change count, some vanish, some appear.
    new_counts = old_counts.copy()
    touched = rng.choice(old_keys.size, 300, replace=False)
    new_counts[touched] = rng.integers(0, MAX_POINTS + 1, touched.size)
    extra_keys, extra_counts = random_cells(rng, 200)
    keys = np.concatenate([old_keys, extra_keys])
    counts = np.concatenate([new_counts, extra_counts])
    keys, first = np.unique(keys, return_index=True)
    counts = counts[first]
    keys, counts = keys[counts > 0], counts[counts > 0]

    moved, before, after = changed_cells(old_keys, old_counts, keys, counts)
    assert not np.any(before == after)
    old_pixels = pixels(old_keys, old_counts, 11)
    delta_keys, delta_counts = delta(moved, before, after, 11)
    updated = apply_delta(*old_pixels, delta_keys, delta_counts)
    recount = pixels(keys, counts, 11)
    assert np.array_equal(updated[0], recount[0]) and np.array_equal(updated[1], recount[1])


def test_changed_cells_without_new_or_gone_cells() -> None:
    keys = cell_keys([1, 2, 3], [5, 5, 5])
    moved, before, after = changed_cells(
        keys, np.array([3, 4, 5], np.uint8), keys, np.array([3, 9, 5], np.uint8)
    )
    assert moved.tolist() == [keys[1]] and before.tolist() == [4] and after.tolist() == [9]
    first, before, after = changed_cells(
        keys[:0], np.zeros(0, np.uint8), keys, np.array([1, 1, 1], np.uint8)
    )
    assert first.tolist() == keys.tolist() and before.tolist() == [0, 0, 0]


def test_inconsistent_saved_counts_are_refused() -> None:
    keys = cell_keys([142_500], [193_400])
    saved = pixels(keys, np.array([2], np.uint8), 11)
    removal = delta(keys, np.array([13], np.uint8), np.array([0], np.uint8), 11)
    with pytest.raises(ValueError):
        apply_delta(*saved, *removal)


def test_dirty_tiles_per_zoom() -> None:
    keys = cell_keys([142_520], [193_405])  # Berlin
    delta_keys, _ = delta(keys, np.array([0], np.uint8), np.array([13], np.uint8), 11)
    dirty = dirty_tiles(delta_keys, (0, 11))
    assert sorted(dirty) == list(range(12))
    assert dirty[0].tolist() == [0]
    assert dirty[11].tolist() == tile_keys([1100], [671]).tolist()
