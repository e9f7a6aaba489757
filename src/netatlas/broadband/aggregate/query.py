"""Answering a statistics query: filter stored bins, re-bin them, compute the statistics.

The query language is Piecewise's: ``b.<bin>=`` names the bins to keep — the others are
merged away — and may re-bin (``b.time=year``, ``b.area=h3:6``, ``b.area=counties``);
``f.<bin>=`` filters (``f.time=2024-01,2024-06``, ``f.isp=Comcast,Wave``, ``f.area=K1,K2``,
``f.hour=7-9,18``, ``f.dow=5,6``). Without any ``b.`` every declared bin is kept. Piecewise's
names ``time_slices``, ``spatial_join``, ``spatial_grid`` and ``isp_bins`` are accepted too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from netatlas.broadband.aggregate import frame as fr
from netatlas.broadband.aggregate.config import Aggregation
from netatlas.broadband.aggregate.models import stats_bin
from netatlas.broadband.aggregate.report import ALIASES, DEFAULT_STATS, STATS, compute
from netatlas.broadband.aggregate.store import KEYS
from netatlas.broadband.aggregate.timebins import coarser, label, parse_time, slice_start, zone
from netatlas.broadband.areas import AreaLayer, UnknownLayer, rebin_codes

__all__ = ["Answer", "QueryError", "StatsQuery", "parse_query", "run_query"]

FORMATS = ("geojson", "json", "csv")
DEFAULT_LIMIT = 5000
MAX_LIMIT = 50_000
BIN_ALIASES = {
    "time_slices": "time",
    "spatial_join": "area",
    "spatial_grid": "area",
    "isp_bins": "isp",
}
OTHER_PARAMS = ("stats", "format", "limit", "offset")


class QueryError(ValueError):
    """A bad query; ``valid`` lists what would have been accepted."""

    def __init__(self, message: str, valid: list[str] | None = None) -> None:
        super().__init__(message)
        self.valid = valid or []


@dataclass(frozen=True)
class StatsQuery:
    stats: tuple[str, ...]
    format: str
    keep: dict[str, str]  # kept bin -> re-bin target ("" keeps it as stored)
    filters: dict[str, tuple[str, ...]]
    limit: int
    offset: int


@dataclass
class Answer:
    rows: list[dict[str, Any]]
    areas: list[str | None]  # the area key of each row, when areas are kept
    layer: AreaLayer | None  # the layer those keys belong to
    total: int  # bins before paging
    offset: int
    limit: int
    stats: tuple[str, ...] = field(default=())


def _bin_name(raw: str, agg: Aggregation) -> str:
    name = BIN_ALIASES.get(raw, raw)
    if name not in agg.bins:
        raise QueryError(f"unknown bin {raw!r} for aggregation {agg.name!r}", agg.bins)
    return name


def _int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise QueryError(f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise QueryError(f"{name} must be between {low} and {high}")
    return number


def parse_query(agg: Aggregation, params: Mapping[str, str]) -> StatsQuery:
    """Check a query string against the aggregation. Raises QueryError."""
    for key, value in params.items():
        # PostgreSQL refuses NUL in text; no name or value here needs a control character.
        if any(ord(c) < 32 or ord(c) == 127 for c in key + value):
            raise QueryError(f"control characters in parameter {key[:40]!r}")
    raw_stats = [s.strip() for s in params.get("stats", "").split(",") if s.strip()]
    stats = []
    for name in raw_stats:
        name = ALIASES.get(name, name)
        if name not in STATS:
            raise QueryError(f"unknown statistic {name!r}", [*STATS, *ALIASES])
        stats.append(name)
    fmt = params.get("format", "geojson").lower()
    if fmt not in FORMATS:
        raise QueryError(f"unknown format {fmt!r}", list(FORMATS))
    keep: dict[str, str] = {}
    filters: dict[str, tuple[str, ...]] = {}
    for key, value in params.items():
        if key.startswith("b."):
            name = _bin_name(key[2:], agg)
            value = value.strip()
            if value != "all":  # b.<bin>=all: merged, as if not named
                keep[name] = "" if value in ("key", agg.time if name == "time" else "") else value
        elif key.startswith("f."):
            name = _bin_name(key[2:], agg)
            filters[name] = tuple(v.strip() for v in value.split(",") if v.strip())
        elif key not in OTHER_PARAMS:
            valid = [*OTHER_PARAMS, *(f"b.{b}" for b in agg.bins), *(f"f.{b}" for b in agg.bins)]
            raise QueryError(f"unknown parameter {key!r}", valid)
    if not any(k.startswith("b.") for k in params):
        keep = dict.fromkeys(agg.bins, "")
    if keep.get("time") and keep["time"] not in coarser(agg.time):
        raise QueryError(
            f"time slices of a {agg.time} cannot be re-binned into {keep['time']!r}",
            coarser(agg.time),
        )
    for name in ("hour", "dow", "isp"):
        if keep.get(name):
            raise QueryError(f"b.{name} takes no value (re-binning applies to time and area)")
    limit = _int(params.get("limit", str(DEFAULT_LIMIT)), "limit", 1, MAX_LIMIT)
    offset = _int(params.get("offset", "0"), "offset", 0, 10**9)
    return StatsQuery(tuple(stats) or DEFAULT_STATS, fmt, keep, filters, limit, offset)


def _where(agg: Aggregation, q: StatsQuery) -> list[Any]:
    c = stats_bin.c
    where: list[Any] = [c.aggregation == agg.name]
    tz = zone(agg.timezone)
    for name, values in q.filters.items():
        if not values:
            continue
        if name == "time":
            try:
                bounds = [parse_time(v, tz) for v in values]
            except ValueError as exc:
                raise QueryError(f"f.time: {exc}") from None
            if len(bounds) != 2:
                raise QueryError("f.time takes START,END (epoch seconds or dates)")
            where.append(c.period.between(min(bounds), max(bounds)))
        elif name in ("hour", "dow"):
            top = 23 if name == "hour" else 6
            chosen: set[int] = set()
            for v in values:
                first, _, last = v.partition("-")
                lo = _int(first, f"f.{name}", 0, top)
                hi = _int(last, f"f.{name}", 0, top) if last else lo
                chosen.update(range(lo, hi + 1))
            where.append(c[name].in_(sorted(chosen)))
        else:
            where.append(c[name].in_(values))
    return where


def run_query(
    engine: Engine,
    agg: Aggregation,
    layer: AreaLayer | None,
    q: StatsQuery,
    get_layer: Callable[[str], AreaLayer],
) -> Answer:
    """The page of re-binned bins the query asks for, with their statistics."""
    with engine.connect() as conn:
        columns = (*(stats_bin.c[k] for k in KEYS), stats_bin.c.partial)
        rows = conn.execute(select(*columns).where(*_where(agg, q))).all()
    n = len(rows)
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * (len(KEYS) + 1)
    keys: dict[str, list[Any]] = {k: list(cols[i]) for i, k in enumerate(KEYS)}
    partials: list[bytes] = list(cols[-1])
    tz = zone(agg.timezone)
    out_layer = layer
    if "area" not in q.keep:
        keys["area"] = [""] * n
        out_layer = None
    elif q.keep["area"] and layer is not None and q.keep["area"] != layer.spec:
        try:
            out_layer = get_layer(q.keep["area"])
        except UnknownLayer as exc:
            raise QueryError(f"b.area: {exc}") from None
        codes = layer.codes(keys["area"])
        target = rebin_codes(layer, codes, out_layer) if codes.size else codes
        inside = target >= 0
        names = out_layer.keys(target[inside]) if inside.any() else []
        mapped = iter(names)
        keys["area"] = [next(mapped) if ok else None for ok in inside.tolist()]
    if "time" not in q.keep:
        keys["period"] = [0] * n
        unit = "all"
    elif q.keep["time"]:
        unit = q.keep["time"]
        keys["period"] = slice_start(np.array(keys["period"], np.int64), unit, tz).tolist()
    else:
        unit = agg.time
    for name, empty in (("hour", -1), ("dow", -1), ("isp", "")):
        if name not in q.keep:
            keys[name] = [empty] * n
    tuples = list(zip(*(keys[k] for k in KEYS), strict=True))
    index: dict[tuple[Any, ...], int] = {}
    for t in tuples:
        if t[0] is not None:
            index.setdefault(t, len(index))
    ordered = sorted(index, key=lambda t: (t[0], t[1], t[2], t[3], t[4]))
    total = len(ordered)
    page = ordered[q.offset : q.offset + q.limit]
    position = {t: i for i, t in enumerate(page)}
    chosen = [i for i, t in enumerate(tuples) if t in position]
    frame = fr.from_blobs([partials[i] for i in chosen])
    group = np.array([position[tuples[i]] for i in chosen], np.int64)
    frame = fr.reduce(frame, group, len(page))
    values = compute(frame, q.stats, agg.min_tests)
    result_rows = []
    for i, t in enumerate(page):
        row: dict[str, Any] = {}
        if "area" in q.keep:
            row["area"] = t[0]
            area_name = out_layer.name(t[0]) if out_layer is not None else None
            if area_name:
                row["area_name"] = area_name
        if "time" in q.keep:
            row["time"] = t[1]
            row["period"] = label(t[1], unit, tz)
        if "hour" in q.keep:
            row["hour"] = t[2]
        if "dow" in q.keep:
            row["dow"] = t[3]
        if "isp" in q.keep:
            row["isp"] = t[4]
        row["insufficient"] = values["insufficient"][i]
        for stat in q.stats:
            row[stat] = values[stat][i]
        result_rows.append(row)
    areas = [t[0] for t in page] if "area" in q.keep else [None] * len(page)
    return Answer(result_rows, areas, out_layer, total, q.offset, q.limit, q.stats)
