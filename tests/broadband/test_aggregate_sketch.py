"""The mergeable sketches: quantiles within 1 % of numpy's, merging equals building from the
union, distinct counts."""

from __future__ import annotations

import numpy as np
import pytest

from netatlas.broadband.aggregate import frame as fr
from netatlas.broadband.aggregate.report import compute
from netatlas.broadband.aggregate.sketch import ALPHA, client_hashes

STATS = [f"download_{s}" for s in ("p10", "q25", "median", "q75", "p90")]
QS = [0.1, 0.25, 0.5, 0.75, 0.9]


def _tests(values: np.ndarray, clients: np.ndarray | None = None) -> fr.Frame:
    n = values.size
    hashes = clients if clients is not None else np.arange(n, dtype=np.uint64)
    return fr.from_tests(
        np.ones(n, bool), values, np.full(n, 10.0), np.full(n, 5.0), np.zeros(n), hashes
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n", [2, 7, 100, 20_000])
def test_quantiles_within_alpha_of_numpy(seed: int, n: int) -> None:
    values = np.random.default_rng(seed).lognormal(3, 1.5, n)
    frame = fr.reduce(_tests(values), np.zeros(n, np.int64), 1)
    out = compute(frame, STATS, 1)
    for stat, q in zip(STATS, QS, strict=True):
        exact = np.quantile(values, q)
        assert abs(out[stat][0] - exact) / exact <= ALPHA + 1e-3  # + the 3-decimal rounding


def test_merge_equals_build_of_union() -> None:
    rng = np.random.default_rng(4)
    values = rng.lognormal(2, 1, 5000)
    groups = rng.integers(0, 40, 5000)
    fine = fr.reduce(_tests(values), groups, 40)
    stored = fr.from_blobs(fr.to_blobs(fine))
    merged = fr.reduce(stored, np.zeros(40, np.int64), 1)
    direct = fr.reduce(_tests(values), np.zeros(5000, np.int64), 1)
    a = compute(merged, [*STATS, "download_mean", "clients", "download_histogram"], 1)
    b = compute(direct, [*STATS, "download_mean", "clients", "download_histogram"], 1)
    assert a == b


def test_distinct_clients() -> None:
    ips = [f"192.0.2.{i % 60}" for i in range(600)]
    hashes = client_hashes(ips)
    assert len(set(hashes.tolist())) == 60
    frame = fr.reduce(_tests(np.ones(600), hashes), np.zeros(600, np.int64), 1)
    assert compute(frame, ["clients"], 1)["clients"] == [60]  # exact below 64
    many = client_hashes([f"2001:db8::{i:x}" for i in range(20_000)])
    halves = [fr.reduce(_tests(np.ones(10_000), h), np.zeros(10_000, np.int64), 1) for h in
              (many[:10_000], many[10_000:])]  # fmt: skip
    merged = fr.reduce(fr.concat(halves), np.zeros(2, np.int64), 1)
    (estimate,) = compute(merged, ["clients"], 1)["clients"]
    assert abs(estimate - 20_000) / 20_000 < 0.1  # HyperLogLog, 1024 registers


def test_client_hash_is_a_function_of_the_key_alone() -> None:
    # Hashes are stored in bins, so a client seen in two batches must hash the same in both,
    # whatever the other keys of each batch (their lengths set the padding).
    alone = client_hashes(["192.0.2.7", "2001:db8::1", "test:é-ü"])
    beside = client_hashes(["x" * 140, "test:é-ü", "192.0.2.7", "2001:db8::1"])
    assert alone.tolist() == [beside[2], beside[3], beside[1]]
    assert len(set(client_hashes(["a", "a\x00", "b", "ab", "ba", ""]).tolist())) >= 5
    # Top bits pick the HyperLogLog register: spread evenly over 2^10 slots.
    slots = client_hashes([f"10.0.{i >> 8}.{i & 255}" for i in range(65536)]) >> np.uint64(54)
    counts = np.bincount(slots.astype(np.int64), minlength=1024)
    assert counts.min() > 30 and counts.max() < 100  # expected 64 each


def test_packed_bins_unpack_to_the_same_frame() -> None:
    # Bins of every shape: downloads and uploads, no RTT, a single test, more clients than
    # the exact set holds (HyperLogLog registers), extremes of the sketch range.
    rng = np.random.default_rng(9)
    n = 3000
    download = rng.random(n) < 0.6
    mbps = np.concatenate([rng.lognormal(3, 2, n - 2), [1e-9, 1e9]])
    rtt = np.where(rng.random(n) < 0.3, np.nan, rng.uniform(1, 300, n))
    clients = client_hashes([f"198.51.100.{i % 250}" for i in range(n)])
    tests = fr.from_tests(download, mbps, rng.uniform(5, 12, n), rtt, rng.random(n), clients)
    group = np.concatenate([np.zeros(1000, np.int64), rng.integers(1, 60, n - 1001), [60]])
    frame = fr.reduce(tests, group, 61)
    assert frame.hll_owner.size >= 1 and frame.client_owner.size > 0  # both client forms
    back = fr.from_blobs(fr.to_blobs(frame))
    assert back.size == frame.size
    for name, v in frame.values.items():
        assert np.array_equal(back.values[name], v), name
        assert back.values[name].dtype == v.dtype, name
    for name, r in frame.sketches.items():
        b = back.sketches[name]
        assert np.array_equal(b.owner, r.owner) and np.array_equal(b.index, r.index), name
        assert np.array_equal(b.count, r.count), name
    assert np.array_equal(back.client_owner, frame.client_owner)
    assert np.array_equal(back.client_hash, frame.client_hash)
    assert np.array_equal(back.hll_owner, frame.hll_owner)
    assert np.array_equal(back.hll, frame.hll)
    assert fr.from_blobs([]).size == 0 and fr.to_blobs(fr.from_blobs([])) == []


def test_good_enough_shares_from_the_sketches() -> None:
    # 200 download tests at 1..100 Mbit/s (two of each), 200 uploads at 2 or 20 Mbit/s, MinRTT
    # 10 ms for half the downloads and 120 ms for the rest.
    down = np.repeat(np.arange(1.0, 101.0), 2)
    up = np.where(np.arange(200) % 4 == 0, 2.0, 20.0)  # a quarter below 3 Mbit/s
    rtt = np.where(np.arange(200) % 2 == 0, 10.0, 120.0)
    n = 400
    tests = fr.from_tests(
        np.arange(n) < 200,
        np.concatenate([down, up]),
        np.full(n, 10.0),
        np.concatenate([rtt, np.full(200, np.nan)]),
        np.zeros(n),
        np.arange(n, dtype=np.uint64),
    )
    frame = fr.reduce(tests, np.zeros(n, np.int64), 1)
    out = compute(frame, ["good_streaming_4k", "good_video_calls", "good_gaming"], 5)
    # 4K: downloads ≥ 25 Mbit/s are 76 of 100 values; uploads and latency are all fine.
    assert out["good_streaming_4k"][0] == pytest.approx(0.76, abs=0.011)
    # Video calls: 4 Mbit/s down (97 %), 3 Mbit/s up (75 %), 150 ms (all): the upload decides.
    assert out["good_video_calls"][0] == pytest.approx(0.75, abs=0.011)
    # Gaming: 50 ms: only half the tests.
    assert out["good_gaming"][0] == pytest.approx(0.5, abs=0.011)
    few = fr.reduce(tests, np.r_[np.zeros(396, np.int64), np.ones(4, np.int64)], 2)
    assert compute(few, ["good_gaming"], 5)["good_gaming"][1] is None  # too few tests
