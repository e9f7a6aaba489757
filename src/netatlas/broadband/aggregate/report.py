"""Reported statistics: the names the API accepts and their values, computed only from the
noisy element releases of :mod:`.privacy` (never from exact bins).

* A direction's count is published when its noisy value reaches the cell's threshold
  (:func:`.privacy.publish_threshold`, at least the aggregation's ``min_tests``); below it the
  count is ``None`` ("fewer than the threshold"). ``tests`` adds up the published counts. A
  cell with no published count is not listed at all.
* A direction's distribution — percentiles, M-Lab's histogram, MinRTT (from download tests)
  and the ``good_<use>`` shares — is published only where its count is, and where the cell's
  noisy count of distinct clients reaches the aggregation's ``min_clients``. Percentiles,
  MinRTT and the shares further need enough tests to be more than noise
  (:data:`QUANTILE_RANKS`: 30 for a median, 300 for p5 and p95), so they never describe the
  extreme tests of a small cell. Minima, maxima and means are not published: one test
  decides them.
* Percentiles are read from the noisy fine histogram (log-linear within a bin); for a cell of
  1,000 tests the median is typically within 1–2 % of the exact one.
* The advertised-vs-measured statistics and the use-case scores follow the same rules (see
  :mod:`.evidence`); the use cases are those of the aggregations settings
  (:mod:`netatlas.broadband.usecases`), so the names ``good_<use>`` and ``score_<use>``
  follow the table in force (:func:`stat_names`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from netatlas.broadband.aggregate.evidence import (
    evidence_stats,
    publish_evidence,
    publish_scores,
    score_stats,
)
from netatlas.broadband.aggregate.noisyhist import fine_quantiles, rounded, share_at_least
from netatlas.broadband.aggregate.privacy import FINE_BINS
from netatlas.broadband.usecases import DEFAULT_TABLE, OLD_KEYS, UseCaseTable

__all__ = [
    "ALIASES",
    "DEFAULT_STATS",
    "STATS",
    "WITHDRAWN",
    "Noisy",
    "publish",
    "published",
    "stat_names",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_QUANTILES = {
    "p5": 0.05,
    "p10": 0.1,
    "q25": 0.25,
    "median": 0.5,
    "q75": 0.75,
    "p90": 0.9,
    "p95": 0.95,
}
_PER_DIRECTION = ("count", *_QUANTILES, "histogram")
_NAMES = {"download": "dl", "upload": "ul"}
#: A percentile q is published with at least this many tests on its near side: q · n for
#: q ≤ 0.5 (30 tests for the median, 60 for the quartiles, 150 for p10 and p90, 300 for p5
#: and p95). The noise of a fine histogram's running total is several tests (about 2 times
#: the root of the bins summed), so fewer would publish mostly noise.
QUANTILE_RANKS = 15
# M-Lab's 8 histogram buckets as ranges of fine bins (their edges are fine-bin edges).
_MLAB = [(0, 10), *((10 + 4 * k, 14 + 4 * k) for k in range(6)), (34, FINE_BINS)]


def stat_names(cases: UseCaseTable = DEFAULT_TABLE) -> tuple[str, ...]:
    """Every statistic, in report order, with the use cases of ``cases``."""
    return (
        "tests",
        *(f"{d}_{s}" for d in _NAMES for s in _PER_DIRECTION),
        "min_rtt_median",
        *(f"good_{case.key}" for case in cases.cases),
        *evidence_stats(),
        *score_stats(cases),
    )


#: Every statistic with the default use cases, in report order.
STATS: tuple[str, ...] = stat_names()
DEFAULT_STATS: tuple[str, ...] = (
    "tests",
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
    "MedianRTT": "min_rtt_median",
    "MinRTT": "min_rtt_median",
    # The use cases' keys before the table followed M-Lab's IQB.
    **{f"good_{old}": f"good_{new}" for old, new in OLD_KEYS.items()},
}
_EXTREME = "one test decides it; see /privacy (download_p5 and download_p95 are published)"
_MEAN = "one extreme test moves it; see /privacy (medians and percentiles are published)"
#: Statistics no longer published, and why (the API's error says so).
WITHDRAWN = {
    **{f"{d}_{s}": _EXTREME for d in _NAMES for s in ("min", "max")},
    **{f"{d}_{s}": _MEAN for d in _NAMES for s in ("mean", "time_weighted_mean", "log_mean")},
    "min_rtt_mean": _MEAN,
    "loss_rate": _MEAN,
    "clients": "a count of people; it only decides whether figures are published",
    **{name: _EXTREME for name in ("DownloadMin", "DownloadMax", "UploadMin", "UploadMax")},
    **{name: _MEAN for name in ("AverageDownload", "AverageUpload", "AverageRTT")},
}


@dataclass
class Noisy:
    """Noisy sums of the element releases of each answered cell."""

    counts: dict[str, I64]  # "dl", "ul"
    clients: I64
    hists: dict[str, I64]  # "dl", "ul", "rtt": (cells, FINE_BINS); "dr", "ur", "loss"
    threshold: I64  # the count a direction needs to be published, per cell


def published(noisy_counts: dict[str, I64], threshold: I64) -> npt.NDArray[np.bool_]:
    """Which cells have at least one published direction (the others are not listed)."""
    listed: npt.NDArray[np.bool_] = (noisy_counts["dl"] >= threshold) | (
        noisy_counts["ul"] >= threshold
    )
    return listed


def publish(
    noisy: Noisy,
    stats: Sequence[str],
    min_clients: int,
    cases: UseCaseTable = DEFAULT_TABLE,
) -> dict[str, list[Any]]:
    """The requested statistics of every cell, as lists (``None`` where withheld)."""
    out: dict[str, list[Any]] = {}
    wanted = set(stats)
    thr = noisy.threshold
    crowd = noisy.clients >= min_clients
    count_ok = {name: noisy.counts[p] >= thr for name, p in _NAMES.items()}
    shown = {name: count_ok[name] & crowd for name in _NAMES}
    if "tests" in wanted:
        total = sum(np.where(count_ok[n], noisy.counts[p], 0) for n, p in _NAMES.items())
        out["tests"] = [int(t) if t > 0 else None for t in np.asarray(total).tolist()]
    for name, prefix in _NAMES.items():
        n = noisy.counts[prefix]
        ok = count_ok[name]
        if f"{name}_count" in wanted:
            out[f"{name}_count"] = [int(c) if good else None for c, good in zip(n, ok, strict=True)]
        asked = [s for s in _QUANTILES if f"{name}_{s}" in wanted]
        if asked:
            values = fine_quantiles(noisy.hists[prefix], [_QUANTILES[s] for s in asked])
            for k, stat in enumerate(asked):
                q = _QUANTILES[stat]
                need = math.ceil(QUANTILE_RANKS / min(q, 1 - q) - 1e-9)
                good = shown[name] & (n >= need)
                out[f"{name}_{stat}"] = rounded(np.where(good, values[:, k], np.nan))
        if f"{name}_histogram" in wanted:
            raw = noisy.hists[prefix]
            buckets = np.stack([raw[:, a:b].sum(axis=1) for a, b in _MLAB], axis=1)
            buckets = np.maximum(buckets, 0)
            out[f"{name}_histogram"] = [
                [int(x) for x in row] if good else None
                for row, good in zip(buckets.tolist(), shown[name].tolist(), strict=True)
            ]
    middle = 2 * QUANTILE_RANKS  # tests a median or a share needs
    rtt_total = noisy.hists["rtt"].sum(axis=1)
    rtt_ok = shown["download"] & (rtt_total >= np.maximum(middle, noisy.counts["dl"] // 2))
    if "min_rtt_median" in wanted:
        median = fine_quantiles(noisy.hists["rtt"], [0.5])[:, 0]
        out["min_rtt_median"] = rounded(np.where(rtt_ok, median, np.nan))
    shares = {name: shown[name] & (noisy.counts[p] >= middle) for name, p in _NAMES.items()}
    for case in cases.cases:
        if f"good_{case.key}" in wanted:
            dl, ul = shares["download"], shares["upload"]
            parts = [
                np.where(dl, share_at_least(noisy.hists["dl"], case.min_download), 1),
                np.where(ul, share_at_least(noisy.hists["ul"], case.min_upload), 1),
                np.where(rtt_ok, 1 - share_at_least(noisy.hists["rtt"], case.max_latency), 1),
            ]
            best = np.minimum.reduce([np.nan_to_num(p, nan=1.0) for p in parts])
            good = dl | ul
            out[f"good_{case.key}"] = rounded(np.where(good, best, np.nan), 3)
    publish_evidence(noisy.hists, thr, shown, wanted, out)
    publish_scores(noisy.hists, noisy.counts, shown, cases, QUANTILE_RANKS, wanted, out)
    return out
