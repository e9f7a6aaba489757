"""Mergeable summaries of a set of values: log-bucket quantile sketches, M-Lab's histogram and
a distinct-count sketch. Everything here works on numpy arrays of many values at once.

**Quantile sketch** (the DDSketch idea): a positive value ``x`` falls in bucket
``i = ceil(log_γ x)`` with ``γ = (1 + α) / (1 - α)``, and the bucket is represented by
``2γ^i / (γ + 1)``, which is within ``α`` (relative) of every value in ``(γ^(i-1), γ^i]``. A
sketch is the count per bucket, so two sketches merge by adding counts, and any quantile of
the merged set is still within ``α`` of the exact one. Quantiles are interpolated between the
two neighbouring ranks as numpy's default (``linear``) does, so the guarantee holds against
``numpy.quantile`` too. With ``α`` = 1 % the buckets between 0.001 and 100 000 (Mbit/s or ms)
number under 1 000, so indexes fit in an int16; values outside that range are clamped.

**Histogram**: M-Lab stats-pipeline's 8 log-spaced buckets, edges ``10^(x ± 0.25)`` for
``x = 0 … 3.5``, the lowest edge forced to 0: [0, 1.778), [1.778, 5.623), … [1778, 5623)
Mbit/s. Values at or above 5623 Mbit/s are counted in the last bucket.

**Evidence histograms**: the ratio of a test's speed to the speed its plan advertises, in
:data:`RATIO_EDGES` bins (80 % and 100 % are edges, so the shares reaching them are exact
sums of bins), and the packet loss of download tests in per cent, in :data:`LOSS_EDGES` bins
(0.5 % and 1 %, the use cases' limits, are edges). Values below the first edge fall in the
first bin, values at or above the last inner edge in the last.

**Distinct clients**: the set of 64-bit client hashes while it has at most
:data:`EXACT_CLIENTS` members (exact), then a HyperLogLog with 2^10 registers (about 3 %
standard error). Sets and registers merge; a merged set that grows too large becomes registers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALPHA",
    "EXACT_CLIENTS",
    "HIST_EDGES",
    "HLL_P",
    "LOSS_EDGES",
    "RATIO_EDGES",
    "bucket_index",
    "bucket_value",
    "client_hashes",
    "edge_index",
    "hist_index",
    "hll_estimate",
    "hll_update",
    "quantiles",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

#: Relative accuracy of the quantile sketches.
ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
MIN_VALUE = 1e-3
MAX_VALUE = 1e5
_MIN_INDEX = math.ceil(math.log(MIN_VALUE) / _LOG_GAMMA)
_MAX_INDEX = math.ceil(math.log(MAX_VALUE) / _LOG_GAMMA)

#: Inner edges of M-Lab's 8 histogram buckets (Mbit/s).
HIST_EDGES = np.array([10 ** (x / 2 + 0.25) for x in range(7)])
HIST_BUCKETS = 8

#: Edges of the advertised-ratio bins (measured ÷ advertised); the last bin is open.
RATIO_EDGES = np.array([0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5])
RATIO_BINS = RATIO_EDGES.size - 1
#: Edges of the loss bins (per cent of bytes retransmitted); the last bin is open.
LOSS_EDGES = np.array([0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0])
LOSS_BINS = LOSS_EDGES.size - 1

#: Largest client set kept exactly.
EXACT_CLIENTS = 64
#: HyperLogLog precision: 2^HLL_P registers.
HLL_P = 10
HLL_M = 1 << HLL_P
_LOW_BITS = 52


def bucket_index(values: F64) -> npt.NDArray[np.int16]:
    """Sketch bucket of each (positive) value."""
    clipped = np.clip(values, MIN_VALUE, MAX_VALUE)
    index = np.ceil(np.log(clipped) / _LOG_GAMMA)
    return np.clip(index, _MIN_INDEX, _MAX_INDEX).astype(np.int16)


def bucket_value(index: npt.NDArray[np.integer]) -> F64:
    """The value representing each bucket (within ALPHA of all its members)."""
    return 2.0 * np.power(GAMMA, index.astype(np.float64)) / (GAMMA + 1.0)


def hist_index(values: F64) -> npt.NDArray[np.int8]:
    """M-Lab histogram bucket (0–7) of each value."""
    return np.searchsorted(HIST_EDGES, values, side="right").astype(np.int8)


def edge_index(values: F64, edges: F64) -> npt.NDArray[np.int64]:
    """The bin of each value among ``edges`` (bins ``[edges[k], edges[k + 1])``, the last
    open-ended, values below the first edge in the first)."""
    index = np.searchsorted(edges[1:-1], values, side="right")
    return index.astype(np.int64)


def quantiles(
    owner_start: I64,
    index: npt.NDArray[np.integer],
    count: I64,
    totals: I64,
    lo: F64,
    hi: F64,
    qs: Sequence[float],
) -> F64:
    """Quantiles of many sketches at once.

    The sketches are one array of (bucket ``index``, ``count``) records sorted by owner then
    bucket; sketch ``j`` is records ``owner_start[j]`` up to ``owner_start[j + 1]`` and holds
    ``totals[j]`` values between ``lo[j]`` and ``hi[j]`` (its exact min and max). Returns an
    array (sketches × quantiles), NaN for empty sketches.
    """
    n = totals.size
    out = np.full((n, len(qs)), np.nan)
    if n == 0:
        return out
    cum = np.cumsum(count)
    base = np.concatenate([[0], cum])[owner_start[:-1]]
    has = totals > 0
    values = bucket_value(index) if index.size else np.zeros(0)

    def value_at(rank: I64) -> F64:
        pos = np.searchsorted(cum, base + rank, side="right")
        pos = np.minimum(pos, max(cum.size - 1, 0))
        v = values[pos] if values.size else np.zeros(rank.size)
        v = np.where(rank <= 0, lo, v)
        return np.where(rank >= totals - 1, hi, v)

    lo = np.where(has, lo, 0.0)
    hi = np.where(has, hi, 0.0)
    for k, q in enumerate(qs):
        h = q * np.maximum(totals - 1, 0)
        below = np.floor(h).astype(np.int64)
        above = np.ceil(h).astype(np.int64)
        frac = h - below
        v = value_at(below) * (1 - frac) + value_at(above) * frac
        out[:, k] = np.where(has, np.clip(v, lo, hi), np.nan)
    return out


def _mix(h: U64) -> U64:
    """A 64-bit finaliser: every input bit affects every output bit."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    mixed: U64 = h ^ (h >> np.uint64(33))
    return mixed


def client_hashes(keys: Sequence[str]) -> U64:
    """Stable 64-bit hashes of client identities (addresses), all keys at once.

    The UTF-8 bytes of each key are read as little-endian 64-bit words (zero-padded); each
    word is folded into the running hash with a full-avalanche mix. All-zero words only pad,
    so a key hashes the same whatever the longest key beside it."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, np.uint64)
    raw = np.array([k.encode() for k in keys], dtype=bytes)
    width = -(-max(raw.dtype.itemsize, 1) // 8) * 8
    words = raw.astype(f"S{width}").view("<u8").reshape(n, width // 8).astype(np.uint64)
    h = np.full(n, 0x9E3779B97F4A7C15, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            w = words[:, j]
            h = np.where(w != 0, _mix(h ^ w), h)
        return _mix(h ^ np.uint64(0x2545F4914F6CDD1D))


def hll_update(registers: npt.NDArray[np.uint8], rows: I64, hashes: U64) -> None:
    """Add hashes to HyperLogLog registers (``registers[rows[k]]`` takes ``hashes[k]``)."""
    if hashes.size == 0:
        return
    slot = (hashes >> np.uint64(64 - HLL_P)).astype(np.int64)
    low = (hashes & np.uint64((1 << _LOW_BITS) - 1)).astype(np.float64)
    _, exp = np.frexp(low)  # low = m·2^exp with 0.5 ≤ m < 1, so floor(log2 low) = exp - 1
    rank = np.where(low > 0, _LOW_BITS - (exp - 1), _LOW_BITS + 1).astype(np.uint8)
    np.maximum.at(registers, (rows, slot), rank)


def hll_estimate(registers: npt.NDArray[np.uint8]) -> F64:
    """Distinct-count estimate of each row of registers (with the small-range correction)."""
    m = float(HLL_M)
    alpha = 0.7213 / (1 + 1.079 / m)
    power = np.power(2.0, -registers.astype(np.float64)).sum(axis=1)
    raw = alpha * m * m / power
    zeros = (registers == 0).sum(axis=1)
    linear = m * np.log(m / np.maximum(zeros, 1))
    estimate: F64 = np.where((raw <= 2.5 * m) & (zeros > 0), linear, raw)
    return estimate
