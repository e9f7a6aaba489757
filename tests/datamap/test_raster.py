"""Morton keys, projection and the pyramid's zoom-out and tile runs."""

from __future__ import annotations

import math

import numpy as np

from netatlas.datamap.raster import (
    count_sorted,
    deinterleave,
    interleave,
    merge_counts,
    pixel_latitudes,
    project,
    tile_keys,
    tile_runs,
    zoom_out,
)


def u64(values: list[int]) -> np.ndarray:  # type: ignore[type-arg]
    return np.array(values, dtype=np.uint64)


def test_interleave_round_trips() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 1 << 21, 1000).astype(np.uint64)
    y = rng.integers(0, 1 << 21, 1000).astype(np.uint64)
    back_x, back_y = deinterleave(interleave(x, y))
    assert np.array_equal(back_x, x) and np.array_equal(back_y, y)
    assert interleave(u64([1]), u64([0]))[0] == 1 and interleave(u64([0]), u64([1]))[0] == 2


def test_projection_matches_web_mercator() -> None:
    keys = project(np.array([0.0, 85.06, -85.06, 51.5]), np.array([0.0, -180.0, 179.9999, -0.1]), 1)
    x, y = deinterleave(keys)
    assert (x[0], y[0]) == (256, 256)  # the centre of the 512 px world
    assert (x[1], y[1]) == (0, 0)
    assert (x[2], y[2]) == (511, 511)
    # London at zoom 11: tile (1023, 681), as every slippy map has it.
    tx, ty = deinterleave(project(np.array([51.5]), np.array([-0.1]), 11) >> np.uint64(16))
    assert (int(tx[0]), int(ty[0])) == (1023, 681)
    lat = pixel_latitudes(project(np.array([51.5]), np.array([-0.1]), 11), 11)
    assert math.isclose(lat[0], 51.5, abs_tol=0.001)


def test_zoom_out_adds_four_pixels_into_one() -> None:
    keys = np.sort(interleave(u64([0, 1, 0, 1, 2, 2]), u64([0, 0, 1, 1, 0, 0])))
    uniq, counts = count_sorted(keys)
    assert counts.sum() == 6 and uniq.size == 5
    parent, total = zoom_out(uniq, counts)
    px, py = deinterleave(parent)
    assert list(zip(px.tolist(), py.tolist(), total.tolist(), strict=True)) == [
        (0, 0, 4),
        (1, 0, 2),
    ]


def test_merge_counts_of_sorted_parts() -> None:
    a = (u64([1, 5, 9]), np.array([1, 2, 3], dtype=np.uint32))
    b = (u64([5, 6]), np.array([10, 20], dtype=np.uint32))
    keys, counts = merge_counts([a, b])
    assert keys.tolist() == [1, 5, 6, 9] and counts.tolist() == [1, 12, 20, 3]
    empty_keys, _ = merge_counts([])
    assert empty_keys.size == 0


def test_tile_runs_are_contiguous_and_filterable() -> None:
    # Pixels in tiles (0, 0), (1, 0) and (1, 1) of zoom 1.
    x = u64([3, 300, 301, 400])
    y = u64([5, 7, 7, 300])
    keys = np.sort(interleave(x, y))
    runs = list(tile_runs(keys))
    assert [(r.x, r.y, r.stop - r.start) for r in runs] == [(0, 0, 1), (1, 0, 2), (1, 1, 1)]
    only = list(tile_runs(keys, tile_keys([1], [1])))
    assert [(r.x, r.y) for r in only] == [(1, 1)]
