"""The mergeable sketches: quantiles within 1 % of numpy's, merging equals building from the
union (content digests included), distinct counts."""

from __future__ import annotations

import numpy as np
import pytest

from netatlas.broadband.aggregate import frame as fr
from netatlas.broadband.aggregate.sketch import ALPHA, client_hashes, quantiles

QS = [0.1, 0.25, 0.5, 0.75, 0.9]


def _quantiles(frame: fr.Frame) -> list[list[float]]:
    """The download quantiles QS of each bin, from its sketch and exact extremes."""
    v, sk = frame.values, frame.sketches["dl"]
    table = quantiles(sk.starts(frame.size), sk.index, sk.count, v["dl_n"], v["dl_min"],
                      v["dl_max"], QS)  # fmt: skip
    return [[float(x) for x in row] for row in table.tolist()]


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
    (out,) = _quantiles(frame)
    for value, q in zip(out, QS, strict=True):
        exact = np.quantile(values, q)
        assert abs(value - exact) / exact <= ALPHA + 1e-9


def test_merge_equals_build_of_union() -> None:
    rng = np.random.default_rng(4)
    values = rng.lognormal(2, 1, 5000)
    groups = rng.integers(0, 40, 5000)
    fine = fr.reduce(_tests(values), groups, 40)
    stored = fr.from_blobs(fr.to_blobs(fine))
    merged = fr.reduce(stored, np.zeros(40, np.int64), 1)
    direct = fr.reduce(_tests(values), np.zeros(5000, np.int64), 1)
    assert _quantiles(merged) == _quantiles(direct)
    for name in ("dl_n", "dl_min", "dl_max", "dl_hist"):
        assert np.array_equal(merged.values[name], direct.values[name]), name
    assert merged.values["dl_sum"][0] == pytest.approx(direct.values["dl_sum"][0], rel=1e-12)
    assert fr.distinct_clients(merged).tolist() == fr.distinct_clients(direct).tolist()
    assert fr.digests(fr.to_blobs(merged)).tolist() == fr.digests(fr.to_blobs(direct)).tolist()


def test_distinct_clients() -> None:
    ips = [f"192.0.2.{i % 60}" for i in range(600)]
    hashes = client_hashes(ips)
    assert len(set(hashes.tolist())) == 60
    frame = fr.reduce(_tests(np.ones(600), hashes), np.zeros(600, np.int64), 1)
    assert fr.distinct_clients(frame).tolist() == [60]  # exact below 64
    many = client_hashes([f"2001:db8::{i:x}" for i in range(20_000)])
    halves = [fr.reduce(_tests(np.ones(10_000), h), np.zeros(10_000, np.int64), 1) for h in
              (many[:10_000], many[10_000:])]  # fmt: skip
    merged = fr.reduce(fr.concat(halves), np.zeros(2, np.int64), 1)
    (estimate,) = fr.distinct_clients(merged).tolist()
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
