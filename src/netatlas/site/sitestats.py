"""The location service's statistics as the stats page shows them: stations and observations
over time (``stat``, running totals per day) and stations by country (``region_stat``).

Ichnaea's stat keys: ``cell``, ``wifi``, ``blue`` count observations, ``unique_*`` count
stations (networks) first seen; each row holds the running total up to that day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select

from netatlas.db.stats import STAT_KEYS, region_stat, stat
from netatlas.geo.regions import region_name

__all__ = ["KINDS", "ichnaea_series", "regions", "series", "totals"]

#: The station kinds, with their stat keys and names.
KINDS: dict[str, dict[str, str]] = {
    "wifi": {"stations": "unique_wifi", "observations": "wifi", "title": "WiFi networks"},
    "cell": {"stations": "unique_cell", "observations": "cell", "title": "Cell towers"},
    "blue": {"stations": "unique_blue", "observations": "blue", "title": "Bluetooth beacons"},
}
_NAMES = {code: name for name, code in STAT_KEYS.items()}
_RADIOS = ("gsm", "wcdma", "lte", "nr")


def _rows(engine: Engine, since: dt.date | None = None) -> list[tuple[str, dt.date, int]]:
    query = select(stat.c.key, stat.c.time, stat.c.value).order_by(stat.c.key, stat.c.time)
    if since is not None:
        query = query.where(stat.c.time >= since)
    with engine.connect().execution_options(readonly=True) as conn:
        return [
            (_NAMES[key], day, int(value))
            for key, day, value in conn.execute(query)
            if key in _NAMES
        ]


def series(engine: Engine, days: int | None = None) -> dict[str, list[list[Any]]]:
    """Per stat key, ``[["YYYY-MM-DD", running total], …]`` oldest first (the last ``days``)."""
    since = None
    if days is not None:
        since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    out: dict[str, list[list[Any]]] = {name: [] for name in STAT_KEYS}
    for name, day, value in _rows(engine, since):
        out[name].append([day.isoformat(), value])
    return out


def totals(engine: Engine) -> dict[str, int]:
    """The latest running total of every stat key (0 when there is none)."""
    latest = dict.fromkeys(STAT_KEYS, 0)
    for name, _, value in _rows(engine):
        latest[name] = value  # rows come oldest first
    return latest


def ichnaea_series(engine: Engine, kind: str) -> dict[str, Any]:
    """Ichnaea's ``/stats_<kind>.json``: stations at the end of each month of the last year,
    as ``[epoch milliseconds of the month's first day, total]``."""
    key = KINDS[kind]["stations"]
    since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=365)
    months: dict[dt.date, int] = {}
    for name, day, value in _rows(engine, since):
        if name == key:
            month = day.replace(day=1)
            months[month] = max(months.get(month, 0), value)
    data = [
        [int(dt.datetime(m.year, m.month, 1, tzinfo=dt.UTC).timestamp() * 1000), v]
        for m, v in sorted(months.items())
    ]
    return {"series": [{"title": KINDS[kind]["title"], "data": data}]}


def _name(code: str) -> str:
    try:
        return region_name(code)
    except KeyError:
        return code


def regions(engine: Engine) -> list[dict[str, Any]]:
    """Stations per region, most first: cells by radio, WiFi and Bluetooth."""
    with engine.connect().execution_options(readonly=True) as conn:
        rows = conn.execute(select(region_stat)).all()
    out = []
    for row in rows:
        cells = {radio: int(getattr(row, radio)) for radio in _RADIOS}
        item = {
            "region": row.region,
            "name": _name(row.region),
            **cells,
            "cell": sum(cells.values()),
            "wifi": int(row.wifi),
            "blue": int(row.blue),
        }
        item["total"] = item["cell"] + item["wifi"] + item["blue"]
        out.append(item)
    out.sort(key=lambda r: (-r["total"], r["name"]))
    return out
