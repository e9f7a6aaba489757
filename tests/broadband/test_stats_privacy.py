"""The statistics API must not reveal one person's test (both backends).

The differencing attacks of the issue, through the public HTTP API: two queries whose sets of
tests differ by at most one test T — two ISP filters (``f.isp=A,B`` minus ``f.isp=A``), two
time windows, two area sets — asked for trials in which T exists or not, and has one of two
very different speeds. Before the statistics were noised, the difference of the answers gave
T's existence (exactly one more test) and its speed (its histogram bucket, the median's shift,
``download_max``) every time. Now the best single-threshold guess on the counts is right
about as often as differential privacy with ε = 1 allows (at most e / (1 + e) ≈ 73 %), and
the histogram and the median guess T's speed little better than a coin.

Also: the mechanisms themselves (noise distribution, thresholds, determinism), and that the
medians of well-populated cells stay within a few percent of the truth.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from netatlas.broadband.aggregate import privacy
from netatlas.broadband.aggregate.update import update_statistics
from netatlas.settings import Settings
from tests.broadband.test_aggregate import HOME, T0, load, row
from tests.broadband.test_stats_views import api_client

TRIALS = 80
AGGS = {"aggregation": [{"name": "tiles", "area": "quadkey:16", "time": "month", "isp": True}]}
SLOW, FAST = 2.0, 900.0  # M-Lab histogram buckets 1 and 6


def _key(lat: float, lon: float) -> str:
    from netatlas.broadband.areas import QuadkeyLayer

    layer = QuadkeyLayer(16)
    (key,) = layer.keys(layer.assign(np.array([lat]), np.array([lon])))
    return key


HOME_KEY = _key(*HOME)


def _months(k: int) -> str:
    """The k-th month after March 2024, as YYYY-MM."""
    year, month = divmod(2 + 1 + k, 12)
    return f"{2024 + year}-{month + 1:02d}"


def _month_start(k: int) -> Any:
    year, month = divmod(2 + 1 + k, 12)
    return T0.replace(year=2024 + year, month=month + 1)


def _tile(k: int) -> tuple[float, float]:
    """A quadkey-16 tile of its own for trial k (0.01° apart)."""
    return (HOME[0] + 0.01 * (k // 10 + 1), HOME[1] + 0.01 * (k % 10 + 1))


@pytest.fixture(scope="module")
def trials() -> list[tuple[bool, float]]:
    """Per trial: does T exist, and its speed (when it does)."""
    rng = np.random.default_rng(2024)
    present = rng.random(TRIALS) < 0.5
    return [(bool(p), FAST if k % 2 else SLOW) for k, p in enumerate(present.tolist())]


@pytest.fixture
def site(settings: Settings, tmp_path: Path, trials: list[tuple[bool, float]]) -> Any:
    app, path = api_client(settings, tmp_path, AGGS)
    rng = np.random.default_rng(7)
    rows = [
        row(f"base{i}", float(v), ip=f"192.0.2.{i % 30}", isp="Anchor", asn=64400)
        for i, v in enumerate(rng.lognormal(3.5, 0.8, 60))
    ]
    for k, (present, speed) in enumerate(trials):
        if not present:
            continue
        ip = f"198.51.100.{k}"
        rows.append(row(f"isp{k}", speed, isp=f"Probe {k}", asn=64401 + k, ip=ip))
        rows.append(row(f"area{k}", speed, where=_tile(k), isp="Anchor", asn=64400, ip=ip))
        when = _month_start(k) + timedelta(days=3)
        rows.append(row(f"time{k}", speed, when=when, isp="Anchor", asn=64400, ip=ip))
    engine = app.state.services.engine
    load(engine, rows)
    update_statistics(engine, path)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client
    engine.dispose()


STATS = "stats=tests,download_count,download_median,download_histogram,download_p5,download_p95"


def _answer(client: TestClient, query: str) -> dict[str, Any]:
    """The answer's row of the base cell (its 60 tests make both answers publishable)."""
    r = client.get(f"/api/v1/broadband/stats/tiles?format=json&{STATS}&{query}")
    assert r.status_code == 200, r.text
    rows = [x for x in r.json()["rows"] if x.get("area", HOME_KEY) == HOME_KEY]
    assert len(rows) == 1, (query, rows)
    (only,) = rows
    assert only["download_p5"] is None and only["download_p95"] is None  # fewer than 300
    return dict(only)


def _pair(client: TestClient, variant: str, k: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers with and without trial k's element."""
    march = "f.time=2024-03,2024-03"
    if variant == "isp":
        return (
            _answer(client, f"b.area=key&{march}&f.isp=Anchor,Probe {k}"),
            _answer(client, f"b.area=key&{march}&f.isp=Anchor"),
        )
    if variant == "area":
        return (
            _answer(client, f"b.time=key&{march}&f.area={HOME_KEY},{_key(*_tile(k))}"),
            _answer(client, f"b.time=key&{march}&f.area={HOME_KEY}"),
        )
    before = _months(k - 1) if k else "2024-03"
    home = "f.isp=Anchor&b.area=all"
    return (
        _answer(client, f"{home}&f.time=2024-03,{_months(k)}"),
        _answer(client, f"{home}&f.time=2024-03,{before}"),
    )


def _best_threshold_accuracy(scores: list[float], truth: list[bool]) -> float:
    """How often the best rule "T exists when the score is at least t" is right, t chosen
    with hindsight (the strongest such attacker)."""
    best = 0.0
    for t in [*sorted(set(scores)), math.inf]:
        right = sum((s >= t) == y for s, y in zip(scores, truth, strict=True))
        best = max(best, right / len(scores))
    return best


@pytest.mark.parametrize("variant", ["isp", "area", "time"])
def test_differencing_reveals_neither_existence_nor_speed(
    site: Any, trials: list[tuple[bool, float]], variant: str
) -> None:
    counts, truth = [], []
    by_histogram, by_median = [], []
    for k, (present, speed) in enumerate(trials):
        with_k, without_k = _pair(site, variant, k)
        counts.append(float(with_k["tests"] - without_k["tests"]))
        truth.append(present)
        if present:  # guess T's speed from the difference of the answers
            dh = np.subtract(with_k["download_histogram"], without_k["download_histogram"])
            fast = dh[6] > dh[1] if dh[6] != dh[1] else k % 3 == 0
            by_histogram.append(fast == (speed == FAST))
            dm = with_k["download_median"] - without_k["download_median"]
            by_median.append((dm > 0 if dm else k % 3 == 0) == (speed == FAST))
    assert 25 <= sum(truth) <= TRIALS - 25
    existence = _best_threshold_accuracy(counts, truth)
    assert existence <= 0.8, existence  # ε = 1 on counts: at most ≈ 0.73 on average
    assert np.mean(by_histogram) <= 0.8, np.mean(by_histogram)
    assert np.mean(by_median) <= 0.8, np.mean(by_median)


def test_answers_are_keyed_by_the_site_secret(settings: Settings, tmp_path: Path) -> None:
    """Two servers with the same secret give the same figures (several processes cannot be
    averaged); another secret gives other noise (the code being public does not help)."""
    from dataclasses import replace

    from netatlas.app import create_app

    app, path = api_client(settings, tmp_path, AGGS)
    engine = app.state.services.engine
    rng = np.random.default_rng(1)
    load(engine, [row(f"s{i}", float(v), ip=f"192.0.2.{i % 40}")
                  for i, v in enumerate(rng.lognormal(3, 1, 200))])  # fmt: skip
    update_statistics(engine, path)
    query = "/api/v1/broadband/stats/tiles?format=json&b.time=all&stats=tests,download_histogram"
    answers = []
    for secret in ("statistics test secret", "statistics test secret", "another statistics secret"):
        other = create_app(replace(app.state.services.settings, secret_key=secret), run_jobs=False)
        with TestClient(other, base_url="http://127.0.0.1") as client:
            answers.append(client.get(query).json()["rows"])
        other.state.services.engine.dispose()
    engine.dispose()
    assert answers[0] == answers[1]
    assert answers[0] != answers[2]
    for rows in answers:
        (only,) = rows
        assert abs(only["tests"] - 200) <= 10


WELL = [(3.0, 0.8), (4.5, 0.6), (2.0, 1.0), (5.5, 0.4)]  # lognormal (mu, sigma) per tile


@pytest.fixture
def populated(settings: Settings, tmp_path: Path) -> Any:
    app, path = api_client(settings, tmp_path, AGGS)
    rng = np.random.default_rng(11)
    rows, truth = [], {}
    for k, (mu, sigma) in enumerate(WELL):
        down = rng.lognormal(mu, sigma, 2000)
        up = rng.lognormal(mu - 1, sigma, 1000)
        rtt = rng.lognormal(3, 0.5, 2000)
        where = _tile(50 + k)
        for i in range(2000):
            ip = f"10.{k}.{i % 200}.1"
            rows.append(row(f"d{k}-{i}", float(down[i]), where=where, ip=ip, rtt=float(rtt[i])))
        rows += [
            row(f"u{k}-{i}", float(up[i]), direction="upload", where=where, ip=f"10.{k}.0.1")
            for i in range(1000)
        ]
        truth[k] = (down, up, rtt)
    engine = app.state.services.engine
    load(engine, rows)
    update_statistics(engine, path)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, truth
    engine.dispose()


def test_well_populated_cells_stay_accurate(populated: Any) -> None:
    """Cells of 2,000 download and 1,000 upload tests: medians within 3 % of the exact ones,
    p10 and p90 within 10 %, counts within 1 %, the good-enough shares within 3 points."""
    client, truth = populated
    stats = ("tests,download_count,upload_count,download_median,upload_median,download_p10,"
             "download_p90,min_rtt_median,good_streaming_4k,good_gaming")  # fmt: skip
    # good_streaming_4k: the name before the use cases followed IQB, answered as
    # good_video_streaming (25 Mbit/s down, 10 up, 100 ms).
    body = client.get(f"/api/v1/broadband/stats/tiles?format=json&stats={stats}").json()
    by_area = {r["area"]: r for r in body["rows"]}
    for k in range(len(WELL)):
        down, up, rtt = truth[k]
        r = by_area[_key(*_tile(50 + k))]
        assert r["download_count"] == pytest.approx(2000, rel=0.01)
        assert r["upload_count"] == pytest.approx(1000, rel=0.01)
        assert r["download_median"] == pytest.approx(np.median(down), rel=0.03)
        assert r["upload_median"] == pytest.approx(np.median(up), rel=0.03)
        assert r["min_rtt_median"] == pytest.approx(np.median(rtt), rel=0.03)
        assert r["download_p10"] == pytest.approx(np.quantile(down, 0.1), rel=0.1)
        assert r["download_p90"] == pytest.approx(np.quantile(down, 0.9), rel=0.1)
        streaming = min((down >= 25).mean(), (up >= 10).mean(), (rtt <= 100).mean())
        assert r["good_video_streaming"] == pytest.approx(streaming, abs=0.03)
        gaming = min((down >= 25).mean(), (up >= 25).mean(), (rtt <= 10).mean())
        assert r["good_gaming"] == pytest.approx(gaming, abs=0.03)


def test_the_privacy_page_states_the_guarantee(client: Any) -> None:
    text = client.get("/privacy").text
    assert 'id="statistics"' in text
    assert f"ε = {privacy.EPSILON:g}" in text and "δ = 2 × 10<sup>-5</sup>" in text
    assert privacy.DELTA == 1e-5
    assert f"at least {privacy.publish_threshold(1, 5)} tests" in text
    assert "The location service" in text  # the other sections stay


# ---- the mechanisms ----------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_discrete_laplace_has_the_stated_distribution(scale: float) -> None:
    words = np.random.default_rng(3).integers(0, 2**32, 400_000, dtype=np.uint64)
    noise = privacy.discrete_laplace(words.astype(np.uint32), np.full(words.size, scale))
    p = math.exp(-1 / scale)
    for k in range(-4, 5):
        expected = (1 - p) / (1 + p) * p ** abs(k)
        assert (noise == k).mean() == pytest.approx(expected, abs=4e-3), k
    # Neighbouring values' probabilities differ by e^(1/scale) at most: ε = 1 / scale.
    assert abs(noise.mean()) < 0.02


def test_element_noise_is_fixed_per_element_and_content() -> None:
    secret = b"k" * 32
    ids = [b"tiles\x1farea:quadkey:16=x", b"tiles\x1farea:quadkey:16=y"]
    full = privacy.element_noise(secret, ids, [0, 7], privacy.WIDTH)
    assert np.array_equal(full, privacy.element_noise(secret, ids, [0, 7], privacy.WIDTH))
    # Counts alone are the leading values of the full release.
    assert np.array_equal(privacy.element_noise(secret, ids, [0, 7], 2), full[:, :2])
    # New content redraws the content term; another secret, everything.
    assert not np.array_equal(privacy.element_noise(secret, ids, [1, 7], privacy.WIDTH), full)
    other = privacy.element_noise(b"j" * 32, ids, [0, 7], privacy.WIDTH)
    assert not np.array_equal(other, full)


@pytest.mark.parametrize("elements", [1, 2, 5, 40])
def test_publish_threshold_bounds_the_chance_of_listing_one_test(elements: int) -> None:
    t = privacy.publish_threshold(elements)
    terms = privacy.TERMS * elements
    assert privacy.tail_probability(privacy.COUNT_SCALE, terms, t - 1) <= privacy.DELTA
    assert privacy.tail_probability(privacy.COUNT_SCALE, terms, t - 2) > privacy.DELTA
    assert privacy.publish_threshold(elements, 500) == 500
    assert privacy.publish_threshold(elements + 1) >= t
    assert privacy.EPSILON == 5.0 and privacy.DELTA <= 1e-5
