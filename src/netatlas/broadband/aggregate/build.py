"""Binning tests for one aggregation: the bin of each test, then its partial statistics.

Bins are first keyed by numbers — area code (-1 when there is no spatial bin), slice start,
hour, weekday, ISP label id — so that a million tests group with a few sorts; keys become
strings only for the bins that are stored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from netatlas.broadband.aggregate import frame as fr
from netatlas.broadband.aggregate.config import SOURCES, Aggregation
from netatlas.broadband.aggregate.readings import Tests
from netatlas.broadband.aggregate.timebins import local_parts, slice_start, zone
from netatlas.broadband.areas import AreaLayer, CountriesLayer, assign

__all__ = ["Binned", "IspLabels", "bin_tests", "by_country", "locate", "merge"]

I64 = npt.NDArray[np.int64]
KEY_COLUMNS = ("area", "period", "hour", "dow", "isp")
MAX_ISP = 128


@dataclass
class IspLabels:
    """ISP display names of one aggregation, and the id each got."""

    rules: Sequence[tuple[str, str]]
    names: list[str] = field(default_factory=list)
    _ids: dict[str, int] = field(default_factory=dict)
    _compiled: list[tuple[re.Pattern[str], str]] | None = None

    def id(self, name: str) -> int:
        if name not in self._ids:
            self._ids[name] = len(self.names)
            self.names.append(name)
        return self._ids[name]

    def label(self, asn: int, name: str | None) -> str:
        if self._compiled is None:
            self._compiled = [
                (
                    re.compile(
                        p[1:-1] if len(p) > 1 and p[0] == p[-1] == "/" else re.escape(p), re.I
                    ),
                    display,
                )
                for p, display in self.rules
            ]
        text = f"AS{asn} {name or ''}" if asn >= 0 else (name or "")
        for pattern, display in self._compiled:
            if pattern.search(text):
                return display[:MAX_ISP]
        if name:
            return name[:MAX_ISP]
        return f"AS{asn}" if asn >= 0 else "unknown"

    def ids(self, asn: I64, isp: npt.NDArray[np.object_]) -> I64:
        """Label id of each test."""
        out = np.empty(asn.size, np.int64)
        known = asn >= 0
        if known.any():
            uniq, first, inverse = np.unique(asn[known], return_index=True, return_inverse=True)
            names = isp[known][first]
            ids = np.array(
                [self.id(self.label(a, n)) for a, n in zip(uniq.tolist(), names, strict=True)],
                np.int64,
            )
            out[known] = ids[inverse.reshape(-1)]
        rest = np.flatnonzero(~known)
        if rest.size:
            out[rest] = [self.id(self.label(-1, n)) for n in isp[rest]]
        return out


@dataclass
class Binned:
    """Bins with numeric keys (one array per key column) and their statistics."""

    keys: dict[str, I64]
    frame: fr.Frame

    @property
    def size(self) -> int:
        return self.frame.size


def _group(keys: dict[str, I64]) -> tuple[I64, int, I64]:
    """Group index of each row, the number of groups, and the first row of each group."""
    n = keys["period"].size
    if n == 0:
        return np.zeros(0, np.int64), 0, np.zeros(0, np.int64)
    order = np.lexsort(tuple(keys[c] for c in reversed(KEY_COLUMNS)))
    change = np.zeros(n, bool)
    change[0] = True
    for c in KEY_COLUMNS:
        k = keys[c][order]
        change[1:] |= k[1:] != k[:-1]
    group_sorted = np.cumsum(change) - 1
    group = np.empty(n, np.int64)
    group[order] = group_sorted
    return group, int(group_sorted[-1]) + 1, order[change]


def by_country(agg: Aggregation) -> bool:
    """Does the aggregation bin by country, so that tests' own country codes count?"""
    return agg.area == "countries"


def locate(agg: Aggregation, t: Tests, layer: AreaLayer) -> I64:
    """The area code of each test (-1: none). A test's own country code comes first where
    the layer is the countries and the test keeps its IP location; then the area holding its
    point, or the nearest within the aggregation's tolerance; a test whose browser location
    lands in no country counts in the country of its IP address."""
    lat, lon = t.lat, t.lon
    survey = None
    if agg.location == "survey":
        survey = np.isfinite(t.survey_lat) & np.isfinite(t.survey_lon)
        lat = np.where(survey, t.survey_lat, lat)
        lon = np.where(survey, t.survey_lon, lon)
    tolerance_m = agg.area_tolerance_km * 1000.0
    if not (by_country(agg) and isinstance(layer, CountriesLayer)):
        return assign(layer, lat, lon, tolerance_m)
    own = layer.by_country(t.country)
    area = own if survey is None else np.where(survey, -1, own)
    rest = np.flatnonzero(area < 0)
    if rest.size:
        area[rest] = assign(layer, lat[rest], lon[rest], tolerance_m)
        if survey is not None:
            area = np.where(area < 0, own, area)
    return area


def bin_tests(
    agg: Aggregation,
    tests: Tests,
    layer: AreaLayer | None,
    isp: IspLabels,
) -> tuple[Binned, int]:
    """The bins of ``tests`` (already chosen for this aggregation); also how many tests had
    no area (outside the layer, or no location)."""
    keep = np.isin(tests.source, [SOURCES.index(s) for s in agg.sources])
    if agg.tests_per_client_day > 0:
        keep &= tests.rank < agg.tests_per_client_day
    t = tests.take(np.flatnonzero(keep))
    n = t.size
    if layer is not None:
        area = locate(agg, t, layer)
        located = area >= 0
        unlocated = int(n - located.sum())
        if unlocated:
            t = t.take(np.flatnonzero(located))
            area = area[located]
            n = t.size
    else:
        area = np.full(n, -1, np.int64)
        unlocated = 0
    tz = zone(agg.timezone)
    keys = {"area": area, "period": slice_start(t.epoch, agg.time, tz)}
    hour, dow = local_parts(t.epoch, tz) if agg.hour_of_day or agg.day_of_week else (None, None)
    keys["hour"] = hour if agg.hour_of_day and hour is not None else np.full(n, -1, np.int64)
    keys["dow"] = dow if agg.day_of_week and dow is not None else np.full(n, -1, np.int64)
    keys["isp"] = isp.ids(t.asn, t.isp) if agg.isp else np.full(n, -1, np.int64)
    group, size, first = _group(keys)
    tests_frame = fr.from_tests(
        t.download, t.mbps, t.seconds, t.rtt, t.loss, t.client, t.advertised
    )
    binned = Binned({c: keys[c][first] for c in KEY_COLUMNS}, fr.reduce(tests_frame, group, size))
    return binned, unlocated


def merge(parts: Sequence[Binned]) -> Binned:
    """Bins of several batches, bins with equal keys merged."""
    parts = [p for p in parts if p.size]
    if not parts:
        return Binned({c: np.zeros(0, np.int64) for c in KEY_COLUMNS}, fr.reduce_empty())
    if len(parts) == 1:
        return parts[0]
    keys = {c: np.concatenate([p.keys[c] for p in parts]) for c in KEY_COLUMNS}
    group, size, first = _group(keys)
    frame = fr.reduce(fr.concat([p.frame for p in parts]), group, size)
    return Binned({c: keys[c][first] for c in KEY_COLUMNS}, frame)
