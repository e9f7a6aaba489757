"""Wire formats of the site's statistics JSON (documented in ``/openapi.json``)."""

from __future__ import annotations

import msgspec

__all__ = ["IchnaeaSeries", "RegionCount", "RegionStats", "StatsSeries"]


class StatsKind(msgspec.Struct):
    stations: str  # the stat key counting networks first seen (unique_wifi, …)
    observations: str  # the stat key counting observations (wifi, …)
    title: str


class StatsSeries(msgspec.Struct):
    totals: dict[str, int]  # the latest running total of every stat key
    series: dict[str, list[tuple[str, int]]]  # per key: [day (YYYY-MM-DD), running total]
    kinds: dict[str, StatsKind]


class RegionCount(msgspec.Struct):
    region: str  # ISO 3166-1 alpha-2 (GENC for a few)
    name: str
    gsm: int
    wcdma: int
    lte: int
    nr: int
    cell: int  # all radios
    wifi: int
    blue: int
    total: int


class RegionStats(msgspec.Struct):
    regions: list[RegionCount]  # most stations first


class IchnaeaLine(msgspec.Struct):
    title: str
    data: list[tuple[int, int]]  # [epoch milliseconds of a month's first day, stations]


class IchnaeaSeries(msgspec.Struct):
    series: list[IchnaeaLine]
