"""Declared aggregations: what to bin by and how, edited on the admin pages or read from
``NETATLAS_AGGREGATIONS_PATH``.

The file is TOML (or JSON with the same shape)::

    [[aggregation]]
    name = "by_county"            # letters, digits, - and _
    area = "counties"             # an imported layer, "countries", "h3:8", "quadkey:16";
                                  # omitted: no spatial bin
    time = "month"                # hour, day, week, month, quarter, year or all
    hour_of_day = false           # also bin by local hour (0–23)
    day_of_week = false           # also bin by local weekday (0 Monday – 6 Sunday)
    timezone = "America/Los_Angeles"   # for slices, hours and weekdays; default UTC
    isp = true                    # bin by ISP (the AS name, rewritten below)
    location = "survey"           # "ip" (default): the IP location; "survey": a survey's
                                  # consented browser location replaces it
    area_tolerance_km = 25        # polygon layers: a test outside every area but this close
                                  # to one counts in the nearest; 0: only inside an area
    min_tests = 5                 # fewer tests of a direction: its figures are withheld (the
                                  # privacy threshold may ask more, see /privacy)
    min_clients = 3               # fewer distinct clients in a cell: only counts are published
    tests_per_client_day = 2      # M-Lab-style de-duplication; 0: keep every test
    sources = ["local", "mlab", "import"]   # default: all
    [aggregation.isp_rewrites]    # Piecewise's form: display name = [patterns]
    "CenturyLink" = ["qwest", "embarq", "centurytel", "centurylink"]

The same document holds the use-case table the scores are judged by (see
:mod:`netatlas.broadband.usecases`; omitted: IQB's six uses)::

    [scores]
    percentile = 90               # latency and loss at p90, download and upload at p10
    [[use_case]]
    key = "gaming"
    label = "Online gaming"
    download = 25                 # Mbit/s, at least
    upload = 25
    latency = 10                  # ms, at most
    loss = 0.5                    # %, at most
    weights = {download = 1, upload = 1, latency = 1, loss = 1}
    weight = 1                    # in the overall score

Binned by ``countries``, a test whose source gave its country (M-Lab's client geolocation,
the GeoIP answer of a test run here) counts in that country wherever its point lies, unless a
survey's browser location replaced the IP location.

A pattern matches case-insensitively anywhere in ``AS<number> <AS name>``; ``/…/`` is a
regular expression. The first rule that matches names the ISP; otherwise the AS name is used.
Aggregations saved on the admin pages (the same shape, as JSON) take precedence over the
file; without either, :data:`DEFAULTS` apply.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from netatlas.broadband.aggregate.timebins import UNITS, zone
from netatlas.broadband.areas import DEFAULT_TOLERANCE_M
from netatlas.broadband.usecases import (
    UseCaseError,
    UseCaseTable,
    parse_use_cases,
    table_as_document,
)
from netatlas.db.documents import Configured, get_document

__all__ = [
    "DEFAULTS",
    "DOCUMENT",
    "Aggregation",
    "ConfigError",
    "aggregations_source",
    "as_document",
    "load_aggregations",
    "load_use_cases",
    "parse_aggregations",
    "use_cases_of",
    "use_cases_source",
]

#: The name of the aggregations saved on the admin pages (``config_document``).
DOCUMENT = "aggregations"

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SOURCES = ("local", "mlab", "import")
#: Largest ``area_tolerance_km`` accepted.
MAX_TOLERANCE_KM = 200.0
#: Bumped when the stored form of bins changes (columns, client hashes), so that every
#: aggregation is rebuilt by the next update rather than merging old bins with new ones.
STORAGE_FORMAT = 3  # 3: advertised-ratio and loss histograms


class ConfigError(ValueError):
    """The aggregations file is wrong; the message says where."""


@dataclass(frozen=True)
class Aggregation:
    name: str
    area: str | None = None
    time: str = "month"
    hour_of_day: bool = False
    day_of_week: bool = False
    timezone: str = "UTC"
    isp: bool = False
    isp_rewrites: tuple[tuple[str, str], ...] = ()  # (pattern, display name)
    location: str = "ip"
    area_tolerance_km: float = DEFAULT_TOLERANCE_M / 1000
    min_tests: int = 5
    min_clients: int = 3
    tests_per_client_day: int = 0
    sources: tuple[str, ...] = field(default=SOURCES)

    def fingerprint(self, layer_version: str = "") -> str:
        """Changes whenever the bins would: a different declaration or polygon layer."""
        declared = asdict(self)
        declared.pop("min_clients")  # decides what is published, not what is stored
        text = json.dumps([declared, layer_version, STORAGE_FORMAT], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def bins(self) -> list[str]:
        """The dimensions this aggregation bins by."""
        dims = []
        if self.area:
            dims.append("area")
        dims.append("time")
        if self.hour_of_day:
            dims.append("hour")
        if self.day_of_week:
            dims.append("dow")
        if self.isp:
            dims.append("isp")
        return dims


DEFAULTS: tuple[Aggregation, ...] = (
    Aggregation("countries", area="countries", time="month", isp=True),
    Aggregation("hex8", area="h3:8", time="month", isp=True, location="survey"),
    Aggregation("tiles", area="quadkey:16", time="quarter"),
)


def _rewrites(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    rules: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for display, patterns in value.items():
            if isinstance(patterns, str):
                patterns = [patterns]
            if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                raise ConfigError(f"{where}: isp_rewrites.{display} must be a list of patterns")
            rules.extend((p, str(display)) for p in patterns)
    elif isinstance(value, list):
        for item in value:
            if not (
                isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
            ):
                raise ConfigError(f"{where}: isp_rewrites entries are [pattern, name] pairs")
            rules.append((item[0], item[1]))
    else:
        raise ConfigError(f"{where}: isp_rewrites must be a table or a list of pairs")
    for pattern, _ in rules:
        if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
            try:
                re.compile(pattern[1:-1])
            except re.error as exc:
                raise ConfigError(f"{where}: bad regular expression {pattern}: {exc}") from None
    return tuple(rules)


_KEYS = {
    "name", "area", "time", "hour_of_day", "day_of_week", "timezone", "isp", "isp_rewrites",
    "location", "area_tolerance_km", "min_tests", "min_clients", "tests_per_client_day",
    "sources",
}  # fmt: skip


def _one(raw: Any, where: str) -> Aggregation:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}: name must be 1–64 letters, digits, - or _")
    where = f"aggregation {name!r}"
    area = raw.get("area")
    if area is not None and (not isinstance(area, str) or not area):
        raise ConfigError(f"{where}: area must be a layer name")
    time = raw.get("time", "month")
    if time not in UNITS:
        raise ConfigError(f"{where}: time must be one of {', '.join(UNITS)}")
    tz = raw.get("timezone", "UTC")
    try:
        zone(str(tz))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    location = raw.get("location", "ip")
    if location not in ("ip", "survey"):
        raise ConfigError(f"{where}: location must be ip or survey")
    sources = raw.get("sources", list(SOURCES))
    if not isinstance(sources, list) or not set(sources) <= set(SOURCES) or not sources:
        raise ConfigError(f"{where}: sources must be a list drawn from {', '.join(SOURCES)}")
    ints = {}
    for key, default in (("min_tests", 5), ("min_clients", 3), ("tests_per_client_day", 0)):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: {key} must be a whole number ≥ 0")
        ints[key] = value
    flags = {}
    for key in ("hour_of_day", "day_of_week", "isp"):
        value = raw.get(key, False)
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false")
        flags[key] = value
    tolerance = raw.get("area_tolerance_km", DEFAULT_TOLERANCE_M / 1000)
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not 0 <= tolerance <= MAX_TOLERANCE_KM
    ):
        raise ConfigError(
            f"{where}: area_tolerance_km must be a number from 0 to {MAX_TOLERANCE_KM:g}"
        )
    rewrites = _rewrites(raw["isp_rewrites"], where) if "isp_rewrites" in raw else ()
    return Aggregation(
        name=name,
        area=area,
        time=time,
        timezone=str(tz),
        location=location,
        area_tolerance_km=float(tolerance),
        isp_rewrites=rewrites,
        sources=tuple(sources),
        min_tests=ints["min_tests"],
        min_clients=ints["min_clients"],
        tests_per_client_day=ints["tests_per_client_day"],
        hour_of_day=flags["hour_of_day"],
        day_of_week=flags["day_of_week"],
        isp=flags["isp"],
    )


def parse_aggregations(data: Any) -> tuple[Aggregation, ...]:
    """Aggregations from the decoded file (``{"aggregation": [ {...}, ... ]}``)."""
    items = data.get("aggregation") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ConfigError("expected a list of [[aggregation]] tables")
    result = tuple(_one(raw, f"aggregation #{i + 1}") for i, raw in enumerate(items))
    names = [a.name for a in result]
    if len(set(names)) != len(names):
        raise ConfigError("aggregation names must be unique")
    use_cases_of(data)  # the use-case table travels in the same document
    return result


def _read_file(path: str) -> Any:
    file = Path(path)
    try:
        raw = file.read_bytes()
        return json.loads(raw) if file.suffix.lower() == ".json" else tomllib.loads(raw.decode())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_aggregations(path: str, engine: Engine | None = None) -> tuple[Aggregation, ...]:
    """The declared aggregations: those saved on the admin pages when ``engine`` is given and
    some are, else the file ``path``, else the defaults."""
    if engine is not None:
        with engine.connect() as conn:
            doc = get_document(conn, DOCUMENT)
        if doc is not None:
            return parse_aggregations(doc.data())
    if not path:
        return DEFAULTS
    return parse_aggregations(_read_file(path))


def use_cases_of(data: Any) -> UseCaseTable:
    """The use-case table of a decoded aggregations document. Raises ConfigError."""
    try:
        return parse_use_cases(data)
    except UseCaseError as exc:
        raise ConfigError(str(exc)) from None


def load_use_cases(path: str, engine: Engine | None = None) -> UseCaseTable:
    """The use-case table in force: of the document saved on the admin pages when ``engine``
    is given and one is, else of the file ``path``, else the default."""
    if engine is not None:
        with engine.connect() as conn:
            doc = get_document(conn, DOCUMENT)
        if doc is not None:
            return use_cases_of(doc.data())
    return use_cases_of(_read_file(path)) if path else use_cases_of({})


def use_cases_source(engine: Engine, path: str) -> Configured[UseCaseTable]:
    """The use-case table in force, following edits made on the admin pages."""
    return Configured(engine, DOCUMENT, use_cases_of, lambda: load_use_cases(path))


def aggregations_source(engine: Engine, path: str) -> Configured[tuple[Aggregation, ...]]:
    """The aggregations in force, following edits made on the admin pages."""
    return Configured(engine, DOCUMENT, parse_aggregations, lambda: load_aggregations(path))


def as_document(aggs: Sequence[Aggregation], cases: UseCaseTable | None = None) -> dict[str, Any]:
    """Aggregations (and the use-case table, when given) as the document
    :func:`parse_aggregations` reads (the admin editor shows the ones in force this way);
    settings left at their default are left out."""
    out = []
    for a in aggs:
        item: dict[str, Any] = {}
        for f in fields(a):
            value = getattr(a, f.name)
            if f.name != "name" and value == f.default:
                continue
            if f.name == "isp_rewrites":
                value = [list(rule) for rule in value]
            item[f.name] = list(value) if isinstance(value, tuple) else value
        out.append(item)
    document: dict[str, Any] = {"aggregation": out}
    if cases is not None:
        document.update(table_as_document(cases))
    return document
