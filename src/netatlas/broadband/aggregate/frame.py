"""Bins as columns: many bins' partial statistics in numpy arrays, merged all at once.

A :class:`Frame` holds ``size`` bins. Building bins from tests, merging new bins into stored
ones and re-binning for a query are the same operation, :func:`reduce`: every source bin is
given the index of the bin it goes into, and sums add up, minima and maxima combine, histograms
and sketch counts add up bucket by bucket, and client sets unite. A test is simply a bin of
one (:func:`from_tests`).

Stored form (one ``stats_bin`` row per bin, see :mod:`.models`): scalar columns, the
histograms as 8 little-endian uint32, the sketches as (int16 bucket, uint32 count) records
and the client sketch as ``b"S"`` + sorted uint64 hashes or ``b"H"`` + HyperLogLog registers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from netatlas.broadband.aggregate.sketch import (
    EXACT_CLIENTS,
    HIST_BUCKETS,
    HLL_M,
    bucket_index,
    hist_index,
    hll_update,
)

__all__ = ["Frame", "Ragged", "from_rows", "from_tests", "reduce", "to_columns"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Array = npt.NDArray[Any]

DIRECTIONS = ("dl", "ul")
SUMS = (
    "tests",
    *(f"{d}_{s}" for d in DIRECTIONS for s in ("n", "sum", "logsum", "wsum", "wtime")),
    "rtt_n",
    "rtt_sum",
    "loss_n",
    "loss_sum",
)
COUNTS = frozenset(s for s in SUMS if s == "tests" or s.endswith("_n"))
MINS = ("dl_min", "ul_min")
MAXS = ("dl_max", "ul_max")
HISTS = ("dl_hist", "ul_hist")
SKETCHES = ("dl", "ul", "rtt")
#: Seconds assumed for a test whose duration is unknown (unified-view rows): ndt7's 10 s.
NOMINAL_SECONDS = 10.0

_RECORD = np.dtype([("i", "<i2"), ("c", "<u4")])


@dataclass
class Ragged:
    """(bucket, count) records of many sketches, sorted by owner bin then bucket."""

    owner: I64
    index: npt.NDArray[np.int16]
    count: I64

    def starts(self, size: int) -> I64:
        """Record offset of each bin's sketch, plus the end (``size + 1`` values)."""
        result: I64 = np.searchsorted(self.owner, np.arange(size + 1)).astype(np.int64)
        return result


@dataclass
class Frame:
    size: int
    values: dict[str, Array]  # SUMS, MINS, MAXS: (size,); HISTS: (size, 8)
    sketches: dict[str, Ragged]
    client_owner: I64  # exact client sets: (owner, hash) pairs, sorted, unique
    client_hash: U64
    hll_owner: I64  # bins whose clients are counted by HyperLogLog registers
    hll: npt.NDArray[np.uint8]  # (len(hll_owner), HLL_M)


def _empty_ragged() -> Ragged:
    return Ragged(np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int64))


def from_tests(
    download: npt.NDArray[np.bool_],
    mbps: F64,
    seconds: F64,
    rtt_ms: F64,
    loss: F64,
    client: U64,
) -> Frame:
    """One bin per test (speeds must be positive)."""
    n = download.size
    up = ~download
    seconds = np.where(np.isfinite(seconds) & (seconds > 0), seconds, NOMINAL_SECONDS)
    logs = np.log(mbps)
    values: dict[str, Array] = {"tests": np.ones(n, np.int64)}
    hist = hist_index(mbps)
    onehot = np.zeros((n, HIST_BUCKETS), np.int64)
    onehot[np.arange(n), hist] = 1
    for prefix, mask in (("dl", download), ("ul", up)):
        values[f"{prefix}_n"] = mask.astype(np.int64)
        values[f"{prefix}_sum"] = np.where(mask, mbps, 0.0)
        values[f"{prefix}_logsum"] = np.where(mask, logs, 0.0)
        values[f"{prefix}_wsum"] = np.where(mask, mbps * seconds, 0.0)
        values[f"{prefix}_wtime"] = np.where(mask, seconds, 0.0)
        values[f"{prefix}_min"] = np.where(mask, mbps, np.inf)
        values[f"{prefix}_max"] = np.where(mask, mbps, -np.inf)
        values[f"{prefix}_hist"] = onehot * mask[:, None]
    # MinRTT and loss as M-Lab reports them: of download tests.
    has_rtt = download & np.isfinite(rtt_ms) & (rtt_ms > 0)
    has_loss = download & np.isfinite(loss)
    values["rtt_n"] = has_rtt.astype(np.int64)
    values["rtt_sum"] = np.where(has_rtt, rtt_ms, 0.0)
    values["loss_n"] = has_loss.astype(np.int64)
    values["loss_sum"] = np.where(has_loss, loss, 0.0)

    def singles(mask: npt.NDArray[np.bool_], v: F64) -> Ragged:
        owner = np.flatnonzero(mask).astype(np.int64)
        return Ragged(owner, bucket_index(v[owner]), np.ones(owner.size, np.int64))

    sketches = {
        "dl": singles(download, mbps),
        "ul": singles(up, mbps),
        "rtt": singles(has_rtt, rtt_ms),
    }
    return Frame(
        n,
        values,
        sketches,
        np.arange(n, dtype=np.int64),
        client.astype(np.uint64),
        np.zeros(0, np.int64),
        np.zeros((0, HLL_M), np.uint8),
    )


def _reduce_ragged(r: Ragged, group: I64) -> Ragged:
    if r.owner.size == 0:
        return _empty_ragged()
    key = (group[r.owner] << 16) | (r.index.astype(np.int64) + 32768)
    uniq, inverse = np.unique(key, return_inverse=True)
    count = np.bincount(inverse, weights=r.count).astype(np.int64)
    return Ragged(uniq >> 16, ((uniq & 0xFFFF) - 32768).astype(np.int16), count)


def reduce(frame: Frame, group: I64, size: int) -> Frame:
    """Merge bin ``i`` of ``frame`` into bin ``group[i]`` of a new frame of ``size`` bins."""
    values: dict[str, Array] = {}
    for name in SUMS:
        total = np.bincount(group, weights=frame.values[name], minlength=size)
        values[name] = total.astype(np.int64) if name in COUNTS else total
    for names, ufunc, start in ((MINS, np.minimum, np.inf), (MAXS, np.maximum, -np.inf)):
        for name in names:
            out = np.full(size, start)
            ufunc.at(out, group, frame.values[name])
            values[name] = out
    for name in HISTS:
        src = frame.values[name]
        values[name] = np.stack(
            [np.bincount(group, weights=src[:, k], minlength=size) for k in range(HIST_BUCKETS)],
            axis=1,
        ).astype(np.int64)
    sketches = {name: _reduce_ragged(r, group) for name, r in frame.sketches.items()}

    # Clients: unite the sets; a bin whose set grows past EXACT_CLIENTS, or that takes in
    # registers, is counted by registers from then on.
    owner = group[frame.client_owner]
    order = np.lexsort((frame.client_hash, owner))
    owner, hashes = owner[order], frame.client_hash[order]
    first = np.ones(owner.size, bool)
    first[1:] = (owner[1:] != owner[:-1]) | (hashes[1:] != hashes[:-1])
    owner, hashes = owner[first], hashes[first]
    big = np.bincount(owner, minlength=size) > EXACT_CLIENTS
    hll_src = group[frame.hll_owner]
    big[hll_src] = True
    hll_owner = np.flatnonzero(big).astype(np.int64)
    registers = np.zeros((hll_owner.size, HLL_M), np.uint8)
    if hll_owner.size:
        row = np.full(size, -1, np.int64)
        row[hll_owner] = np.arange(hll_owner.size)
        if hll_src.size:
            np.maximum.at(registers, row[hll_src], frame.hll)
        to_hll = big[owner]
        hll_update(registers, row[owner[to_hll]], hashes[to_hll])
        owner, hashes = owner[~to_hll], hashes[~to_hll]
    return Frame(size, values, sketches, owner, hashes, hll_owner, registers)


def _slices(buf: bytes, starts: Sequence[int], width: int) -> list[bytes]:
    return [buf[a * width : b * width] for a, b in itertools.pairwise(starts)]


def to_columns(frame: Frame) -> dict[str, list[Any]]:
    """The frame as ``stats_bin`` column values (one list per column, one item per bin)."""
    n = frame.size
    cols: dict[str, list[Any]] = {}
    for name in SUMS:
        cols[name] = frame.values[name].tolist()
    for name in (*MINS, *MAXS):
        cols[name] = [x if math.isfinite(x) else None for x in frame.values[name].tolist()]
    for name in HISTS:
        buf = frame.values[name].astype("<u4").tobytes()
        cols[name] = _slices(buf, range(n + 1), HIST_BUCKETS * 4)
    for name, r in frame.sketches.items():
        rec = np.empty(r.owner.size, _RECORD)
        rec["i"] = r.index
        rec["c"] = r.count
        cols[f"{name}_sketch"] = _slices(rec.tobytes(), r.starts(n).tolist(), _RECORD.itemsize)
    starts = np.searchsorted(frame.client_owner, np.arange(n + 1)).tolist()
    sets = _slices(frame.client_hash.astype("<u8").tobytes(), starts, 8)
    clients = [b"S" + s for s in sets]
    for row, owner in enumerate(frame.hll_owner.tolist()):
        clients[owner] = b"H" + frame.hll[row].tobytes()
    cols["clients"] = clients
    return cols


def from_rows(rows: Sequence[Any]) -> Frame:
    """A frame from ``stats_bin`` rows (mappings with the stats columns)."""
    n = len(rows)
    values: dict[str, Array] = {}
    for name in SUMS:
        values[name] = np.array(
            [r[name] for r in rows], dtype=np.int64 if name in COUNTS else np.float64
        )
    for group_names, missing in ((MINS, np.inf), (MAXS, -np.inf)):
        for col in group_names:
            v = np.array([r[col] for r in rows], dtype=np.float64)
            values[col] = np.where(np.isnan(v), missing, v)
    for name in HISTS:
        buf = b"".join(r[name] for r in rows)
        values[name] = np.frombuffer(buf, "<u4").reshape(n, HIST_BUCKETS).astype(np.int64)
    sketches: dict[str, Ragged] = {}
    for name in SKETCHES:
        blobs = [r[f"{name}_sketch"] for r in rows]
        lengths = np.array([len(b) // _RECORD.itemsize for b in blobs], np.int64)
        rec = np.frombuffer(b"".join(blobs), _RECORD)
        sketches[name] = Ragged(
            np.repeat(np.arange(n, dtype=np.int64), lengths),
            rec["i"].astype(np.int16),
            rec["c"].astype(np.int64),
        )
    set_blobs: list[bytes] = []
    set_owner: list[int] = []
    hll_owner: list[int] = []
    hll_blobs: list[bytes] = []
    for i, r in enumerate(rows):
        blob = bytes(r["clients"])
        if blob[:1] == b"H":
            hll_owner.append(i)
            hll_blobs.append(blob[1:])
        else:
            set_blobs.append(blob[1:])
            set_owner.append(i)
    hashes = np.frombuffer(b"".join(set_blobs), "<u8").astype(np.uint64)
    owner = np.repeat(
        np.array(set_owner, np.int64), np.array([len(b) // 8 for b in set_blobs], np.int64)
    )
    registers = np.frombuffer(b"".join(hll_blobs), np.uint8).reshape(len(hll_owner), HLL_M)
    return Frame(
        n, values, sketches, owner, hashes, np.array(hll_owner, np.int64), registers.copy()
    )


def concat(frames: Sequence[Frame]) -> Frame:
    """The bins of several frames, one after the other."""
    offsets = np.cumsum([0, *(f.size for f in frames)])
    values = {name: np.concatenate([f.values[name] for f in frames]) for name in frames[0].values}
    sketches = {
        name: Ragged(
            np.concatenate(
                [f.sketches[name].owner + o for f, o in zip(frames, offsets, strict=False)]
            ),
            np.concatenate([f.sketches[name].index for f in frames]),
            np.concatenate([f.sketches[name].count for f in frames]),
        )
        for name in SKETCHES
    }
    return Frame(
        int(offsets[-1]),
        values,
        sketches,
        np.concatenate([f.client_owner + o for f, o in zip(frames, offsets, strict=False)]),
        np.concatenate([f.client_hash for f in frames]),
        np.concatenate([f.hll_owner + o for f, o in zip(frames, offsets, strict=False)]),
        np.concatenate([f.hll for f in frames]),
    )
