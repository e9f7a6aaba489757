"""Time slices, hour of day and day of week, in an aggregation's time zone, for many tests.

A slice is identified by the UTC epoch second at which it starts (its local midnight, first
of the month, … in the zone). Offsets from UTC are looked up once per distinct quarter hour,
not per test, so a million tests cost a few numpy passes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

__all__ = [
    "UNITS",
    "coarser",
    "label",
    "local_parts",
    "parse_time",
    "slice_start",
    "slices_between",
    "zone",
]

I64 = npt.NDArray[np.int64]

#: Time slice units, finest first; "all" puts every test in one slice (period 0).
UNITS = ("hour", "day", "week", "month", "quarter", "year", "all")
# Which coarser units a slice of each unit lies wholly inside (weeks straddle months).
_NESTS = {
    "hour": {"day", "week", "month", "quarter", "year"},
    "day": {"week", "month", "quarter", "year"},
    "week": set(),
    "month": {"quarter", "year"},
    "quarter": {"year"},
    "year": set(),
    "all": set(),
}


def coarser(unit: str) -> list[str]:
    """Units a slice of ``unit`` can be re-binned into (itself and "all" included)."""
    return [u for u in UNITS if u == unit or u == "all" or u in _NESTS[unit]]


@cache
def zone(name: str) -> ZoneInfo | None:
    """The zone of that name; None for UTC. Raises ValueError for an unknown name."""
    if name.upper() in ("UTC", "Z", ""):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _offsets(epoch: I64, tz: ZoneInfo) -> I64:
    """UTC offset (seconds) at each instant."""
    quarter = epoch // 900
    uniq, inverse = np.unique(quarter, return_inverse=True)
    offs = np.array(
        [
            int(datetime.fromtimestamp(int(q) * 900, tz).utcoffset().total_seconds())  # type: ignore[union-attr]
            for q in uniq.tolist()
        ],
        dtype=np.int64,
    )
    result: I64 = offs[inverse]
    return result


def _local_to_utc(local: I64, tz: ZoneInfo | None) -> I64:
    """UTC epoch of local wall-clock times given as seconds since the local epoch."""
    if tz is None:
        return local
    uniq, inverse = np.unique(local, return_inverse=True)
    utc = np.array(
        [
            int(datetime.fromtimestamp(int(t), UTC).replace(tzinfo=tz).timestamp())
            for t in uniq.tolist()
        ],
        dtype=np.int64,
    )
    result: I64 = utc[inverse]
    return result


def _floor_local(local: I64, unit: str) -> I64:
    if unit == "hour":
        return local // 3600 * 3600
    days = local // 86400
    if unit == "day":
        return days * 86400
    if unit == "week":
        return (days - (days + 3) % 7) * 86400  # 1970-01-01 was a Thursday
    months = local.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    if unit == "quarter":
        months = months - months % 3
    elif unit == "year":
        months = months - months % 12
    result: I64 = months.astype("datetime64[M]").astype("datetime64[s]").astype(np.int64)
    return result


def slice_start(epoch: I64, unit: str, tz: ZoneInfo | None) -> I64:
    """UTC epoch second at which each instant's slice starts."""
    if unit == "all":
        return np.zeros(epoch.size, np.int64)
    local = epoch if tz is None else epoch + _offsets(epoch, tz)
    return _local_to_utc(_floor_local(local, unit), tz)


def slices_between(low: int, high: int, unit: str, tz: ZoneInfo | None, most: int) -> list[int]:
    """Every slice of ``unit`` starting at or after ``low`` and at or before ``high``. Raises
    ValueError when there would be more than ``most``."""
    if unit == "all":
        return [0] if low <= 0 <= high else []
    if high < low:
        return []
    # Every slice lasts at least an hour (a day, for months and longer): an instant sampled at
    # that step falls in each slice that starts in the range.
    step = 3600 if unit in ("hour", "day", "week") else 86400
    samples = (high - low) // step + 2
    if samples > 24 * most:
        raise ValueError(f"more than {most} slices")
    starts = np.unique(slice_start(np.arange(low, high + step, step, dtype=np.int64), unit, tz))
    inside = starts[(starts >= low) & (starts <= high)]
    if inside.size > most:
        raise ValueError(f"more than {most} slices")
    return [int(v) for v in inside.tolist()]


def local_parts(epoch: I64, tz: ZoneInfo | None) -> tuple[I64, I64]:
    """Hour of day (0–23) and day of week (0 Monday – 6 Sunday) of each instant, locally."""
    local = epoch if tz is None else epoch + _offsets(epoch, tz)
    days = local // 86400
    return (local % 86400) // 3600, (days + 3) % 7


def label(start: int, unit: str, tz: ZoneInfo | None) -> str:
    """Readable name of a slice: 2024-03, 2024-Q1, 2024, 2024-W09, 2024-03-05, 2024-03-05T14."""
    if unit == "all":
        return "all"
    moment = datetime.fromtimestamp(start, tz or UTC)
    if unit == "year":
        return f"{moment.year}"
    if unit == "quarter":
        return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"
    if unit == "month":
        return f"{moment:%Y-%m}"
    if unit == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if unit == "day":
        return f"{moment:%Y-%m-%d}"
    return f"{moment:%Y-%m-%dT%H}"


#: The instants :func:`parse_time` accepts: the years 1 to 9999, as epoch seconds.
EPOCH_MIN = int(datetime(1, 1, 1, tzinfo=UTC).timestamp())
EPOCH_MAX = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
_MAX_TIME_TEXT = 40  # the longest ISO date-time with fractions and offset is shorter


def parse_time(text: str, tz: ZoneInfo | None) -> int:
    """Epoch seconds from epoch digits or an ISO date (2024, 2024-03, 2024-03-05, date-time).

    Only ASCII, at most 40 characters, and instants in the years 1 to 9999: anything else is
    a ValueError (never a number too large for the database, or an OverflowError)."""
    text = text.strip()
    if not text.isascii() or len(text) > _MAX_TIME_TEXT:
        raise ValueError(f"not a date or epoch seconds: {text[:_MAX_TIME_TEXT]!r}…")
    if text.lstrip("-").isdigit() and len(text) > 4:
        epoch = int(text)
    else:
        parts = text.split("-")
        try:
            if len(parts) == 1:
                moment = datetime(int(parts[0]), 1, 1)
            elif len(parts) == 2:
                moment = datetime(int(parts[0]), int(parts[1]), 1)
            else:
                moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz or UTC)
            epoch = int(moment.timestamp())
        except (ValueError, OverflowError):
            raise ValueError(f"not a date or epoch seconds: {text!r}") from None
    if not EPOCH_MIN <= epoch <= EPOCH_MAX:
        raise ValueError(f"out of range (years 1 to 9999): {text!r}")
    return epoch
