"""Publishing binned statistics without revealing any one test.

Every figure the statistics API publishes is computed from *noisy releases of elements*, never
from the exact bins. An **element** is one combination of the query's dimensions, each part
being a stored key (an area, a time slice, an hour, a weekday, an ISP), a re-binned key (a
coarser slice or area) or ``*`` (a dimension merged without a filter). An answered cell is the
sum of the elements its query names: ``b.area=key&f.isp=A,B`` answers each area with the two
elements (area, ``*``, A) and (area, ``*``, B), whether or not B has tests there.

**What an element releases.** Its download and upload counts, fine histograms of its download
and upload speeds and of MinRTT (:data:`FINE_BINS` log-spaced bins, :data:`FINE_PER_DECADE` a
decade from 0.1), its distinct clients capped at :data:`CLIENT_CAP`, histograms of the
ratio measured ÷ advertised of its download and upload tests that have an advertised speed
(:data:`.sketch.RATIO_EDGES`) and a histogram of the packet loss of its download tests
(:data:`.sketch.LOSS_EDGES`; released only for the use-case scores' pass/fail, never as a
figure of its own) — each with discrete Laplace (two-sided geometric) noise. Adding or
removing one test changes the counts by 1 in total, one bin of one speed histogram by 1, at
most one MinRTT bin by 1, the capped clients by at most 1, at most one bin of one ratio
histogram by 1 and at most one loss bin by 1, so with the scales below the release is
ε-differentially private with ε = 1/:data:`COUNT_SCALE` + 1/:data:`SPEED_SCALE` +
1/:data:`RTT_SCALE` + 1/:data:`CLIENT_SCALE` + 1/:data:`RATIO_SCALE` + 1/:data:`LOSS_SCALE`
= :data:`EPSILON`.

**Why differences reveal nothing more.** Each element's noise is fixed: a keyed hash (SHAKE-128
of the site secret and the element) drives it, so asking again, re-ordering a filter or padding
it with names that have no tests gives the same noise for the same element, and the answer to
any query is a sum of element releases. The difference of two overlapping answers
(``f.isp=A,B`` minus ``f.isp=A``) is the noisy release of B's elements: a test there is
protected by ε like any other, and B with no tests gives noise of the same size rather than a
tell-tale zero. Every published figure is computed from the noisy values (post-processing), so
the guarantee holds whatever is asked and however often.

Each noisy value is the sum of two terms of the same scale: one drawn from the element alone
(permanent) and one drawn from the element and a digest of its content, redrawn whenever the
content changes. The second hides the size of a change between two versions of the data; the
first means that averaging many versions of a growing cell converges to its count plus the
permanent noise, never to its count.

**Cells never seen.** A cell whose elements hold no test at all is not listed, so a cell
holding one test must almost never be listed either: a direction's count is published only when
its noisy value reaches a threshold at which noise alone lifts a one-test cell above it with
probability at most :data:`DELTA` (:func:`publish_threshold`; it grows with the number of
elements a cell sums). With at most two directions, listing a cell costs at most ``2 · DELTA``.

**Composition.** A test belongs to one element of each kind (a choice, per dimension, of stored
key, re-binned key or ``*``) in each aggregation; asking about k kinds composes to at most k·ε.
Months re-binned into quarters or years (and days into weeks) are sums of the months' elements,
not a kind of their own. The noise is drawn by inverse CDF from 32-bit uniforms, which adds
about 2⁻³² to δ.

**Limits.** The unit is one test: someone with many tests in one element is protected as a
group of that size (which is why distributions also need ``min_clients`` distinct clients). An
observer polling the API sees *when* an element's figures change (its content term is redrawn),
not by how much. The noise is keyed by the site secret: every process serving the site must
share it (``NETATLAS_SECRET_KEY`` or the data directory's key), or their answers could be
averaged.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from functools import cache

import numpy as np
import numpy.typing as npt

from netatlas.broadband.aggregate.sketch import LOSS_BINS, RATIO_BINS

__all__ = [
    "CLIENT_CAP",
    "DELTA",
    "EPSILON",
    "FINE_BINS",
    "FINE_EDGES",
    "HIST_WIDTH",
    "WIDTH",
    "discrete_laplace",
    "element_noise",
    "fine_index",
    "publish_threshold",
    "tail_probability",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

#: Scale of each noise term (a noisy value has two): counts, speed bins, MinRTT bins, clients.
COUNT_SCALE = 1.0
SPEED_SCALE = 1.0
RTT_SCALE = 1.0
CLIENT_SCALE = 2.0
#: Advertised-ratio bins (one of the two histograms per test at most) and loss bins (coarse:
#: only a high percentile is read from them, for a pass/fail).
RATIO_SCALE = 1.0
LOSS_SCALE = 2.0
#: Privacy loss of one element's release, for one test (add/remove).
EPSILON = (
    1 / COUNT_SCALE
    + 1 / SPEED_SCALE
    + 1 / RTT_SCALE
    + 1 / CLIENT_SCALE
    + 1 / RATIO_SCALE
    + 1 / LOSS_SCALE
)
#: Probability that noise lifts a cell holding one test to a published direction count.
DELTA = 1e-5
#: Distinct clients counted per element for the clients gate.
CLIENT_CAP = 64
TERMS = 2  # permanent + content-keyed

FINE_PER_DECADE = 8
FINE_LOW = -1.0  # log10 of the lowest edge: 0.1 Mbit/s or ms
FINE_BINS = 40  # up to 10^4
#: Edges of the fine bins; values below the first or above the last fall in the end bins.
FINE_EDGES: F64 = 10.0 ** (FINE_LOW + np.arange(FINE_BINS + 1) / FINE_PER_DECADE)

# Layout of an element's noise values: counts, the three fine histograms, then the evidence
# histograms (appended: the values before them are drawn as they always were).
DL_COUNT, UL_COUNT, CLIENTS = 0, 1, 2
HIST_START = {
    "dl": 4,
    "ul": 4 + FINE_BINS,
    "rtt": 4 + 2 * FINE_BINS,
    "dr": 4 + 3 * FINE_BINS,
    "ur": 4 + 3 * FINE_BINS + RATIO_BINS,
    "loss": 4 + 3 * FINE_BINS + 2 * RATIO_BINS,
}
HIST_WIDTH = {
    "dl": FINE_BINS,
    "ul": FINE_BINS,
    "rtt": FINE_BINS,
    "dr": RATIO_BINS,
    "ur": RATIO_BINS,
    "loss": LOSS_BINS,
}
WIDTH = 4 + 3 * FINE_BINS + 2 * RATIO_BINS + LOSS_BINS
COUNTS_WIDTH = 3
_SCALES = np.concatenate(
    [
        [COUNT_SCALE, COUNT_SCALE, CLIENT_SCALE, COUNT_SCALE],
        np.full(FINE_BINS, SPEED_SCALE),
        np.full(FINE_BINS, SPEED_SCALE),
        np.full(FINE_BINS, RTT_SCALE),
        np.full(2 * RATIO_BINS, RATIO_SCALE),
        np.full(LOSS_BINS, LOSS_SCALE),
    ]
)


def fine_index(values: F64) -> I64:
    """The fine bin of each value (positive; out-of-range values go to the end bins)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = np.floor((np.log10(values) - FINE_LOW) * FINE_PER_DECADE)
    pos = np.nan_to_num(pos, nan=0.0, posinf=FINE_BINS - 1, neginf=0.0)
    return np.clip(pos, 0, FINE_BINS - 1).astype(np.int64)


def discrete_laplace(words: npt.NDArray[np.uint32], scale: F64) -> I64:
    """Discrete Laplace noise, P(k) ∝ exp(-|k| / scale), from uniform 32-bit words.

    Inverse CDF of the symmetric two-sided geometric distribution with p = exp(-1/scale):
    with v the uniform's distance to the nearer end, |k| = floor(log(v (1 + p)) / log p)
    (0 when v (1 + p) > p), negative below one half."""
    u = (words.astype(np.float64) + 0.5) / 4294967296.0
    p = np.exp(-1.0 / scale)
    v = np.minimum(u, 1.0 - u)
    magnitude = np.floor(np.log(v * (1.0 + p)) / np.log(p))
    magnitude = np.where(v * (1.0 + p) <= p, magnitude, 0.0)
    result: I64 = np.where(u < 0.5, -magnitude, magnitude).astype(np.int64)
    return result


def element_noise(secret: bytes, ids: Sequence[bytes], digests: Sequence[int], width: int) -> I64:
    """The noise of elements (rows) for the first ``width`` values of the layout: the
    permanent term (keyed by the element) plus the content term (keyed by the element and its
    content digest; 0 for an element without tests). Any ``width`` gives the same leading
    values, so a query that needs only counts draws the same counts as one that needs all."""
    n = len(ids)
    if n == 0:
        return np.zeros((0, width), np.int64)
    size = 4 * width
    chunks = []
    for ident, digest in zip(ids, digests, strict=True):
        chunks.append(hashlib.shake_128(secret + b"P" + ident).digest(size))
        chunks.append(
            hashlib.shake_128(secret + b"C" + digest.to_bytes(8, "little") + ident).digest(size)
        )
    words = np.frombuffer(b"".join(chunks), "<u4").reshape(n, TERMS, width)
    noise = discrete_laplace(words, _SCALES[:width])
    total: I64 = noise.sum(axis=1)
    return total


def _pmf(scale: float, terms: int) -> tuple[I64, F64]:
    """Support and probabilities of a sum of ``terms`` discrete Laplace variables."""
    p = math.exp(-1.0 / scale)
    reach = math.ceil(60 * scale) + 1
    k = np.arange(-reach, reach + 1)
    one = (1 - p) / (1 + p) * p ** np.abs(k)
    pmf = one
    for _ in range(terms - 1):
        pmf = np.convolve(pmf, one)
    half = (pmf.size - 1) // 2
    return np.arange(-half, half + 1), pmf


def tail_probability(scale: float, terms: int, at_least: int) -> float:
    """P(S ≥ at_least) for S the sum of ``terms`` discrete Laplace variables of ``scale``:
    exact for up to 64 terms, else a Chernoff bound (an upper bound)."""
    if terms <= 64:
        k, pmf = _pmf(scale, terms)
        return float(pmf[k >= at_least].sum())
    p = math.exp(-1.0 / scale)
    best = 1.0
    for lam in np.linspace(0.01, -math.log(p) * 0.999, 400).tolist():
        mgf = (1 - p) ** 2 / ((1 - p * math.exp(lam)) * (1 - p * math.exp(-lam)))
        log_bound = -lam * at_least + terms * math.log(mgf)
        best = min(best, math.exp(min(log_bound, 0.0)))
    return best


@cache
def publish_threshold(elements: int, min_tests: int = 0) -> int:
    """The smallest noisy count at which a direction of a cell summing ``elements`` elements
    is published: at least ``min_tests``, and high enough that a cell holding a single test
    reaches it with probability at most :data:`DELTA`."""
    terms = TERMS * max(elements, 1)
    low, high = 1, 16
    while tail_probability(COUNT_SCALE, terms, high - 1) > DELTA:
        low, high = high, high * 2
    while low < high:  # smallest t with P(1 + S ≥ t) ≤ DELTA
        mid = (low + high) // 2
        if tail_probability(COUNT_SCALE, terms, mid - 1) <= DELTA:
            high = mid
        else:
            low = mid + 1
    return max(low, min_tests, 1)
