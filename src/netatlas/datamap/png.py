"""Tile images: point density to palette levels, palette PNG encoding, the pngquant pass.

A tile is a palette PNG: index 0 is transparent and the others are one blue at rising opacity.
A pixel's level grows with the logarithm of its points per possible point (13 for every 0.001°
cell the pixel covers), so one road across a continent-sized pixel still shows and a freshly
mapped city is the darkest.

Size optimisation: each tile's palette holds only the levels it uses, so most tiles need 2 bits
a pixel (4 at most); rows are not filtered and deflate uses its run-length strategy. On
coverage tiles that is about 15% smaller than Pillow's PNG encoder (adaptive row filters), at a
tenth of a millisecond a tile; pngquant, run over the result, saves only another 0.5%.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from netatlas.datamap.grid import SCALE
from netatlas.datamap.points import F64, MAX_POINTS, U8, U64
from netatlas.datamap.raster import IN_TILE_OFFSET, TILE, U32, deinterleave, pixel_latitudes

LEVELS = 7
RGB = (21, 101, 192)
ALPHA = (0, 64, 92, 120, 148, 176, 205, 235)
_PALETTE = np.array([RGB] * (LEVELS + 1), dtype=np.uint8)
_ALPHA = np.array(ALPHA, dtype=np.uint8)
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def levels(keys: U64, counts: U32, zoom: int) -> U8:
    """Palette index (1 to 7) of each pixel of a zoom level."""
    if keys.size == 0:
        return np.zeros(0, dtype=np.uint8)
    degrees = 360.0 / (TILE << zoom)
    # Web Mercator pixels cover cos(latitude) times fewer cells away from the equator.
    cos = np.cos(np.radians(pixel_latitudes(keys, zoom)))
    possible = MAX_POINTS * (degrees * SCALE) ** 2 * np.maximum(cos, 1e-6)
    density = counts.astype(np.float64) / possible
    steps: F64 = np.floor(np.log2(density) / 2)  # one level per factor of four
    return np.clip(LEVELS + steps, 1, LEVELS).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode(flat: U8, size: int) -> bytes:
    """A ``size`` x ``size`` palette PNG of the level of each pixel (row by row, 0: none)."""
    used = np.flatnonzero(np.bincount(flat, minlength=LEVELS + 1))
    index = np.zeros(LEVELS + 1, dtype=np.uint8)
    index[used] = np.arange(used.size, dtype=np.uint8)
    bits = 1 if used.size <= 2 else 2 if used.size <= 4 else 4
    per_byte = 8 // bits
    rows = index[flat].reshape(size, size // per_byte, per_byte)
    packed = np.zeros(rows.shape[:2], dtype=np.uint8)
    for i in range(per_byte):
        packed |= rows[:, :, i] << np.uint8(8 - bits * (i + 1))
    # Filter type 0 (none) on every row: palette data compresses best unfiltered.
    raw = np.concatenate([np.zeros((size, 1), dtype=np.uint8), packed], axis=1).tobytes()
    deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    header = struct.pack(">IIBBBBB", size, size, bits, 3, 0, 0, 0)
    return b"".join(
        (
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"PLTE", _PALETTE[used].tobytes()),
            _chunk(b"tRNS", _ALPHA[used].tobytes()),
            _chunk(b"IDAT", deflate.compress(raw) + deflate.flush()),
            _chunk(b"IEND", b""),
        )
    )


def tile_png(keys: U64, pixel_levels: U8) -> bytes:
    """A 256 px tile from the keys (any zoom) and levels of its pixels."""
    flat = np.zeros(TILE * TILE, dtype=np.uint8)
    flat[IN_TILE_OFFSET[(keys & np.uint64(0xFFFF)).astype(np.int64)]] = pixel_levels
    return encode(flat, TILE)


def world_png(keys: U64, pixel_levels: U8, zoom: int) -> bytes:
    """The whole world at ``zoom`` as one image (zoom 1 gives the 512 px zoom-0 "@2x" tile)."""
    size = TILE << zoom
    flat = np.zeros(size * size, dtype=np.uint8)
    x, y = deinterleave(keys)
    flat[(y * np.uint64(size) + x).astype(np.int64)] = pixel_levels
    return encode(flat, size)


def pngquant_available() -> bool:
    return shutil.which("pngquant") is not None


def pngquant(images: list[bytes]) -> list[bytes]:
    """Each image through pngquant (one process for the lot); the smaller version is kept.

    pngquant is optional (Debian package ``pngquant``): without it, or if it fails, the images
    come back unchanged.
    """
    exe = shutil.which("pngquant")
    if exe is None or not images:
        return images
    with tempfile.TemporaryDirectory(prefix="netatlas-pngquant-") as tmp:
        paths = [Path(tmp) / f"{i}.png" for i in range(len(images))]
        for path, data in zip(paths, images, strict=True):
            path.write_bytes(data)
        # Exit codes 98/99 (quality too low, result larger) leave those files as they were.
        subprocess.run(
            [exe, "--quality=65-95", "--skip-if-larger", "--strip", "--force", "--ext", ".png"]
            + [str(p) for p in paths],
            check=False,
            capture_output=True,
            timeout=600,
        )
        out = []
        for path, data in zip(paths, images, strict=True):
            quantised = path.read_bytes()
            out.append(quantised if 0 < len(quantised) < len(data) else data)
        return out


def decode_alpha(data: bytes) -> npt.NDArray[np.uint8]:
    """Opacity of each pixel of a PNG as a square array (for tests and checks)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"), dtype=np.uint8)[:, :, 3].copy()
