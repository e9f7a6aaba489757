"""Trust in a station row, and whether a row may be used at all (reference/ichnaea.md 3.5, 4.3).

A station's *score* says how much its stored position is to be believed: recently confirmed,
collected over many days and from many samples is better. It is the product of three weights:

* age: ``1 / sqrt(months + 1)`` with ``months = days since modified // 30`` (1.0 this month,
  about 0.28 after a year);
* collection: ``min(max(days from created to last seen, 1) / 10, 1)``, where *created* is the
  later of ``created`` and ``block_last`` (time at the current position) and *last seen* the later
  of ``modified`` and ``last_seen`` (0.1 for a single day, 1.0 from ten days on);
* samples: ``clamp(log2(samples), 0.5, 10)`` for stations, ``min(sqrt(num_cells), 10)`` for cell
  areas; a row whose radius is 0 or unknown counts as a single sample (the same observation
  repeated tells nothing new).

So a fresh single-sample station scores 0.05. Dates come back from SQLite as ISO text and from
PostgreSQL as ``date``/``datetime`` objects; both are accepted. Times are compared by calendar day.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Final

__all__ = [
    "BLOCK_MONTH_DAYS",
    "TEMPORARY_BLOCK_DAYS",
    "area_score",
    "day_of",
    "is_blocked",
    "station_score",
]

TEMPORARY_BLOCK_DAYS: Final = 2  # a station blocked in the last 2 days is not used
BLOCK_MONTH_DAYS: Final = 30  # more than one block per 30 days of known life: a moving station

_log2 = math.log2
_sqrt = math.sqrt
_days: dict[str, int] = {}  # SQLite date text -> day number; few distinct days are ever stored


def day_of(value: date | datetime | str | None) -> int | None:
    """The proleptic Gregorian day number (``date.toordinal()``) of a stored date or time."""
    if value is None:
        return None
    if isinstance(value, str):
        # SQLite: "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS[.ffffff]"; only the day matters here.
        day = value[:10]
        number = _days.get(day)
        if number is None:
            if len(_days) > 100_000:
                _days.clear()
            number = _days[day] = date(int(day[0:4]), int(day[5:7]), int(day[8:10])).toordinal()
        return number
    if isinstance(value, datetime):
        return value.date().toordinal()
    return value.toordinal()


def is_blocked(
    today: int, created: int | None, block_last: int | None, block_count: int | None
) -> bool:
    """Is a station blocked on day ``today`` (day numbers, see :func:`day_of`)?

    Temporarily: blocked within the last :data:`TEMPORARY_BLOCK_DAYS` days. Long-term: blocked at
    least ``round(days since created / 30)`` times (Python rounding, as Ichnaea), i.e. more than
    once per month of known life, which marks bus/train WiFi and phone hotspots.
    """
    if block_last is not None and today - block_last < TEMPORARY_BLOCK_DAYS:
        return True
    if block_count and created is not None:
        return block_count >= round((today - created) / BLOCK_MONTH_DAYS)
    return False


def _age_collection(
    today: int, created: int | None, modified: int | None, last_seen: int | None
) -> float:
    modified_day = today if modified is None else modified
    months = max(today - modified_day, 0) // 30
    age_weight = 1.0 / _sqrt(months + 1) if months else 1.0
    seen = modified_day if last_seen is None or last_seen < modified_day else last_seen
    first = seen if created is None else created
    collected = seen - first
    collection_weight = 0.1 if collected <= 1 else (1.0 if collected >= 10 else collected / 10.0)
    return age_weight * collection_weight


def station_score(
    today: int,
    created: int | None,
    modified: int | None,
    last_seen: int | None,
    block_last: int | None,
    samples: int | None,
    radius: float | None,
) -> float:
    """The score of a station row (arguments are day numbers, see :func:`day_of`)."""
    if block_last is not None and (created is None or block_last > created):
        created = block_last
    n = samples or 1
    if n > 1 and not radius:
        n = 1
    samples_weight = 0.5 if n <= 1 else min(max(_log2(n), 0.5), 10.0)
    return _age_collection(today, created, modified, last_seen) * samples_weight


def area_score(
    today: int,
    created: int | None,
    modified: int | None,
    last_seen: int | None,
    num_cells: int | None,
    radius: float | None,
) -> float:
    """The score of a cell-area row: like a station, with ``sqrt(num_cells)`` for samples."""
    n = num_cells or 1
    if n > 1 and not radius:
        n = 1
    return _age_collection(today, created, modified, last_seen) * min(_sqrt(n), 10.0)
