"""Choosing the answer among candidates from all sources."""

from __future__ import annotations

from netatlas.location.locate import (
    HIGH,
    LOW,
    MEDIUM,
    NONE,
    RegionResult,
    RegionResultList,
    Result,
    ResultList,
    accuracy_class,
)

LONDON = (51.5142, -0.0931)


def geoip(lat: float = LONDON[0], lon: float = LONDON[1]) -> Result:
    return Result(lat, lon, 25_000.0, 0.8, "ipf", "geoip", "GB")


def test_accuracy_classes() -> None:
    assert [accuracy_class(a) for a in (10, 500, 501, 50_000, 60_000, 1e9)] == [
        HIGH,
        HIGH,
        MEDIUM,
        MEDIUM,
        LOW,
        NONE,
    ]


def test_empty() -> None:
    results = ResultList()
    assert results.best() is None
    assert not results.satisfied(HIGH)
    assert not results


def test_weak_far_wifi_loses_to_geoip() -> None:
    wifi = Result(48.85, 2.35, 20.0, 0.15)  # Paris
    results = ResultList([wifi, geoip()])
    assert results.best() == geoip()


def test_overlapping_precise_wifi_wins() -> None:
    wifi = Result(51.52, -0.09, 20.0, 0.15)
    results = ResultList([geoip(), wifi])
    assert results.best() == wifi
    assert not results.satisfied(HIGH)  # 0.95 < 1.0


def test_strong_far_wifi_beats_geoip() -> None:
    wifi = Result(48.85, 2.35, 20.0, 2.0)
    assert ResultList([geoip(), wifi]).best() == wifi


def test_group_ties_prefer_the_more_accurate_answer() -> None:
    a = Result(51.5, -0.1, 30.0, 0.5)
    b = Result(51.5001, -0.1, 10.0, 0.5)
    assert ResultList([a, b]).best() == b


def test_fallback_results_and_satisfied() -> None:
    fallback = Result(51.51, -0.09, 100.0, 10.0, None, "fallback")
    results = ResultList([geoip()])
    assert not results.satisfied(HIGH)
    results.add(fallback)
    assert results.best() == fallback
    assert results.satisfied(HIGH)
    lacf = Result(51.51, -0.09, 60_000.0, 5.0, "lacf", "fallback")
    assert ResultList([lacf]).satisfied(LOW)
    assert not ResultList([lacf]).satisfied(MEDIUM)


def test_cell_and_wifi_agree() -> None:
    cell = Result(51.5, -0.1, 1000.0, 0.5)
    wifi = Result(51.503, -0.1, 15.0, 0.6)
    results = ResultList([cell, wifi])
    assert results.best() == wifi
    assert results.satisfied(HIGH)


def test_region_list() -> None:
    results = RegionResultList(
        [
            RegionResult("GB", 500_000.0, 0.8, "ipf", "geoip"),
            RegionResult("DE", 400_000.0, 0.5),
            RegionResult("DE", 400_000.0, 0.5),
        ]
    )
    best = results.best()
    assert best is not None
    assert (best.region, best.score, best.source) == ("DE", 1.0, "internal")
    assert results.scores() == {"GB": 0.8, "DE": 1.0}
    assert RegionResultList().best() is None


def test_region_prefers_internal_member_and_larger_radius_on_ties() -> None:
    results = RegionResultList(
        [RegionResult("GB", 500_000.0, 0.8, "ipf", "geoip"), RegionResult("GB", 0.0, 0.1)]
    )
    best = results.best()
    assert best is not None
    assert (best.source, best.fallback, best.score) == ("internal", None, 0.9)
    tie = RegionResultList([RegionResult("LU", 50_000.0, 1.0), RegionResult("FR", 900_000.0, 1.0)])
    best = tie.best()
    assert best is not None and best.region == "FR"
