"""Position and accuracy of one cluster."""

from __future__ import annotations

import pytest

from netatlas.location.locate.cluster import distance
from netatlas.location.locate.estimate import BLUE, WIFI, Found, estimate_cells, estimate_macs

M = 1 / 111_195  # degrees of latitude per metre


def ap(north: float, signal: int | None = -70, radius: float = 80, samples: int = 20) -> Found:
    return Found(51.5 + north * M, -0.1, radius, samples, 1.0, signal, None)


def test_symmetric_stations_give_their_centre() -> None:
    fit = estimate_macs([ap(-20), ap(20)], WIFI)
    assert fit.lat == pytest.approx(51.5, abs=1e-9)
    assert fit.lon == pytest.approx(-0.1)
    assert WIFI.min_accuracy <= fit.accuracy <= WIFI.max_accuracy
    assert 0.5 < fit.agreement <= 1.0


def test_stronger_signal_pulls() -> None:
    fit = estimate_macs([ap(0, -50, samples=500), ap(40, -85, samples=500)], WIFI)
    north = distance(51.5, -0.1, fit.lat, -0.1)
    assert 0 < north < 8


def test_missing_signal_counts_as_weakest() -> None:
    fit = estimate_macs([ap(0, -70), ap(40, None)], WIFI)
    assert distance(51.5, -0.1, fit.lat, -0.1) < 10


def test_accuracy_grows_with_disagreement_and_is_clamped() -> None:
    tight = estimate_macs([ap(0), ap(5), ap(10)], WIFI)
    loose = estimate_macs([ap(0, -88), ap(200, -88), ap(400, -88)], WIFI)
    assert tight.accuracy < loose.accuracy
    well_known = [ap(0, -40, radius=5, samples=5000), ap(1, -40, radius=5, samples=5000)]
    assert estimate_macs(well_known, WIFI).accuracy == 10.0
    # Wide station radii (noisy or scattered observations) widen the circle.
    assert estimate_macs([ap(0, -40, radius=80), ap(1, -40, radius=80)], WIFI).accuracy > 15.0
    # Two weak beacons 90 m apart: a wide circle (Ichnaea's 50 m cap was too tight for it).
    assert 50.0 < estimate_macs([ap(0, -95), ap(90, -95)], BLUE).accuracy < 100.0
    assert estimate_macs([ap(0, -95), ap(300, -95)], BLUE).accuracy == BLUE.max_accuracy == 100.0


def test_one_stale_station_is_set_aside() -> None:
    near = [ap(i, -65) for i in range(0, 25, 5)]
    fit = estimate_macs([*near, ap(400, -65)], WIFI)
    assert distance(51.5 + 10 * M, -0.1, fit.lat, fit.lon) < 25  # plain mean: 77 m away
    assert fit.agreement < 0.95


def test_stations_that_cannot_be_heard_together_agree_little() -> None:
    fit = estimate_macs([ap(0, -88, radius=60), ap(450, -90, radius=60)], WIFI)
    assert fit.agreement < 0.5
    close = estimate_macs([ap(0, -88, radius=60), ap(40, -90, radius=60)], WIFI)
    assert close.agreement > 0.9


def test_old_scans_count_less() -> None:
    fresh = Found(51.5, -0.1, 80, 20, 1.0, -70, 0)
    old = Found(51.5 + 40 * M, -0.1, 80, 20, 1.0, -70, 60_000)
    fit = estimate_macs([fresh, old], WIFI)
    assert distance(51.5, -0.1, fit.lat, fit.lon) < 10


def test_cells() -> None:
    one = Found(51.5, -0.1, 400, 10, 1.0, -90, None)
    assert estimate_cells([one], -140) == (51.5, -0.1, 1000.0)
    big = one._replace(radius=80_000)
    assert estimate_cells([big], -140)[2] == 50_000.0
    far = Found(51.6, -0.1, 400, 10, 1.0, -120, None)
    lat, lon, accuracy = estimate_cells([one, far], -140)
    assert 51.5 < lat < 51.55
    assert accuracy == pytest.approx(distance(lat, lon, 51.6, -0.1), rel=1e-3)


def test_stations_known_from_few_observations_weigh_less() -> None:
    # Same signal and radius; the one heard twice has a poorly known centre.
    fit = estimate_macs([ap(0, -60, samples=2), ap(40, -60, samples=200)], WIFI)
    assert distance(51.5 + 40 * M, -0.1, fit.lat, fit.lon) < 10
    same = estimate_macs([ap(0, -60, samples=200), ap(40, -60, samples=200)], WIFI)
    assert distance(51.5 + 20 * M, -0.1, same.lat, same.lon) < 1


def test_circle_widens_when_the_loudest_station_is_known_from_few_observations() -> None:
    others = [ap(30, -75, samples=200), ap(-30, -75, samples=200)]
    well = estimate_macs([ap(0, -45, samples=200), *others], WIFI)
    restarted = estimate_macs([ap(0, -45, samples=3), *others], WIFI)
    assert restarted.accuracy > well.accuracy + 15
    blue_well = estimate_macs([ap(0, -60, samples=200), ap(10, -75, samples=200)], BLUE)
    blue_few = estimate_macs([ap(0, -60, samples=2), ap(10, -75, samples=200)], BLUE)
    assert blue_few.accuracy > blue_well.accuracy + 5


def test_station_far_from_agreeing_others_is_dropped() -> None:
    agreeing = [ap(n, -70, samples=100) for n in (0, 10, 20, 30)]
    # A strongly heard station 500 m away (moved, not noticed yet) still inside the query.
    outlier = ap(500, -50, samples=100)
    fit = estimate_macs([*agreeing, outlier], WIFI)
    alone = estimate_macs(agreeing, WIFI)
    assert distance(alone.lat, alone.lon, fit.lat, fit.lon) < 0.5
    # Without the rule, the robust weights alone leave it a pull of several metres.
    soft = estimate_macs([*agreeing, outlier], WIFI._replace(reject_k=0.0))
    assert distance(alone.lat, alone.lon, soft.lat, soft.lon) > 1
    # Two stations are never reduced to one: no rejection without a majority to agree with.
    pair = estimate_macs([ap(0, -70, samples=100), ap(300, -70, samples=100)], WIFI)
    assert 100 < distance(51.5, -0.1, pair.lat, pair.lon) < 200
