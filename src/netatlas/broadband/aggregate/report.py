"""Reported statistics of bins: the names the API accepts and their values for a frame.

A direction's figures (and MinRTT and loss, which come from download tests) are withheld —
``None`` — in a bin with fewer than the aggregation's ``min_tests`` tests of that direction;
a bin where both directions fall short is flagged ``insufficient``. Counts are always given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from netatlas.broadband.aggregate.frame import Frame
from netatlas.broadband.aggregate.sketch import (
    bucket_value,
    hll_estimate,
    quantiles,
    share_at_least,
)
from netatlas.broadband.usecases import USE_CASES

__all__ = ["ALIASES", "DEFAULT_STATS", "STATS", "compute"]

_QUANTILES = {"p10": 0.1, "q25": 0.25, "median": 0.5, "q75": 0.75, "p90": 0.9}
_PER_DIRECTION = (
    "count",
    *_QUANTILES,
    "mean",
    "time_weighted_mean",
    "log_mean",
    "min",
    "max",
    "histogram",
)
_NAMES = {"download": "dl", "upload": "ul"}

#: Every statistic, in report order.
STATS: tuple[str, ...] = (
    "tests",
    "clients",
    *(f"{d}_{s}" for d in _NAMES for s in _PER_DIRECTION),
    "min_rtt_median",
    "min_rtt_mean",
    "loss_rate",
    *(f"good_{case.key}" for case in USE_CASES),
)
DEFAULT_STATS: tuple[str, ...] = (
    "tests",
    "clients",
    "download_count",
    "download_median",
    "upload_count",
    "upload_median",
    "min_rtt_median",
)
#: Piecewise's statistic names, for its query strings.
ALIASES = {
    "DownloadCount": "download_count",
    "UploadCount": "upload_count",
    "MedianDownload": "download_median",
    "MedianUpload": "upload_median",
    "AverageDownload": "download_time_weighted_mean",
    "AverageUpload": "upload_time_weighted_mean",
    "DownloadMin": "download_min",
    "DownloadMax": "download_max",
    "UploadMin": "upload_min",
    "UploadMax": "upload_max",
    "MedianRTT": "min_rtt_median",
    "AverageRTT": "min_rtt_mean",
    "MinRTT": "min_rtt_median",
}


def _clients(frame: Frame) -> np.ndarray[Any, np.dtype[np.float64]]:
    counts = np.bincount(frame.client_owner, minlength=frame.size).astype(np.float64)
    if frame.hll_owner.size:
        counts[frame.hll_owner] = np.round(hll_estimate(frame.hll))
    return counts


def _round(values: Any, digits: int = 3) -> list[Any]:
    return [None if v is None or v != v else round(float(v), digits) for v in values]


def compute(frame: Frame, stats: Sequence[str], min_tests: int) -> dict[str, list[Any]]:
    """The requested statistics (plus ``insufficient``) of every bin, as lists."""
    v = frame.values
    out: dict[str, list[Any]] = {}
    enough = {d: v[f"{p}_n"] >= min_tests for d, p in _NAMES.items()}
    out["insufficient"] = (~(enough["download"] | enough["upload"])).tolist()
    wanted = set(stats)
    cache: dict[str, Any] = {}

    def quantile_table(prefix: str) -> Any:
        if prefix not in cache:
            sk = frame.sketches[prefix]
            if prefix == "rtt":
                n, (lo, hi) = v["rtt_n"], _rtt_bounds(frame)
            else:
                n, lo, hi = v[f"{prefix}_n"], v[f"{prefix}_min"], v[f"{prefix}_max"]
            cache[prefix] = quantiles(
                sk.starts(frame.size), sk.index, sk.count, n, lo, hi, list(_QUANTILES.values())
            )
        return cache[prefix]

    if "tests" in wanted:
        out["tests"] = v["tests"].tolist()
    if "clients" in wanted:
        out["clients"] = [int(c) for c in _clients(frame).tolist()]
    for name, prefix in _NAMES.items():
        n = v[f"{prefix}_n"]
        ok = enough[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            derived = {
                "mean": v[f"{prefix}_sum"] / n,
                "time_weighted_mean": v[f"{prefix}_wsum"] / v[f"{prefix}_wtime"],
                "log_mean": np.exp(v[f"{prefix}_logsum"] / n),
                "min": v[f"{prefix}_min"],
                "max": v[f"{prefix}_max"],
            }
        for stat in _PER_DIRECTION:
            key = f"{name}_{stat}"
            if key not in wanted:
                continue
            if stat == "count":
                out[key] = n.tolist()
            elif stat == "histogram":
                hist = v[f"{prefix}_hist"].tolist()
                out[key] = [h if good else None for h, good in zip(hist, ok.tolist(), strict=True)]
            elif stat in _QUANTILES:
                column = list(_QUANTILES).index(stat)
                out[key] = _round(np.where(ok, quantile_table(prefix)[:, column], np.nan))
            else:
                out[key] = _round(np.where(ok, derived[stat], np.nan))
    ok = enough["download"] & (v["rtt_n"] > 0)
    if "min_rtt_median" in wanted:
        out["min_rtt_median"] = _round(np.where(ok, quantile_table("rtt")[:, 2], np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        if "min_rtt_mean" in wanted:
            out["min_rtt_mean"] = _round(np.where(ok, v["rtt_sum"] / v["rtt_n"], np.nan))
        if "loss_rate" in wanted:
            good = enough["download"] & (v["loss_n"] > 0)
            out["loss_rate"] = _round(np.where(good, v["loss_sum"] / v["loss_n"], np.nan), 5)
    for case in USE_CASES:
        if f"good_{case.key}" in wanted:
            out[f"good_{case.key}"] = _round(_good_share(frame, case, enough, min_tests), 4)
    return out


def _good_share(frame: Frame, case: Any, enough: dict[str, Any], min_tests: int) -> Any:
    """The share of tests good enough for a use: the smallest of the shares of download tests
    at or above its download speed, upload tests at or above its upload speed and tests with
    MinRTT at or below its latency limit, each where the bin has ``min_tests`` of them; NaN
    when it has enough of neither direction."""
    v = frame.values
    shares = []
    for prefix, name, limit in (
        ("dl", "download", case.min_download),
        ("ul", "upload", case.min_upload),
    ):
        sk = frame.sketches[prefix]
        share = share_at_least(sk.starts(frame.size), sk.index, sk.count, limit)
        shares.append(np.where(enough[name], share, 1.0))
    rtt = frame.sketches["rtt"]
    slow = share_at_least(rtt.starts(frame.size), rtt.index, rtt.count, case.max_latency)
    shares.append(np.where(v["rtt_n"] >= min_tests, 1.0 - np.nan_to_num(slow), 1.0))
    best = np.minimum.reduce(shares)
    return np.where(enough["download"] | enough["upload"], best, np.nan)


def _rtt_bounds(frame: Frame) -> tuple[Any, Any]:
    """MinRTT keeps no exact min/max: use the outermost buckets' values as bounds."""
    sk = frame.sketches["rtt"]
    starts = sk.starts(frame.size)
    lo = np.zeros(frame.size)
    hi = np.full(frame.size, np.inf)
    has = starts[1:] > starts[:-1]
    values = bucket_value(sk.index)
    lo[has] = values[starts[:-1][has]]
    hi[has] = values[starts[1:][has] - 1]
    return lo, hi
