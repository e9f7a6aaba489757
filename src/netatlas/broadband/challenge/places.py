"""Repeated tests at one place: per-place medians and the number of distinct local days.

A **place** is a square of ``metres`` on a side on a grid fixed to the Earth (rows of equal
latitude, columns of equal east-west distance within a row), so that every test in one place
lies within ``metres × √2`` of every other, and the same place has the same id in every
package built with the same size. Only tests located by the contributor's browser with an
accuracy of ``metres`` or better are placed: an IP location is a town's centre, and putting a
town's tests in one place would make them look repeated at one address.

Only five numbers per placed test are kept while the package is written (no rows), and the
medians are computed for every place at once with a sort: a million tests take about a second.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["PlaceMedians", "Places", "grid", "place_of"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

METRES_PER_DEGREE = 111_320.0  # along a meridian, and along the equator
_COLUMN = 1 << 32


def grid(lat: F64, lon: F64, metres: float) -> tuple[I64, I64]:
    """(rows, columns) of the grid squares holding the points."""
    rows = np.floor(lat * METRES_PER_DEGREE / metres).astype(np.int64)
    centre = (rows + 0.5) * metres / METRES_PER_DEGREE
    width = metres / (METRES_PER_DEGREE * np.maximum(np.cos(np.radians(centre)), 1e-6))
    columns = np.floor(lon / width).astype(np.int64)
    return rows, columns


def place_of(lat: float, lon: float, metres: float) -> tuple[int, int]:
    """(row, column) of the grid square holding the point."""
    rows, columns = grid(np.array([lat]), np.array([lon]), metres)
    return int(rows[0]), int(columns[0])


def _centre(row: int, column: int, metres: float) -> tuple[float, float]:
    lat = (row + 0.5) * metres / METRES_PER_DEGREE
    width = metres / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 1e-6))
    return lat, (column + 0.5) * width


@dataclass(frozen=True, slots=True)
class PlaceMedians:
    place_id: str
    lat: float  # the square's centre
    lon: float
    tests: int
    days: int  # distinct local dates
    first_day: str
    last_day: str
    download_median: float | None
    upload_median: float | None
    latency_median: float | None
    test_ids: list[int]


@dataclass
class Places:
    """Collects placed tests chunk by chunk, then yields each place's medians."""

    metres: float
    _keys: list[I64] = field(default_factory=list)
    _ids: list[I64] = field(default_factory=list)
    _days: list[I64] = field(default_factory=list)
    _values: list[F64] = field(default_factory=list)

    def add(
        self,
        ids: I64,
        lat: F64,
        lon: F64,
        days: I64,
        values: F64,
    ) -> list[str]:
        """Record tests (``values``: download, upload, latency per row; NaN: missing);
        returns their place ids."""
        rows, columns = grid(lat, lon, self.metres)
        self._keys.append(rows * _COLUMN + columns)
        self._ids.append(ids.astype(np.int64))
        self._days.append(days.astype(np.int64))
        self._values.append(values.astype(np.float64).reshape(-1, 3))
        return [self.place_id(r, c) for r, c in zip(rows.tolist(), columns.tolist(), strict=True)]

    def place_id(self, row: int, column: int) -> str:
        return f"{self.metres:g}m:{row}:{column}"

    def __len__(self) -> int:
        return sum(k.size for k in self._keys)

    def medians(self) -> Iterator[PlaceMedians]:
        """Every place with a placed test, ordered by place key."""
        if not len(self):
            return
        keys = np.concatenate(self._keys)
        ids = np.concatenate(self._ids)
        days = np.concatenate(self._days)
        values = np.concatenate(self._values)
        order = np.lexsort((ids, keys))
        keys, ids, days, values = keys[order], ids[order], days[order], values[order]
        uniq, starts, counts = np.unique(keys, return_index=True, return_counts=True)
        # Distinct (place, day) pairs, counted per place.
        pairs = np.unique(np.stack([keys, days], axis=1), axis=0)
        day_counts = np.unique(pairs[:, 0], return_counts=True)[1]
        first = np.minimum.reduceat(days, starts)
        last = np.maximum.reduceat(days, starts)
        medians = [_group_medians(keys, values[:, i], uniq).tolist() for i in range(3)]
        # Python lists, not numpy scalars, in the loop: indexing them is far cheaper.
        id_list: list[int] = ids.tolist()
        columns = zip(
            uniq.tolist(), starts.tolist(), counts.tolist(), day_counts.tolist(),
            first.tolist(), last.tolist(), *medians, strict=True,
        )  # fmt: skip
        for key, start, count, day_count, first_day, last_day, down, up, rtt in columns:
            row, column = _split(key)
            lat, lon = _centre(row, column, self.metres)
            yield PlaceMedians(
                place_id=self.place_id(row, column),
                lat=round(lat, 7),
                lon=round(lon, 7),
                tests=count,
                days=day_count,
                first_day=_date(first_day),
                last_day=_date(last_day),
                download_median=_value(down),
                upload_median=_value(up),
                latency_median=_value(rtt),
                test_ids=id_list[start : start + count],
            )


def _split(key: int) -> tuple[int, int]:
    row, column = divmod(key, _COLUMN)
    if column >= _COLUMN // 2:  # a negative column borrowed one from the row
        row, column = row + 1, column - _COLUMN
    return row, column


@functools.lru_cache(maxsize=4096)
def _date(day_number: int) -> str:
    return str(np.datetime64(day_number, "D"))


def _value(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _group_medians(keys: I64, values: F64, groups: I64) -> F64:
    """The median of ``values`` (NaN: missing) per key of ``groups``; NaN for a group with
    no value. ``keys`` is sorted."""
    out = np.full(groups.size, np.nan)
    present = ~np.isnan(values)
    k, v = keys[present], values[present]
    if k.size == 0:
        return out
    order = np.lexsort((v, k))
    k, v = k[order], v[order]
    uniq, starts, counts = np.unique(k, return_index=True, return_counts=True)
    low = v[starts + (counts - 1) // 2]
    high = v[starts + counts // 2]
    out[np.searchsorted(groups, uniq)] = (low + high) / 2
    return out
