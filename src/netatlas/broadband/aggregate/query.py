"""Answering a statistics query: filter stored bins, re-bin them, compute the statistics.

The query language is Piecewise's: ``b.<bin>=`` names the bins to keep — the others are
merged away — and may re-bin (``b.time=year``, ``b.area=h3:6``, ``b.area=counties``);
``f.<bin>=`` filters (``f.time=2024-01,2024-06``, ``f.isp=Comcast,Wave``, ``f.area=K1,K2``,
``f.hour=7-9,18``, ``f.dow=5,6``). Without any ``b.`` every declared bin is kept. Piecewise's
names ``time_slices``, ``spatial_join``, ``spatial_grid`` and ``isp_bins`` are accepted too.

Answers are built from the noisy releases of the *elements* each cell names (see
:mod:`.privacy`), never from the exact bins; cells below the publication threshold are not
listed and do not count in ``total``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from netatlas.broadband.aggregate import frame as fr
from netatlas.broadband.aggregate.config import Aggregation
from netatlas.broadband.aggregate.models import stats_bin
from netatlas.broadband.aggregate.privacy import (
    CLIENT_CAP,
    CLIENTS,
    FINE_BINS,
    HIST_START,
    HIST_WIDTH,
    WIDTH,
    element_noise,
    fine_index,
    publish_threshold,
)
from netatlas.broadband.aggregate.report import (
    ALIASES,
    DEFAULT_STATS,
    WITHDRAWN,
    Noisy,
    publish,
    published,
    stat_names,
)
from netatlas.broadband.aggregate.sketch import bucket_value
from netatlas.broadband.aggregate.store import KEYS
from netatlas.broadband.aggregate.timebins import (
    coarser,
    label,
    parse_time,
    slice_start,
    slices_between,
    zone,
)
from netatlas.broadband.areas import AreaLayer, UnknownLayer, rebin_codes
from netatlas.broadband.usecases import DEFAULT_TABLE, UseCaseTable

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
#: Most elements (see .privacy) one answer may sum; more is a 400.
MAX_ELEMENTS = 100_000
#: Times a filter may name (epoch seconds; about ±34,000 years).
EPOCH_LIMIT = 2**40
#: The evidence histograms of the release (see .privacy) and the stored ones they are noise on.
EVIDENCE_HISTS = {"dr": "dr_hist", "ur": "ur_hist", "loss": "loss_hist"}
#: Statistics answered from the counts alone (no histograms, no clients).
COUNT_STATS = frozenset({"tests", "download_count", "upload_count"})


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


def parse_query(
    agg: Aggregation, params: Mapping[str, str], cases: UseCaseTable = DEFAULT_TABLE
) -> StatsQuery:
    """Check a query string against the aggregation and the use cases in force. Raises
    QueryError."""
    for key, value in params.items():
        # PostgreSQL refuses NUL in text; no name or value here needs a control character.
        if any(ord(c) < 32 or ord(c) == 127 for c in key + value):
            raise QueryError(f"control characters in parameter {key[:40]!r}")
    raw_stats = [s.strip() for s in params.get("stats", "").split(",") if s.strip()]
    stats = []
    known = stat_names(cases)
    for name in raw_stats:
        name = ALIASES.get(name, name)
        if name in WITHDRAWN:
            raise QueryError(f"{name} is not published: {WITHDRAWN[name]}", [*known, *ALIASES])
        if name not in known:
            raise QueryError(f"unknown statistic {name!r}", [*known, *ALIASES])
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


@dataclass
class _Filters:
    where: list[Any]
    named: dict[str, list[Any]]  # bin -> the values a filter names (time: its bounds)


def _filters(agg: Aggregation, q: StatsQuery) -> _Filters:
    c = stats_bin.c
    where: list[Any] = [c.aggregation == agg.name]
    named: dict[str, list[Any]] = {}
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
            low, high = min(bounds), max(bounds)
            if low < -EPOCH_LIMIT or high > EPOCH_LIMIT:
                raise QueryError(f"f.time: times must be within ±{EPOCH_LIMIT} epoch seconds")
            where.append(c.period.between(low, high))
            try:
                named[name] = slices_between(low, high, agg.time, tz, MAX_ELEMENTS)
            except ValueError:
                raise QueryError(
                    f"f.time names more than {MAX_ELEMENTS} {agg.time} slices:"
                    " choose a shorter range"
                ) from None
        elif name in ("hour", "dow"):
            top = 23 if name == "hour" else 6
            chosen: set[int] = set()
            for v in values:
                first, _, last = v.partition("-")
                lo = _int(first, f"f.{name}", 0, top)
                hi = _int(last, f"f.{name}", 0, top) if last else lo
                chosen.update(range(lo, hi + 1))
            where.append(c[name].in_(sorted(chosen)))
            named[name] = sorted(chosen)
        else:
            where.append(c[name].in_(values))
            named[name] = sorted(set(values))
    return _Filters(where, named)


_KEY = {"area": "area", "time": "period", "hour": "hour", "dow": "dow", "isp": "isp"}


def run_query(
    engine: Engine,
    agg: Aggregation,
    layer: AreaLayer | None,
    q: StatsQuery,
    get_layer: Callable[[str], AreaLayer],
    secret: bytes,
    cases: UseCaseTable = DEFAULT_TABLE,
) -> Answer:
    """The page of answered cells the query asks for, with their published statistics.

    Each stored bin goes into one cell (its kept keys, re-binned) and one *element* (see
    :mod:`.privacy`): per dimension its stored key when a filter names that dimension, its
    cell's key when the dimension is kept, ``*`` when it is merged without a filter. A cell is
    answered with the noisy releases of every element its query names, with tests or not."""
    filt = _filters(agg, q)
    with engine.connect() as conn:
        columns = (*(stats_bin.c[k] for k in KEYS), stats_bin.c.partial)
        rows = conn.execute(select(*columns).where(*filt.where)).all()
    n = len(rows)
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * (len(KEYS) + 1)
    stored: dict[str, list[Any]] = {k: list(cols[i]) for i, k in enumerate(KEYS)}
    keys = {k: list(v) for k, v in stored.items()}
    partials: list[bytes] = list(cols[-1])
    tz = zone(agg.timezone)
    out_layer = layer
    # Per bin dimension: how its elements are named, and the label of their level.
    level: dict[str, str] = {}
    if "area" not in q.keep:
        keys["area"] = [""] * n
        out_layer = None
    elif q.keep["area"] and layer is not None and q.keep["area"] != layer.spec:
        try:
            out_layer = get_layer(q.keep["area"])
        except UnknownLayer as exc:
            raise QueryError(f"b.area: {exc}") from None
        codes = layer.codes(keys["area"])
        keys["area"] = _rebin_areas(layer, codes, out_layer)
        level["area"] = f"area:{out_layer.spec}"
    if "time" not in q.keep:
        keys["period"] = [0] * n
        unit = "all"
    elif q.keep["time"]:
        unit = q.keep["time"]
        keys["period"] = slice_start(np.array(keys["period"], np.int64), unit, tz).tolist()
        level["time"] = f"time:{unit}@{agg.timezone}"
    else:
        unit = agg.time
    for name, empty in (("hour", -1), ("dow", -1), ("isp", "")):
        if name not in q.keep:
            keys[name] = [empty] * n
    dims = agg.bins
    stored_level = {
        "area": f"area:{agg.area}",
        "time": f"time:{agg.time}@{agg.timezone}",
        "hour": "hour",
        "dow": "dow",
        "isp": "isp",
    }
    mode: dict[str, str] = {}
    for d in dims:
        if d in filt.named or (d == "time" and _summed(agg.time, q.keep.get("time", ""))):
            mode[d] = "filter"
            level[d] = stored_level[d]
        elif d in q.keep and not (d == "time" and q.keep["time"] == "all"):
            mode[d] = "kept"
            level.setdefault(d, stored_level[d])
        else:
            mode[d] = "all"
            level[d] = f"{d}:*"

    tuples = list(zip(*(keys[k] for k in KEYS), strict=True))
    index: dict[tuple[Any, ...], int] = {}
    for t in tuples:
        if t[0] is not None:
            index.setdefault(t, len(index))
    cells = sorted(index, key=lambda t: (t[0], t[1], t[2], t[3], t[4]))
    position = {t: i for i, t in enumerate(cells)}

    # The present elements: each holds the bins of one element of one cell.
    elements: dict[tuple[Any, ...], int] = {}
    bin_element = np.full(n, -1, np.int64)
    parts = [
        itertools.repeat("*", n)
        if mode[d] == "all"
        else stored[_KEY[d]]
        if mode[d] == "filter"
        else keys[_KEY[d]]
        for d in dims
    ]
    cell_of_element: list[int] = []
    for i, (t, e) in enumerate(zip(tuples, zip(*parts, strict=False), strict=False)):
        if t[0] is None:
            continue
        j = elements.get(e)
        if j is None:
            j = elements[e] = len(elements)
            cell_of_element.append(position[t])
        bin_element[i] = j
    inside = np.flatnonzero(bin_element >= 0)
    owner = bin_element[inside]
    m = len(elements)
    blobs = [partials[i] for i in inside.tolist()]
    counts_only = set(q.stats) <= COUNT_STATS
    frame: fr.Frame | None = None
    if counts_only:
        dl_n, ul_n, bin_digest = fr.summaries(blobs)
    else:
        frame, bin_digest = fr.unpack(blobs)
        dl_n, ul_n = frame.values["dl_n"], frame.values["ul_n"]
    exact_counts = {
        p: np.bincount(owner, weights=counts, minlength=m).astype(np.int64)
        for p, counts in (("dl", dl_n), ("ul", ul_n))
    }
    digest = np.zeros(m, np.uint64)
    with np.errstate(over="ignore"):
        np.add.at(digest, owner, bin_digest)
    digests = digest.tolist()
    element_cell = np.array(cell_of_element, np.int64)

    # The elements each cell names, present or not (a present element is always named: the
    # filters that select bins are the ones that name elements).
    named = _named_elements(agg, q, dims, mode, filt, layer, out_layer, unit, tz, cells)
    listed_elements = {e for cell in named for e in cell}
    for e, j in elements.items():
        if e not in listed_elements:  # not expected; never leave tests out of a cell
            named[int(element_cell[j])].append(e)
    total_named = sum(len(e) for e in named)
    if total_named > MAX_ELEMENTS:
        raise QueryError(
            f"the answer would sum {total_named} cells of the stored data (at most"
            f" {MAX_ELEMENTS}): filter fewer values or merge (b.<bin>=all) instead"
        )
    prefix = f"{agg.name}\x1f".encode()
    ids = [
        prefix + "\x1f".join(f"{level[d]}={v}" for d, v in zip(dims, e, strict=True)).encode()
        for cell in named
        for e in cell
    ]
    present = [elements.get(e, -1) for cell in named for e in cell]
    sizes = np.array([len(e) for e in named], np.int64)
    cell_of = np.repeat(np.arange(len(cells), dtype=np.int64), sizes)
    thresholds = np.array(
        [publish_threshold(int(s), agg.min_tests) for s in sizes.tolist()], np.int64
    )

    # Which cells are listed: a direction's noisy count reaches the threshold.
    noise = element_noise(secret, ids, [digests[j] if j >= 0 else 0 for j in present], 2)
    noisy_counts = {}
    for k, p in enumerate(("dl", "ul")):
        counts = np.bincount(element_cell, weights=exact_counts[p], minlength=len(cells))
        noisy_counts[p] = counts.astype(np.int64) + np.bincount(
            cell_of, weights=noise[:, k], minlength=len(cells)
        ).astype(np.int64)
    listed = np.flatnonzero(published(noisy_counts, thresholds))
    total = int(listed.size)
    page = listed[q.offset : q.offset + q.limit]

    size = int(page.size)
    hists = {p: np.zeros((size, width), np.int64) for p, width in HIST_WIDTH.items()}
    clients = np.zeros(size, np.int64)
    if frame is not None:  # the page's full releases: clients and fine histograms too
        on_page = np.flatnonzero(np.isin(cell_of, page))
        full = element_noise(
            secret,
            [ids[k] for k in on_page.tolist()],
            [digests[present[k]] if present[k] >= 0 else 0 for k in on_page.tolist()],
            WIDTH,
        )
        slot = np.full(len(cells), -1, np.int64)
        slot[page] = np.arange(size)
        rows_of = slot[cell_of[on_page]]
        mine = np.isin(element_cell, page)
        kept = int(mine.sum())
        local = np.full(m, kept, np.int64)  # elements of other pages: one row, dropped
        local[mine] = np.arange(kept)
        efr = fr.reduce(frame, local[owner], kept + 1)
        e_row = np.append(slot[element_cell[mine]], -1)

        def per_row(element_values: Any, noise_values: Any) -> Any:
            exact = np.zeros((size, *element_values.shape[1:]), np.int64)
            np.add.at(exact, e_row[:-1], element_values[:-1])
            added = np.zeros((size, *noise_values.shape[1:]), np.int64)
            np.add.at(added, rows_of, noise_values)
            return exact + added

        capped = np.minimum(fr.distinct_clients(efr), CLIENT_CAP).astype(np.int64)
        clients = per_row(capped, full[:, CLIENTS])
        for p in ("dl", "ul", "rtt"):
            sk = efr.sketches[p]
            fine = fine_index(bucket_value(sk.index)) if sk.index.size else np.zeros(0, np.int64)
            flat = np.bincount(
                sk.owner * FINE_BINS + fine, weights=sk.count, minlength=efr.size * FINE_BINS
            )
            exact_hist = flat.astype(np.int64).reshape(efr.size, FINE_BINS)
            start = HIST_START[p]
            hists[p] = per_row(exact_hist, full[:, start : start + FINE_BINS])
        for p, stored_name in EVIDENCE_HISTS.items():
            start = HIST_START[p]
            noise_part = full[:, start : start + HIST_WIDTH[p]]
            hists[p] = per_row(efr.values[stored_name].astype(np.int64), noise_part)
    noisy = Noisy(
        counts={p: noisy_counts[p][page] for p in ("dl", "ul")},
        clients=clients,
        hists=hists,
        threshold=thresholds[page],
    )
    values = publish(noisy, q.stats, agg.min_clients, cases)
    result_rows = []
    for i, cell_index in enumerate(page.tolist()):
        t = cells[cell_index]
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
        for stat in q.stats:
            row[stat] = values[stat][i]
        result_rows.append(row)
    areas = [cells[c][0] for c in page.tolist()] if "area" in q.keep else [None] * size
    return Answer(result_rows, areas, out_layer, total, q.offset, q.limit, q.stats)


# Re-binning time sums the stored slices' elements when a coarse slice holds few of them
# (its figures then use no noise of their own: the map's months, quarters and years are one
# kind of release, not three); otherwise the coarse slices are elements of their own.
_SUMMED = {("month", "quarter"), ("month", "year"), ("quarter", "year"), ("day", "week")}
# Longer than any slice of the unit: a slice's start plus this is inside the next slice.
_LONGEST = {"day": 26 * 3600, "week": 8 * 86400, "quarter": 93 * 86400, "year": 367 * 86400}


def _summed(stored: str, target: str) -> bool:
    return (stored, target) in _SUMMED


def _at(d: str) -> int:
    return KEYS.index(_KEY[d])


def _rebin_areas(layer: AreaLayer, codes: Any, target: AreaLayer) -> list[str | None]:
    """The ``target`` key of each area code of ``layer`` (None: outside every target area)."""
    mapped = rebin_codes(layer, codes, target) if codes.size else codes
    ok = mapped >= 0
    names = iter(target.keys(mapped[ok]) if ok.any() else [])
    return [next(names) if good else None for good in ok.tolist()]


def _named_elements(
    agg: Aggregation,
    q: StatsQuery,
    dims: list[str],
    mode: dict[str, str],
    filt: _Filters,
    layer: AreaLayer | None,
    out_layer: AreaLayer | None,
    unit: str,
    tz: Any,
    cells: list[tuple[Any, ...]],
) -> list[list[tuple[Any, ...]]]:
    """For each cell, the elements its query names (the product over the dimensions)."""
    # A filtered dimension that is also re-binned names, in each cell, the filter's values
    # that re-bin into it.
    groups: dict[str, dict[Any, list[Any]]] = {}
    for d in dims:
        if mode[d] != "filter" or not q.keep.get(d) or d not in filt.named:
            continue
        values = filt.named[d]
        if d == "time":
            starts = slice_start(np.array(values, np.int64), unit, tz).tolist()
            targets: list[Any] = starts
        elif layer is not None and out_layer is not None and out_layer is not layer:
            codes = layer.codes(values)
            valid = codes >= 0
            mapped = _rebin_areas(layer, codes[valid], out_layer)
            values = [v for v, ok in zip(values, valid.tolist(), strict=True) if ok]
            targets = mapped
        else:
            continue
        grouped: dict[Any, list[Any]] = {}
        for v, target in zip(values, targets, strict=True):
            if target is not None:
                grouped.setdefault(target, []).append(v)
        groups[d] = grouped
    out = []
    for cell in cells:
        parts: list[list[Any]] = []
        for d in dims:
            if mode[d] == "all":
                parts.append(["*"])
            elif mode[d] == "kept":
                parts.append([cell[_at(d)]])
            elif d in groups:
                parts.append(groups[d].get(cell[_at(d)], []))
            elif d == "time" and d not in filt.named:  # a re-binned slice: its stored ones
                start = cell[_at(d)]
                end = int(slice_start(np.array([start + _LONGEST[unit]]), unit, tz)[0])
                parts.append(slices_between(start, end - 1, agg.time, tz, MAX_ELEMENTS))
            elif d in q.keep:
                parts.append([cell[_at(d)]])
            else:
                parts.append(filt.named[d])
        out.append(list(itertools.product(*parts)))
    return out
