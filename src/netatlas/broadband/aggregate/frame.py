"""Bins as columns: many bins' partial statistics in numpy arrays, merged all at once.

A :class:`Frame` holds ``size`` bins. Building bins from tests, merging new bins into stored
ones and re-binning for a query are the same operation, :func:`reduce`: every source bin is
given the index of the bin it goes into, and sums add up, minima and maxima combine, histograms
and sketch counts add up bucket by bucket, and client sets unite. A test is simply a bin of
one (:func:`from_tests`).

Stored form (one ``stats_bin`` row per bin, see :mod:`.models`): the test count, and every
partial statistic packed into one blob of 64-bit words (:func:`to_blobs`), which many bins
pack and unpack at once: a fixed head of sums, extremes and histograms, then the sketch
records and the client hashes or HyperLogLog registers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from netatlas.broadband.aggregate.sketch import (
    EXACT_CLIENTS,
    HIST_BUCKETS,
    HLL_M,
    LOSS_BINS,
    LOSS_EDGES,
    RATIO_BINS,
    RATIO_EDGES,
    _mix,
    bucket_index,
    edge_index,
    hist_index,
    hll_estimate,
    hll_update,
)

__all__ = [
    "Frame",
    "Ragged",
    "digests",
    "distinct_clients",
    "from_blobs",
    "from_tests",
    "reduce",
    "summaries",
    "to_blobs",
    "unpack",
]

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
#: Histograms of the evidence statistics (see .sketch): the advertised ratio of download and
#: upload tests, the loss of download tests. Stored after everything else (see to_blobs).
EVIDENCE = {"dr_hist": RATIO_BINS, "ur_hist": RATIO_BINS, "loss_hist": LOSS_BINS}
#: Seconds assumed for a test whose duration is unknown (unified-view rows): ndt7's 10 s.
NOMINAL_SECONDS = 10.0


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
    values: dict[str, Array]  # SUMS, MINS, MAXS: (size,); HISTS: (size, 8); EVIDENCE
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
    advertised: F64 | None = None,
) -> Frame:
    """One bin per test (speeds must be positive; ``advertised``: the plan's speed for the
    test's direction, NaN where unknown)."""
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
    rows = np.arange(n)
    if advertised is None:
        advertised = np.full(n, np.nan)
    has_ratio = np.isfinite(advertised) & (advertised > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_bin = edge_index(np.where(has_ratio, mbps / advertised, 0.0), RATIO_EDGES)
    for name, mask in (("dr_hist", download & has_ratio), ("ur_hist", up & has_ratio)):
        hist = np.zeros((n, RATIO_BINS), np.int64)
        hist[rows[mask], ratio_bin[mask]] = 1
        values[name] = hist
    loss_hist = np.zeros((n, LOSS_BINS), np.int64)
    loss_bin = edge_index(np.where(has_loss, loss * 100.0, 0.0), LOSS_EDGES)
    loss_hist[rows[has_loss], loss_bin[has_loss]] = 1
    values["loss_hist"] = loss_hist

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
    for name, width in (*((h, HIST_BUCKETS) for h in HISTS), *EVIDENCE.items()):
        src = frame.values[name]
        values[name] = np.stack(
            [np.bincount(group, weights=src[:, k], minlength=size) for k in range(width)],
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


# Packed form of one bin: little-endian 64-bit words.
#   word 0       record counts: dl sketch | ul sketch << 16 | rtt sketch << 32 | client hashes
#                << 48 (bits 48–55) | 1 << 56 when the clients are HyperLogLog registers
#   words 1–15   SUMS as float64 (counts are exact in a float64)
#   words 16–19  MINS, MAXS as float64
#   words 20–27  HISTS: 2 × 8 uint32
#   then         sketch records (bucket as uint16 | count << 32), dl, ul, rtt in turn, each
#                sorted by bucket; then the client hashes (sorted) or the 1024 register bytes
#   last         when bit 57 of word 0 is set: EVIDENCE as uint32 (bins packed before it
#                held none, and read as empty)
_FIXED = 1 + len(SUMS) + len(MINS) + len(MAXS) + len(HISTS) * HIST_BUCKETS // 2
_HLL_WORDS = HLL_M // 8
_HLL_FLAG = 1 << 56
_EVIDENCE_FLAG = 1 << 57
_TRAILER = sum(EVIDENCE.values()) // 2
_U64 = np.dtype("<u8")


def to_blobs(frame: Frame) -> list[bytes]:
    """The packed partial statistics of each bin (``stats_bin.partial``)."""
    n = frame.size
    if n == 0:
        return []
    sketches = [frame.sketches[name] for name in SKETCHES]
    owners = [r.owner for r in sketches]
    words = [
        (r.index.astype(np.int64) & 0xFFFF).astype(np.uint64) | (r.count.astype(np.uint64) << 32)
        for r in sketches
    ]
    parts = [np.full(r.owner.size, k, np.int8) for k, r in enumerate(sketches)]
    owners.append(frame.client_owner)
    words.append(frame.client_hash.astype(np.uint64))
    parts.append(np.full(frame.client_owner.size, 3, np.int8))
    owners.append(np.repeat(frame.hll_owner, _HLL_WORDS))
    words.append(np.ascontiguousarray(frame.hll).view(_U64).reshape(-1).astype(np.uint64))
    parts.append(np.full(frame.hll_owner.size * _HLL_WORDS, 3, np.int8))
    trailer = np.concatenate([frame.values[k].astype("<u4") for k in EVIDENCE], axis=1)
    owners.append(np.repeat(np.arange(n, dtype=np.int64), _TRAILER))
    words.append(np.ascontiguousarray(trailer).view(_U64).reshape(-1).astype(np.uint64))
    parts.append(np.full(n * _TRAILER, 4, np.int8))
    owner = np.concatenate(owners)
    item = np.concatenate(words)
    order = np.lexsort((np.concatenate(parts), owner))  # stable: keeps each part's order
    owner, item = owner[order], item[order]

    extra = np.bincount(owner, minlength=n)
    start = np.zeros(n + 1, np.int64)
    np.cumsum(_FIXED + extra, out=start[1:])
    out = np.empty(int(start[-1]), _U64)
    base = start[:-1]

    counts = [np.bincount(r.owner, minlength=n).astype(np.uint64) for r in sketches]
    set_sizes = np.bincount(frame.client_owner, minlength=n).astype(np.uint64)
    is_hll = np.zeros(n, bool)
    is_hll[frame.hll_owner] = True
    out[base] = (
        counts[0]
        | counts[1] << np.uint64(16)
        | counts[2] << np.uint64(32)
        | set_sizes << np.uint64(48)
        | np.where(is_hll, np.uint64(_HLL_FLAG), np.uint64(0))
        | np.uint64(_EVIDENCE_FLAG)
    )
    j = 1
    for name in (*SUMS, *MINS, *MAXS):
        out[base + j] = frame.values[name].astype("<f8").view(_U64)
        j += 1
    hists = np.concatenate([frame.values[k].astype("<u4") for k in HISTS], axis=1)
    hist_words = np.ascontiguousarray(hists).view(_U64)
    for k in range(hist_words.shape[1]):
        out[base + j + k] = hist_words[:, k]

    extra_start = np.zeros(n, np.int64)
    np.cumsum(extra[:-1], out=extra_start[1:])
    within = np.arange(owner.size) - extra_start[owner]
    out[start[owner] + _FIXED + within] = item
    buf = out.tobytes()  # slicing bytes costs a third of slicing a memoryview
    bounds = (start * 8).tolist()
    return [buf[a:b] for a, b in itertools.pairwise(bounds)]


def from_blobs(blobs: Sequence[bytes]) -> Frame:
    """A frame from packed partial statistics (``stats_bin.partial`` values)."""
    return unpack(blobs)[0]


def unpack(blobs: Sequence[bytes]) -> tuple[Frame, U64]:
    """A frame from packed partial statistics, and each bin's content digest (see
    :func:`summaries`), reading the packed words once."""
    n = len(blobs)
    if n == 0:
        return reduce_empty(), np.zeros(0, np.uint64)
    size = np.array([len(b) // 8 for b in blobs], np.int64)
    arr = np.frombuffer(b"".join(blobs), _U64)
    start = np.zeros(n, np.int64)
    np.cumsum(size[:-1], out=start[1:])
    return _unpack(arr, start, size), _digests(arr, start, size)


def _unpack(arr: U64, start: I64, size: I64) -> Frame:
    n = size.size
    fixed = arr[start[:, None] + np.arange(_FIXED)]
    head = fixed[:, 0]
    values: dict[str, Array] = {}
    floats = np.ascontiguousarray(fixed[:, 1 : 1 + len(SUMS) + 4]).view("<f8")
    for k, name in enumerate((*SUMS, *MINS, *MAXS)):
        col = floats[:, k].astype(np.float64)
        values[name] = col.astype(np.int64) if name in COUNTS else col
    hists = np.ascontiguousarray(fixed[:, 1 + len(SUMS) + 4 :]).view("<u4").astype(np.int64)
    for k, name in enumerate(HISTS):
        values[name] = hists[:, k * HIST_BUCKETS : (k + 1) * HIST_BUCKETS]

    has_trailer = (head & np.uint64(_EVIDENCE_FLAG)) != 0
    tail = arr[(start + size - _TRAILER)[:, None] + np.arange(_TRAILER)]
    tail = np.where(has_trailer[:, None], tail, np.uint64(0)).astype(_U64)
    packed = np.ascontiguousarray(tail).view("<u4").astype(np.int64)
    at = 0
    for name, width in EVIDENCE.items():
        values[name] = packed[:, at : at + width]
        at += width

    extra = size - _FIXED - np.where(has_trailer, _TRAILER, 0)
    owner = np.repeat(np.arange(n, dtype=np.int64), extra)
    extra_start = np.zeros(n, np.int64)
    np.cumsum(extra[:-1], out=extra_start[1:])
    within = np.arange(owner.size) - extra_start[owner]
    item = arr[start[owner] + _FIXED + within]
    mask16 = np.uint64(0xFFFF)
    c = [((head >> np.uint64(s)) & mask16).astype(np.int64) for s in (0, 16, 32)]
    ends = np.cumsum(np.stack(c, 1), axis=1)  # end of each sketch within the bin's records
    part = (within >= ends[owner, 0]).astype(np.int8)
    part += within >= ends[owner, 1]
    part += within >= ends[owner, 2]
    sketches: dict[str, Ragged] = {}
    for k, name in enumerate(SKETCHES):
        mine = part == k
        w = item[mine]
        sketches[name] = Ragged(
            owner[mine],
            (w & mask16).astype(np.uint16).view(np.int16),
            (w >> np.uint64(32)).astype(np.int64),
        )
    is_hll = (head & np.uint64(_HLL_FLAG)) != 0
    clients = part == 3
    as_set = clients & ~is_hll[owner]
    hll_owner = np.flatnonzero(is_hll).astype(np.int64)
    registers = (
        np.ascontiguousarray(item[clients & is_hll[owner]].astype(_U64))
        .view(np.uint8)
        .reshape(hll_owner.size, HLL_M)
        .copy()
    )
    return Frame(
        n, values, sketches, owner[as_set], item[as_set].astype(np.uint64), hll_owner, registers
    )


def distinct_clients(frame: Frame) -> F64:
    """Distinct clients of each bin: the exact set's size, or the registers' estimate."""
    counts = np.bincount(frame.client_owner, minlength=frame.size).astype(np.float64)
    if frame.hll_owner.size:
        counts[frame.hll_owner] = np.round(hll_estimate(frame.hll))
    return counts


# Words of the packed form that depend on the order tests were added in (float sums other than
# counts): left out of a bin's digest, so that an incremental update and a rebuild agree.
_UNSTABLE = np.array([1 + k for k, name in enumerate(SUMS) if name not in COUNTS], np.int64)


def summaries(blobs: Sequence[bytes]) -> tuple[I64, I64, U64]:
    """Download and upload counts of each packed bin, and a 64-bit digest of its content:
    equal for bins holding the same tests however they were merged (counts, extremes,
    histograms, sketches, client sets and registers; not the float sums, whose last bits
    depend on the order of addition). The digest is a sum of the words weighted by a
    pseudo-random odd number per position, so bins' digests add up like their contents."""
    n = len(blobs)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint64)
    size = np.array([len(b) // 8 for b in blobs], np.int64)
    arr = np.frombuffer(b"".join(blobs), _U64)
    start = np.zeros(n, np.int64)
    np.cumsum(size[:-1], out=start[1:])
    counts = [
        arr[start + 1 + SUMS.index(name)].view("<f8").astype(np.int64) for name in ("dl_n", "ul_n")
    ]
    return counts[0], counts[1], _digests(arr, start, size)


def _digests(arr: U64, start: I64, size: I64) -> U64:
    width = int(size.max())
    with np.errstate(over="ignore"):
        weight = _mix(np.arange(width, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        weight |= np.uint64(1)
    weight[_UNSTABLE] = 0  # every packed bin is longer than its fixed head
    position = np.arange(arr.size, dtype=np.int64) - np.repeat(start, size)
    with np.errstate(over="ignore"):
        digest: U64 = np.add.reduceat(arr * weight[position], start).astype(np.uint64)
    return digest


def digests(blobs: Sequence[bytes]) -> U64:
    """The content digest of each packed bin (see :func:`summaries`)."""
    return summaries(blobs)[2]


def reduce_empty() -> Frame:
    """A frame of no bins."""
    return Frame(
        0,
        {
            **{name: np.zeros(0, np.int64 if name in COUNTS else np.float64) for name in SUMS},
            **{name: np.zeros(0) for name in (*MINS, *MAXS)},
            **{name: np.zeros((0, HIST_BUCKETS), np.int64) for name in HISTS},
            **{name: np.zeros((0, width), np.int64) for name, width in EVIDENCE.items()},
        },
        {name: _empty_ragged() for name in SKETCHES},
        np.zeros(0, np.int64),
        np.zeros(0, np.uint64),
        np.zeros(0, np.int64),
        np.zeros((0, HLL_M), np.uint8),
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
