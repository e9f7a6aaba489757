"""Tile images: palette PNGs that decoders read back exactly; density levels; pngquant."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from netatlas.datamap.png import (
    ALPHA,
    LEVELS,
    decode_alpha,
    encode,
    levels,
    pngquant,
    pngquant_available,
    tile_png,
    world_png,
)
from netatlas.datamap.raster import interleave


@pytest.mark.parametrize("used", [1, 2, 4, 8])
def test_encode_round_trips_at_the_smallest_bit_depth(used: int) -> None:
    rng = np.random.default_rng(used)
    flat = rng.integers(0, used, 256 * 256).astype(np.uint8)
    data = encode(flat, 256)
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "P" and image.size == (256, 256)
        bits = {1: 1, 2: 1, 4: 2, 8: 4}[used]
        assert data[24] == bits  # IHDR bit depth
    alpha = decode_alpha(data)
    assert np.array_equal(alpha.reshape(-1), np.array(ALPHA, dtype=np.uint8)[flat])


def test_denser_pixels_get_higher_levels() -> None:
    keys = interleave(np.array([10, 11, 12], dtype=np.uint64), np.array([10, 10, 10], np.uint64))
    shades = levels(keys, np.array([1, 100, 100_000], dtype=np.uint32), 5)
    assert shades.tolist() == sorted(shades.tolist())
    assert shades.min() >= 1 and shades.max() == LEVELS


def test_tile_and_world_images_place_pixels() -> None:
    x = np.array([256 + 3, 256 + 255], dtype=np.uint64)  # tile (1, 0) of zoom 1
    y = np.array([7, 200], dtype=np.uint64)
    keys = interleave(x, y)
    shades = np.array([7, 3], dtype=np.uint8)
    tile = decode_alpha(tile_png(keys, shades))
    assert tile[7, 3] == ALPHA[7] and tile[200, 255] == ALPHA[3]
    assert np.count_nonzero(tile) == 2
    world = decode_alpha(world_png(keys, shades, 1))
    assert world.shape == (512, 512)
    assert world[7, 259] == ALPHA[7] and world[200, 511] == ALPHA[3]


@pytest.mark.skipif(not pngquant_available(), reason="the pngquant Debian package is absent")
def test_pngquant_keeps_whichever_is_smaller() -> None:
    rng = np.random.default_rng(3)
    flat = rng.integers(0, 8, 256 * 256).astype(np.uint8)
    images = [encode(flat, 256), encode(np.zeros(256 * 256, dtype=np.uint8), 256)]
    out = pngquant(images)
    assert len(out) == 2
    for before, after in zip(images, out, strict=True):
        assert len(after) <= len(before)
        assert np.array_equal(decode_alpha(after) > 0, decode_alpha(before) > 0)


def test_pngquant_without_images_is_a_no_op() -> None:
    assert pngquant([]) == []
