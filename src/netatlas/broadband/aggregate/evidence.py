"""Evidence statistics: measured against advertised, and IQB-style use-case scores, computed
like every other figure only from the noisy element releases (see :mod:`.privacy`).

**Advertised vs measured.** A test has a ratio when a consented survey linked to it gave the
plan's advertised speed for its direction (``advertised_download`` / ``advertised_upload``).
Per direction: ``<dir>_advertised_count`` (tests with a ratio; published like a direction's
count: when it reaches the cell's threshold), ``<dir>_advertised_80`` and
``<dir>_advertised_100`` (the share of those tests reaching 80 % and 100 % of the advertised
speed: 0.8 and 1.0 are bin edges, so the shares are sums of whole bins) and
``<dir>_advertised_ratio_median`` (linear within its bin; a median above 1.25 is read in the
bin 1.25–1.5). The shares and the median need the direction's figures to be shown (enough
tests and clients) and :data:`SHARE_TESTS` tests with a ratio.

**Use-case scores** (``score_<use>``, ``iqb_score``; see :mod:`netatlas.broadband.usecases`
for the table): download and upload are judged at the table's low percentile, latency and
loss at its high one, each only when that percentile could be published
(``15 / min(q, 1 - q)`` tests: 150 at the 90th percentile). Loss is never published as a
figure; its noisy histogram only decides the loss requirements' pass or fail. A requirement
that cannot be judged is left out of the score; a score needs the download requirement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from netatlas.broadband.aggregate.noisyhist import (
    edge_quantiles,
    fine_quantiles,
    rounded,
    share_from_bin,
)
from netatlas.broadband.aggregate.sketch import LOSS_EDGES, RATIO_EDGES
from netatlas.broadband.usecases import METRICS, UseCaseTable

__all__ = ["SHARE_TESTS", "evidence_stats", "publish_evidence", "publish_scores", "score_stats"]

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

#: Tests with a ratio a share or median of ratios needs (as a median of speeds does).
SHARE_TESTS = 30
_RATIO = {"download": "dr", "upload": "ur"}
_AT = {"80": 0.8, "100": 1.0}
_PER_DIRECTION = ("advertised_count", "advertised_80", "advertised_100", "advertised_ratio_median")
_FIRST_BIN = {k: int(np.flatnonzero(np.isclose(RATIO_EDGES, v))[0]) for k, v in _AT.items()}


def evidence_stats() -> tuple[str, ...]:
    """The advertised-vs-measured statistics, in report order."""
    return tuple(f"{d}_{s}" for d in _RATIO for s in _PER_DIRECTION)


def score_stats(cases: UseCaseTable) -> tuple[str, ...]:
    """The use-case score statistics of a table, in report order."""
    return (*(f"score_{c.key}" for c in cases.cases), "iqb_score")


def publish_evidence(
    hists: Mapping[str, I64],
    threshold: I64,
    shown: Mapping[str, B],
    wanted: set[str],
    out: dict[str, list[Any]],
) -> None:
    """Add the wanted advertised-vs-measured statistics to ``out``."""
    for name, p in _RATIO.items():
        if not any(f"{name}_{s}" in wanted for s in _PER_DIRECTION):
            continue
        hist = hists[p]
        count = hist.sum(axis=1)
        if f"{name}_advertised_count" in wanted:
            ok = shown[name] & (count >= threshold)
            out[f"{name}_advertised_count"] = [
                int(c) if good else None
                for c, good in zip(count.tolist(), ok.tolist(), strict=True)
            ]
        enough = shown[name] & (count >= np.maximum(SHARE_TESTS, threshold))
        for key in _AT:
            if f"{name}_advertised_{key}" in wanted:
                share = share_from_bin(hist, _FIRST_BIN[key])
                out[f"{name}_advertised_{key}"] = rounded(np.where(enough, share, np.nan))
        if f"{name}_advertised_ratio_median" in wanted:
            median = edge_quantiles(hist, RATIO_EDGES.tolist(), 0.5)
            out[f"{name}_advertised_ratio_median"] = rounded(np.where(enough, median, np.nan))


def _need(q: float, ranks: int) -> int:
    return math.ceil(ranks / min(q, 1 - q) - 1e-9)


def publish_scores(
    hists: Mapping[str, I64],
    counts: Mapping[str, I64],
    shown: Mapping[str, B],
    cases: UseCaseTable,
    ranks: int,
    wanted: set[str],
    out: dict[str, list[Any]],
) -> None:
    """Add the wanted use-case scores to ``out`` (``ranks``: see report.QUANTILE_RANKS)."""
    names = score_stats(cases)
    if not wanted & set(names):
        return
    values: dict[str, Any] = {}
    judged: dict[str, B] = {}
    sources = {
        "download": ("dl", counts["dl"], shown["download"]),
        "upload": ("ul", counts["ul"], shown["upload"]),
        "latency": ("rtt", hists["rtt"].sum(axis=1), shown["download"]),
        "loss": ("loss", hists["loss"].sum(axis=1), shown["download"]),
    }
    for metric, (p, n, ok) in sources.items():
        q = cases.quantile(metric)
        if metric == "loss":
            values[metric] = edge_quantiles(hists[p], LOSS_EDGES.tolist(), q)
        else:
            values[metric] = fine_quantiles(hists[p], [q])[:, 0]
        judged[metric] = ok & (n >= _need(q, ranks)) & np.isfinite(values[metric])
    scores: list[npt.NDArray[np.float64]] = []
    size = counts["dl"].shape[0]
    for case in cases.cases:
        passed = np.zeros(size)
        weight = np.zeros(size)
        for metric, w in zip(METRICS, case.weights, strict=True):
            v = np.nan_to_num(values[metric], nan=0.0)
            limit = case.limit(metric)
            ok = v >= limit if metric in ("download", "upload") else v <= limit
            passed += np.where(judged[metric] & ok, w, 0.0)
            weight += np.where(judged[metric], w, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(judged["download"] & (weight > 0), passed / weight, np.nan)
        scores.append(score)
        if f"score_{case.key}" in wanted:
            out[f"score_{case.key}"] = rounded(score)
    if "iqb_score" in wanted:
        use_weight = np.array([c.weight for c in cases.cases])[:, None]
        stacked = np.array(scores)
        known = np.isfinite(stacked)
        total = (np.where(known, use_weight, 0.0)).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            overall = np.where(total > 0, np.nansum(stacked * use_weight, axis=0) / total, np.nan)
        out["iqb_score"] = rounded(overall)
