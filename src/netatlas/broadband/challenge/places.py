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

import msgspec
import numpy as np
import numpy.typing as npt

__all__ = ["PlaceColumns", "PlaceMedians", "Places", "grid", "place_of"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

METRES_PER_DEGREE = 111_320.0  # along a meridian, and along the equator
_COLUMN = 1 << 32
_encode = msgspec.json.encode


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


def _row(row: int, metres: float) -> tuple[float, float]:
    """The latitude of the centres of a row's squares, and their width in degrees."""
    lat = (row + 0.5) * metres / METRES_PER_DEGREE
    return lat, metres / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 1e-6))


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
        return self._place_ids(rows, columns)

    def place_id(self, row: int, column: int) -> str:
        return f"{self.metres:g}m:{row}:{column}"

    def _place_ids(self, rows: I64, columns: I64) -> list[str]:
        """:meth:`place_id` of many squares."""
        prefix = f"{self.metres:g}m:"
        return [prefix + r + ":" + c for r, c in zip(_ints(rows), _ints(columns), strict=True)]

    def __len__(self) -> int:
        return sum(k.size for k in self._keys)

    def columns(self) -> PlaceColumns:
        """Every place with a placed test, ordered by place key, a list per column."""
        if not len(self):
            return PlaceColumns([], [], [], [], [], [], [], [], [], [], [], [])
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
        # A negative column borrowed one from the row.
        rows, columns = np.divmod(uniq, _COLUMN)
        negative = columns >= _COLUMN // 2
        rows[negative] += 1
        columns[negative] -= _COLUMN
        # The centre's latitude and the column width depend on the row alone: computed once
        # a row.
        row_keys, row_of = np.unique(rows, return_inverse=True)
        centres = [_row(row, self.metres) for row in row_keys.tolist()]
        widths = np.array([width for _, width in centres], np.float64)
        lat = [round(centre, 7) for centre, _ in centres]
        return PlaceColumns(
            place_id=self._place_ids(rows, columns),
            lat=[lat[i] for i in row_of.reshape(-1).tolist()],
            lon=[round(x, 7) for x in ((columns + 0.5) * widths[row_of.reshape(-1)]).tolist()],
            tests=counts.tolist(),
            days=day_counts.tolist(),
            first_day=list(map(_date, first.tolist())),
            last_day=list(map(_date, last.tolist())),
            download_median=medians[0],
            upload_median=medians[1],
            latency_median=medians[2],
            ids=ids.tolist(),
            starts=starts.tolist(),
        )

    def medians(self) -> Iterator[PlaceMedians]:
        """Every place with a placed test, ordered by place key."""
        c = self.columns()
        ends = [*c.starts[1:], len(c.ids)]
        for i, place_id in enumerate(c.place_id):
            yield PlaceMedians(
                place_id=place_id,
                lat=c.lat[i],
                lon=c.lon[i],
                tests=c.tests[i],
                days=c.days[i],
                first_day=c.first_day[i],
                last_day=c.last_day[i],
                download_median=_value(c.download_median[i]),
                upload_median=_value(c.upload_median[i]),
                latency_median=_value(c.latency_median[i]),
                test_ids=c.ids[c.starts[i] : ends[i]],
            )


@dataclass(frozen=True, slots=True)
class PlaceColumns:
    """The places as columns: a list per field of :class:`PlaceMedians`, medians NaN when
    missing; the test ids of place ``i`` are ``ids[starts[i]:starts[i + 1]]``."""

    place_id: list[str]
    lat: list[float]
    lon: list[float]
    tests: list[int]
    days: list[int]
    first_day: list[str]
    last_day: list[str]
    download_median: list[float]
    upload_median: list[float]
    latency_median: list[float]
    ids: list[int]
    starts: list[int]


def _ints(values: I64) -> list[str]:
    """Integers as text (msgspec's encoder writes them as ``str`` does, far faster)."""
    if not values.size:
        return []
    return _encode(values.tolist())[1:-1].decode().split(",")


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
