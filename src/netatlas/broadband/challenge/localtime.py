"""Local wall-clock time of tests, and the evening windows regulators ask about.

The project has no coordinate → time zone data, so one IANA zone is used for a whole package
(``--timezone``, else ``NETATLAS_CHALLENGE_TIMEZONE``); the package's methodology says which.
Offsets come from :mod:`zoneinfo` and are looked up once per quarter hour of UTC time (every
zone changes its offset on a quarter hour), so a million tests cost a few thousand lookups.

Windows are half-open in local time: the evening window is 18:00 ≤ t < 24:00 (a test at 00:00
belongs to the next day's night, not this evening), the peak window 19:00 ≤ t < 23:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

__all__ = ["EVENING", "PEAK", "LocalClock", "LocalTimes", "parse_zone"]

I64 = npt.NDArray[np.int64]

#: (first hour, end hour) of each window, local time, end excluded.
EVENING = (18, 24)
PEAK = (19, 23)
_QUARTER = 900
#: Quarter hours a table of offsets spans at most (about 15 years).
_TABLE = 1 << 19


def parse_zone(name: str) -> ZoneInfo:
    """The IANA zone of that name ("UTC" included). Raises ValueError."""
    try:
        return ZoneInfo(name.strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)"
        ) from None


@dataclass(frozen=True, slots=True)
class LocalTimes:
    """Local times of many instants (same order)."""

    utc: list[str]  # ISO 8601, seconds, "Z"
    local: list[str]  # ISO 8601, seconds, with the offset in force then
    day_number: I64  # days since 1970-01-01 of the local date
    evening: list[bool]  # 18:00 ≤ local < 24:00
    peak: list[bool]  # 19:00 ≤ local < 23:00


def _suffix(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    hours, rest = divmod(abs(offset), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


class LocalClock:
    """Converts UTC instants into local times of one zone, caching offsets."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._offsets: dict[int, int] = {}
        # The offset of every quarter hour from the first one asked about to the last.
        self._first = 0
        self._table: I64 = np.zeros(0, np.int64)

    def offset(self, epoch: int) -> int:
        """The zone's UTC offset (seconds) at that instant."""
        quarter = epoch // _QUARTER
        found = self._offsets.get(quarter)
        if found is None:
            moment = datetime.fromtimestamp(quarter * _QUARTER, UTC).astimezone(self.zone)
            delta = moment.utcoffset()
            found = int(delta.total_seconds()) if delta is not None else 0
            self._offsets[quarter] = found
        return found

    def offsets(self, epoch: I64) -> I64:
        """The offset at each instant: one lookup per quarter hour of the span of the
        instants, kept in a table (per distinct quarter hour when they span decades)."""
        quarters = epoch // _QUARTER
        if not quarters.size:
            return np.zeros(0, np.int64)
        low, high = int(quarters.min()), int(quarters.max())
        if self._table.size:
            low, high = min(low, self._first), max(high, self._first + self._table.size - 1)
        if high - low >= _TABLE:
            unique, inverse = np.unique(quarters, return_inverse=True)
            found = np.array([self.offset(int(q) * _QUARTER) for q in unique.tolist()], np.int64)
            result: I64 = found[inverse.reshape(-1)]
            return result
        if low != self._first or high - low + 1 != self._table.size:
            offsets = [self.offset(q * _QUARTER) for q in range(low, high + 1)]
            self._first, self._table = low, np.array(offsets, np.int64)
        found = self._table[quarters - low]
        return found

    def at(self, epoch: I64) -> LocalTimes:
        """Instants (whole UTC epoch seconds) in local time."""
        epoch = epoch.astype(np.int64)
        offsets = self.offsets(epoch)
        local = epoch + offsets
        utc = np.datetime_as_string(epoch.astype("datetime64[s]"), unit="s", timezone="UTC")
        local_text = np.datetime_as_string(local.astype("datetime64[s]"), unit="s").tolist()
        suffixes = {int(o): _suffix(int(o)) for o in np.unique(offsets).tolist()}
        hour = (local % 86400) // 3600
        evening = (hour >= EVENING[0]) & (hour < EVENING[1])
        peak = (hour >= PEAK[0]) & (hour < PEAK[1])
        return LocalTimes(
            utc=utc.tolist(),
            local=list(map(str.__add__, local_text, map(suffixes.__getitem__, offsets.tolist()))),
            day_number=local // 86400,
            evening=evening.tolist(),
            peak=peak.tolist(),
        )
