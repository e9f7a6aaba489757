"""Station and area scores, and the blocked rule."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest

from netatlas.location.locate.score import area_score, day_of, is_blocked, station_score

TODAY = date(2025, 6, 15).toordinal()


def test_day_of_accepts_sqlite_text_and_objects() -> None:
    assert day_of("2025-06-15") == TODAY
    assert day_of("2025-06-15 23:59:59.999999") == TODAY
    assert day_of(datetime(2025, 6, 15, 1, 2)) == TODAY
    assert day_of(date(2025, 6, 15)) == TODAY
    assert day_of(None) is None


def score(
    *,
    created: int = TODAY,
    modified: int = TODAY,
    last_seen: int | None = TODAY,
    block_last: int | None = None,
    samples: int | None = 1,
    radius: float | None = 5,
) -> float:
    return station_score(TODAY, created, modified, last_seen, block_last, samples, radius)


def test_fresh_single_sample_station() -> None:
    assert score() == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("samples", "radius", "weight"),
    [
        (2, 5, 1.0),
        (10, 5, math.log2(10)),
        (1024, 5, 10.0),
        (10**6, 5, 10.0),
        (10, 0, 0.5),  # the same observation again and again
        (10, None, 0.5),
        (None, 5, 0.5),
    ],
)
def test_samples_weight(samples: int | None, radius: float | None, weight: float) -> None:
    assert score(samples=samples, radius=radius) == pytest.approx(0.1 * weight)


@pytest.mark.parametrize(
    ("days", "weight"), [(0, 0.1), (1, 0.1), (2, 0.2), (5, 0.5), (10, 1.0), (400, 1.0)]
)
def test_collection_weight(days: int, weight: float) -> None:
    assert score(created=TODAY - days) == pytest.approx(0.5 * weight)


def test_collection_counts_from_the_last_block_and_to_last_seen() -> None:
    assert score(created=TODAY - 100, block_last=TODAY - 5) == pytest.approx(0.5 * 0.5)
    assert score(created=TODAY - 20, modified=TODAY - 20, last_seen=TODAY - 10) == pytest.approx(
        0.5
    )


@pytest.mark.parametrize(("days", "months"), [(0, 0), (29, 0), (30, 1), (365, 12), (730, 24)])
def test_age_weight(days: int, months: int) -> None:
    value = score(created=TODAY - days - 10, modified=TODAY - days, last_seen=TODAY - days)
    assert value == pytest.approx(0.5 / math.sqrt(months + 1))


def test_area_score() -> None:
    fresh = area_score(TODAY, TODAY, TODAY, TODAY, 1, 1000)
    assert fresh == pytest.approx(0.1)
    assert area_score(TODAY, TODAY - 30, TODAY, TODAY, 4, 1000) == pytest.approx(2.0)
    assert area_score(TODAY, TODAY - 30, TODAY, TODAY, 400, 1000) == pytest.approx(10.0)
    assert area_score(TODAY, TODAY - 30, TODAY, TODAY, 4, 0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("created", "block_last", "block_count", "blocked"),
    [
        (TODAY - 400, None, None, False),
        (TODAY - 400, TODAY, 1, True),  # temporary: blocked today
        (TODAY - 400, TODAY - 1, 1, True),
        (TODAY - 400, TODAY - 2, 1, False),
        (TODAY, TODAY - 3, 1, True),  # new_block: count 1 >= round(0 / 30)
        (TODAY - 44, TODAY - 44, 1, True),  # round(44 / 30) = 1
        (TODAY - 46, TODAY - 46, 1, False),  # round(46 / 30) = 2
        (TODAY - 365, TODAY - 10, 12, True),  # moves monthly: a mobile hotspot
        (TODAY - 730, TODAY - 10, 1, False),
    ],
)
def test_blocked(
    created: int, block_last: int | None, block_count: int | None, blocked: bool
) -> None:
    assert is_blocked(TODAY, created, block_last, block_count) is blocked
