"""Position and accuracy of one cluster of found networks (pure Python, no numpy on this path).

WiFi and Bluetooth (:func:`estimate_macs`)
------------------------------------------

Ichnaea weighted each station by ``score × age_weight / signal²``, refined the weighted mean by a
least-squares fit and gave as accuracy the 95th percentile of the distances from the answer to
the stations (clamped to 10-500 m for WiFi, 10-50 m for Bluetooth). ``1 / signal²`` hardly
separates a network heard at -50 dBm from one at -90 dBm (a factor of 3), and the percentile of
distances measures how spread out the stations are, not how wrong the answer is: with many
networks it is far too large, with two close ones far too small. Here instead:

1. **Expected distance.** Each found station gets an expected distance between the phone and the
   stored centre, from a log-distance path-loss model scaled by the station's own radius (the
   distance at which it has been heard, i.e. how far it carries)::

       d = d_ref × (radius / 100 m) ^ radius_exponent × 10 ^ ((signal_ref - signal) / slope)

   A missing signal counts as the weakest possible one (as in Ichnaea). ``d`` is clamped to
   ``min_range``..``max_range``.
2. **Weighted mean.** Each station is a noisy measurement of the phone's position with variance
   ``v = d² + station_sigma² + ((spread_k × radius)² + sample_sigma²) / samples``: the distance
   to the phone, plus the uncertainty of the stored centre (a floor, the standard error of a
   centre averaged from ``samples`` observations spread over ``radius``, and a term for stations
   known from few observations). The last term follows the measured error of stored centres on
   the tuning worlds of ``bench/worlds.py``, which falls like ``1 / sqrt(samples)`` from about
   80 m for a single fix to about 15 m for 50 or more, whatever the radius: a station heard a few
   times was mostly heard from afar, or from one side, and its radius (the spread of those few
   fixes) says little. A station restarted by the updater after a move (transition ``move``)
   counts only the observations since the restart, so it weighs little until it has been heard
   again. The weights are ``age_weight / v`` (``age_weight = min(sqrt(2 s / age), 1)`` for the
   scan age, as in Ichnaea), so a strong signal from a short-range, well-observed station counts
   most.
3. **Robust least-squares refinement** (three or more stations). A few iteratively re-weighted
   least-squares steps with a Cauchy loss: a station whose distance ``r`` from the current
   estimate is large compared with ``sqrt(v)`` is down-weighted by ``1 / (1 + r² / (c² v))``,
   ``c = 2.5``. So one stale or moved station still inside the cluster limit cannot drag the
   answer; on clean data it changes nothing measurable. (A range-based Gauss-Newton fit on ``d``
   was tried and made answers worse: ranges from signal are only good to a factor of ~1.8.)
   Then **outliers are dropped**: a station farther from that estimate than ``reject_k × sqrt(v)``
   (its own expected distance and uncertainty) disagrees with the other networks of the query
   (an access point that moved and was not noticed yet, stale data) and is left out of a last
   weighted mean, as long as at least two stations remain.
4. **Accuracy** (a radius meant to hold the true place nine times in ten):
   ``accuracy_scale × (1 / sqrt(Σw) + spread / sqrt(n_eff) + radius_term × r_med / sqrt(n_eff)
   + loudest_term × sample_sigma / sqrt(samples of the loudest station))``
   - the model's own standard error, the empirical standard error of the weighted mean (where
   ``spread`` is the weighted RMS distance of the stations from the answer and
   ``n_eff = (Σw)² / Σw²``), the stored positions' own uncertainty, which follows the median
   station radius ``r_med`` (stations built from noisy GPS fixes or from several places have
   wide radii), and the uncertainty of the loudest station's stored centre. The first term
   follows signal strengths and station radii, the second how well the stations actually agree
   (with the plain weights: stations set aside by step 3 still widen the circle). The last one
   widens the circle where the nearest network is known from few observations (typically an
   access point restarted after a move): on the tuning worlds answers whose loudest station has
   fewer than 16 observations were off 21-40 m (median) against 17 m for the others, and their
   circles held the true place only 50-76 % of the time. Clamped to 10-500 m (WiFi), 10-100 m
   (Bluetooth).
5. **Agreement**: the share of the weight that step 3 keeps at the answer. The caller scales the
   cluster's score by it, so stations that cannot all be heard from one place given their signals
   (e.g. two access points that moved away together) make a weak candidate.

The position constants were fitted on the simulated city of ``bench/locate_accuracy.py`` (a
regression of log distance on signal and log radius) and are physically plausible: an effective
path-loss slope of 33 dB per decade for WiFi (35 for Bluetooth) and 14 m at -70 dBm for an
access point heard up to 100 m away; a grid search on the tuning worlds of ``bench/worlds.py``
(path-loss exponents 2-4, GPS noise 4-20 m, ...) found nothing better. ``sample_sigma`` and
``reject_k`` were chosen on those tuning worlds (errors of answers, including places next to
moved access points). The accuracy constants (``spread_k``, ``radius_term``, ``loudest_term``,
``accuracy_scale``) were calibrated on them so that at least 90 % of WiFi and 85 % of Bluetooth
circles hold the true place in each of them, with a margin (worst tuning world 95 %); the
held-out worlds check that this carries over. They only change relative weights and the
accuracy; positions are never extrapolated beyond the stations.

Cells (:func:`estimate_cells`)
------------------------------

Cells of one area are combined by a weighted mean with weights
``age_weight × 10^(signal / 30) / max(radius, 500 m)²`` (small cells and strong signals count
most; a missing signal is the radio's weakest). One cell gives its centre with accuracy
``clamp(radius, 1 km, 50 km)``; several give ``clamp(95th percentile of the distances to the
cells, 1 km, 50 km)`` as in Ichnaea.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, NamedTuple

from netatlas.geo.distance import EARTH_RADIUS

__all__ = [
    "BLUE",
    "CELL_MAX_ACCURACY",
    "CELL_MIN_ACCURACY",
    "WIFI",
    "Estimate",
    "Found",
    "Model",
    "estimate_cells",
    "estimate_macs",
]

_RAD: Final = math.pi / 180.0
_M_PER_DEG: Final = EARTH_RADIUS * _RAD
_sqrt = math.sqrt
_cos = math.cos

CELL_MIN_ACCURACY: Final = 1_000.0
CELL_MAX_ACCURACY: Final = 50_000.0


class Found(NamedTuple):
    """A station found for a query network: its stored row and what the query measured."""

    lat: float
    lon: float
    radius: float  # metres, 0 when unknown
    samples: int  # observations behind the stored position (at least 1)
    score: float
    signal: int | None  # dBm as heard by the query
    age: int | None  # ms, as sent by the query


class Model(NamedTuple):
    """Radio model and limits of one kind of network (see the module docstring)."""

    d_ref: float  # metres at signal_ref for a station of radius 100 m
    signal_ref: float  # dBm
    slope: float  # dB per decade of distance
    radius_exponent: float
    weakest: int  # dBm assumed when the query gives no signal
    min_range: float
    max_range: float
    station_sigma: float  # metres
    min_accuracy: float
    max_accuracy: float
    cluster_distance: float  # complete-linkage limit, metres
    top: int  # stations used per cluster, best scores first
    spread_k: float = 0.0  # station uncertainty: (spread_k × radius)² / samples
    accuracy_scale: float = 1.0
    radius_term: float = 0.0  # accuracy: + radius_term × median station radius / sqrt(n_eff)
    robust_c: float = 2.5
    robust_steps: int = 3
    sample_sigma: float = 0.0  # station uncertainty: + sample_sigma² / samples
    loudest_term: float = 0.0  # accuracy: + loudest_term × sample_sigma / sqrt(loudest samples)
    reject_k: float = 0.0  # drop stations farther than reject_k × sqrt(v) from the estimate


WIFI: Final = Model(
    d_ref=14.0,
    signal_ref=-70.0,
    slope=33.0,
    radius_exponent=0.55,
    weakest=-100,
    min_range=1.0,
    max_range=300.0,
    station_sigma=6.0,
    min_accuracy=10.0,
    max_accuracy=500.0,
    cluster_distance=500.0,
    top=20,
    spread_k=1.0,
    accuracy_scale=0.8,
    radius_term=0.15,
    sample_sigma=120.0,
    loudest_term=0.4,
    reject_k=3.0,
)
BLUE: Final = Model(
    d_ref=11.0,
    signal_ref=-80.0,
    slope=35.0,
    radius_exponent=0.0,
    weakest=-127,
    min_range=1.0,
    max_range=100.0,
    station_sigma=5.0,
    min_accuracy=10.0,
    max_accuracy=100.0,
    cluster_distance=100.0,
    top=10,
    spread_k=1.0,
    accuracy_scale=0.8,
    radius_term=0.5,
    sample_sigma=40.0,
    loudest_term=0.5,
)


def _age_weight(age: int | None) -> float:
    if age is None:
        return 1.0
    age = abs(age)
    return 1.0 if age <= 2000 else _sqrt(2000.0 / age)


class Estimate(NamedTuple):
    lat: float
    lon: float
    accuracy: float  # metres
    agreement: float  # 0..1: the share of the weight consistent with one phone position


def estimate_macs(found: Sequence[Found], model: Model) -> Estimate:
    """Where the phone is, from the stations of one cluster (at least one)."""
    lat0 = found[0].lat
    lon0 = found[0].lon
    kx = _M_PER_DEG * _cos(lat0 * _RAD)
    ky = _M_PER_DEG
    xs: list[float] = []
    ys: list[float] = []
    vs: list[float] = []
    ws: list[float] = []
    d_ref, s_ref, slope, r_exp = model.d_ref, model.signal_ref, model.slope, model.radius_exponent
    lo, hi, weakest = model.min_range, model.max_range, model.weakest
    s0sq = model.station_sigma * model.station_sigma
    spread_k = model.spread_k
    sample_sq = model.sample_sigma * model.sample_sigma
    loudest_signal = -1_000
    loudest_samples = 1
    for f in found:
        xs.append((f.lon - lon0) * kx)
        ys.append((f.lat - lat0) * ky)
        signal = weakest if f.signal is None else f.signal
        if signal > loudest_signal:
            loudest_signal = signal
            loudest_samples = f.samples if f.samples > 1 else 1
        d = d_ref * 10.0 ** ((s_ref - signal) / slope)
        if r_exp:
            d *= (max(f.radius, 10.0) / 100.0) ** r_exp
        d = lo if d < lo else (hi if d > hi else d)
        v = d * d + s0sq
        if spread_k or sample_sq:
            v += ((spread_k * f.radius) ** 2 + sample_sq) / (f.samples if f.samples > 1 else 1)
        vs.append(v)
        ws.append(_age_weight(f.age) / v)
    n = len(xs)
    total = sum(ws)
    x = sum(ws[i] * xs[i] for i in range(n)) / total
    y = sum(ws[i] * ys[i] for i in range(n)) / total
    c2 = model.robust_c * model.robust_c
    if n >= 3:
        for _ in range(model.robust_steps):
            robust = [
                ws[i] / (1.0 + ((xs[i] - x) ** 2 + (ys[i] - y) ** 2) / (c2 * vs[i]))
                for i in range(n)
            ]
            rt = sum(robust)
            x = sum(robust[i] * xs[i] for i in range(n)) / rt
            y = sum(robust[i] * ys[i] for i in range(n)) / rt
        if model.reject_k:
            x, y = _without_outliers(xs, ys, vs, ws, x, y, model)
    # The spread uses the plain weights: stations that disagree make the answer less certain
    # even when the robust fit has set them aside.
    spread_sq = sum(ws[i] * ((xs[i] - x) ** 2 + (ys[i] - y) ** 2) for i in range(n)) / total
    n_eff = total * total / sum(w * w for w in ws)
    uncertainty = 1.0 / _sqrt(total) + _sqrt(spread_sq / n_eff)
    if model.radius_term:
        radii = sorted([f.radius for f in found])
        uncertainty += model.radius_term * radii[n // 2] / _sqrt(n_eff)
    if model.loudest_term:
        uncertainty += model.loudest_term * model.sample_sigma / _sqrt(loudest_samples)
    accuracy = model.accuracy_scale * uncertainty
    if accuracy < model.min_accuracy:
        accuracy = model.min_accuracy
    elif accuracy > model.max_accuracy:
        accuracy = model.max_accuracy
    kept = sum(
        ws[i] / (1.0 + ((xs[i] - x) ** 2 + (ys[i] - y) ** 2) / (c2 * vs[i])) for i in range(n)
    )
    return Estimate(lat0 + y / ky, lon0 + x / kx, accuracy, kept / total)


def _without_outliers(
    xs: list[float],
    ys: list[float],
    vs: list[float],
    ws: list[float],
    x: float,
    y: float,
    model: Model,
) -> tuple[float, float]:
    """The robust mean again without the stations farther than ``reject_k × sqrt(v)``."""
    k2 = model.reject_k * model.reject_k
    n = len(xs)
    far = [i for i in range(n) if (xs[i] - x) ** 2 + (ys[i] - y) ** 2 > k2 * vs[i]]
    if not far or n - len(far) < 2:
        return x, y  # the usual case: every station agrees
    c2 = model.robust_c * model.robust_c
    weights = [
        ws[i] / (1.0 + ((xs[i] - x) ** 2 + (ys[i] - y) ** 2) / (c2 * vs[i])) for i in range(n)
    ]
    for i in far:
        weights[i] = 0.0
    total = sum(weights)
    return (
        sum(w * xi for w, xi in zip(weights, xs, strict=True)) / total,
        sum(w * yi for w, yi in zip(weights, ys, strict=True)) / total,
    )


def estimate_cells(found: Sequence[Found], weakest: int) -> tuple[float, float, float]:
    """(lat, lon, accuracy) from the cells of one area (at least one)."""
    if len(found) == 1:
        f = found[0]
        accuracy = min(max(f.radius, CELL_MIN_ACCURACY), CELL_MAX_ACCURACY)
        return f.lat, f.lon, accuracy
    ws = []
    for f in found:
        signal = weakest if f.signal is None else f.signal
        radius = f.radius if f.radius > 500.0 else 500.0
        ws.append(_age_weight(f.age) * 10.0 ** (signal / 30.0) / (radius * radius))
    total = sum(ws)
    lat = sum(w * f.lat for w, f in zip(ws, found, strict=True)) / total
    lon = sum(w * f.lon for w, f in zip(ws, found, strict=True)) / total
    kx = _M_PER_DEG * _cos(lat * _RAD)
    dists = sorted(
        _sqrt(((f.lon - lon) * kx) ** 2 + ((f.lat - lat) * _M_PER_DEG) ** 2) for f in found
    )
    p95 = dists[max(math.ceil(0.95 * len(dists)) - 1, 0)]
    accuracy = min(max(p95, CELL_MIN_ACCURACY), CELL_MAX_ACCURACY)
    return lat, lon, accuracy
