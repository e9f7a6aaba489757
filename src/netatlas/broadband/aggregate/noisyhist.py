"""Reading noisy histograms (see :mod:`.privacy`): running totals that noise cannot make
decrease, quantiles and shares of the fine (log-spaced) histograms and of histograms with
explicit edges (the advertised ratios, the loss)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from netatlas.broadband.aggregate.privacy import FINE_BINS, FINE_LOW, FINE_PER_DECADE

__all__ = [
    "cumulative",
    "edge_quantiles",
    "fine_quantiles",
    "rounded",
    "share_at_least",
    "share_from_bin",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def cumulative(hist: I64) -> F64:
    """Running totals of noisy histograms, made non-negative and non-decreasing (the noise
    of empty bins then averages out instead of piling up, as clipping each bin would)."""
    running = np.maximum(np.cumsum(hist, axis=1), 0).astype(np.float64)
    result: F64 = np.maximum.accumulate(running, axis=1)
    return result


def fine_quantiles(hist: I64, qs: Sequence[float]) -> F64:
    """Quantiles of fine histograms, log-linear within the bin where the running total
    reaches the rank; NaN for an empty histogram. Between the quartiles the running total of
    the bins made non-negative is used (the noise of empty bins on either side roughly
    cancels); a tail quantile is counted from its own end with :func:`cumulative` (clipping
    would pile the noise of the empty bins beyond it onto the tail)."""
    out = np.full((hist.shape[0], len(qs)), np.nan)
    rows = np.arange(hist.shape[0])
    for k, q in enumerate(qs):
        upper = q > 0.75
        if 0.25 <= q <= 0.75:
            cum = np.cumsum(np.maximum(hist, 0), axis=1).astype(np.float64)
        else:
            cum = cumulative(hist[:, ::-1] if upper else hist)
        total = cum[:, -1]
        target = (1 - q if upper else q) * total
        j = np.argmax(cum >= target[:, None], axis=1)
        before = np.where(j > 0, cum[rows, j - 1], 0.0)
        inside = cum[rows, j] - before
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip(np.where(inside > 0, (target - before) / inside, 0.5), 0.0, 1.0)
        position = FINE_BINS - (j + frac) if upper else j + frac
        out[:, k] = np.where(total > 0, 10.0 ** (FINE_LOW + position / FINE_PER_DECADE), np.nan)
    return out


def share_at_least(hist: I64, limit: float) -> F64:
    """Share of a fine histogram at or above ``limit`` (the bin holding it counts in
    proportion to its log-scale part above the limit), from the running totals."""
    cum = cumulative(hist)
    total = cum[:, -1]
    x = min(max((math.log10(limit) - FINE_LOW) * FINE_PER_DECADE, 0.0), FINE_BINS - 1e-9)
    j = int(x)
    before = cum[:, j - 1] if j > 0 else np.zeros(cum.shape[0])
    below = before + (cum[:, j] - before) * (x - j)
    with np.errstate(divide="ignore", invalid="ignore"):
        share: F64 = np.where(total > 0, 1.0 - below / total, np.nan)
    return share


def rounded(values: Any, digits: int = 3) -> list[Any]:
    return [None if v is None or v != v else round(float(v), digits) for v in values]


def edge_quantiles(hist: I64, edges: Sequence[float], q: float) -> F64:
    """A quantile of histograms whose bin ``k`` spans ``edges[k]``–``edges[k + 1]`` (the last
    bin read as ending at the last edge), linear within the bin where the running total
    (:func:`cumulative`) reaches the rank; NaN for an empty histogram."""
    cum = cumulative(hist)
    total = cum[:, -1]
    target = q * total
    rows = np.arange(hist.shape[0])
    j = np.argmax(cum >= target[:, None], axis=1)
    before = np.where(j > 0, cum[rows, j - 1], 0.0)
    inside = cum[rows, j] - before
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.clip(np.where(inside > 0, (target - before) / inside, 0.5), 0.0, 1.0)
    e = np.asarray(edges, np.float64)
    value = e[j] + frac * (e[j + 1] - e[j])
    result: F64 = np.where(total > 0, value, np.nan)
    return result


def share_from_bin(hist: I64, first: int) -> F64:
    """Share of histograms in bins ``first`` and above (bin edges fall on the limit), from
    the running totals; NaN for an empty histogram."""
    cum = cumulative(hist)
    total = cum[:, -1]
    below = cum[:, first - 1] if first > 0 else np.zeros(cum.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        share: F64 = np.where(total > 0, 1.0 - below / total, np.nan)
    return share
