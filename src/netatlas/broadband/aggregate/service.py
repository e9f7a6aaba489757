"""The statistics API's domain side: the declared aggregations, answers with ETags, and a
small cache of recent answers (an answer only changes when its aggregation's version does).

Answers publish only noisy figures (see :mod:`.privacy`); the noise is keyed by ``secret``,
which every process serving the site must share (the site secret's derived key), so that
every process gives the same answer and no two can be averaged.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Engine, func, select

from netatlas.broadband.aggregate import privacy
from netatlas.broadband.aggregate.config import (
    Aggregation,
    aggregations_source,
    use_cases_source,
)
from netatlas.broadband.aggregate.models import stats_bin
from netatlas.broadband.aggregate.query import Answer, QueryError, parse_query, run_query
from netatlas.broadband.aggregate.report import DEFAULT_STATS, stat_names
from netatlas.broadband.aggregate.store import states
from netatlas.broadband.aggregate.timebins import coarser
from netatlas.broadband.areas import AreaLayer, UnknownLayer, get_layer
from netatlas.broadband.usecases import UseCaseTable, table
from netatlas.http.csvsafe import csv_cell

__all__ = ["StatsResult", "StatsService", "render"]

CACHE_SIZE = 32
_encode = msgspec.json.encode


@dataclass
class StatsResult:
    etag: str
    answer: Answer | None  # None when the client's copy is current
    format: str


class StatsService:
    def __init__(self, engine: Engine, aggregations_path: str = "", secret: bytes = b"") -> None:
        """``secret`` keys the published noise; without one the service lists aggregations
        but answers no query."""
        self.engine = engine
        self.secret = secret
        self._source = aggregations_source(engine, aggregations_path)
        self._source.current()  # a bad settings file: ConfigError now, not on a request
        self._cases = use_cases_source(engine, aggregations_path)
        self._cache: OrderedDict[str, Answer] = OrderedDict()
        self._lock = threading.Lock()

    def reload(self) -> None:
        """Read the declared aggregations again on the next call (after an admin edit)."""
        self._source.forget()
        self._cases.forget()

    @property
    def declared(self) -> dict[str, Aggregation]:
        """The aggregations in force (edits on the admin pages apply within seconds)."""
        return {a.name: a for a in self._source.current()}

    @property
    def use_cases(self) -> UseCaseTable:
        """The use-case table in force (part of the aggregations settings)."""
        return self._cases.current()

    def aggregations(self, public: bool = True) -> list[dict[str, Any]]:
        """What ``/api/v1/broadband/aggregations`` lists; ``public=False`` (the admin pages)
        adds each aggregation's count of stored bins, which the public must not see: watching
        it grow would tell when a test arrived in a new area, provider or month."""
        with self.engine.connect() as conn:
            known = states(conn)
            counts: dict[str, int] = dict(
                conn.execute(
                    select(stats_bin.c.aggregation, func.count()).group_by(stats_bin.c.aggregation)
                ).all()
            )
        cases = self.use_cases
        stats = list(stat_names(cases))
        out = []
        for agg in self.declared.values():
            state = known.get(agg.name)
            out.append(
                {
                    "name": agg.name,
                    "bins": agg.bins,
                    "area": agg.area,
                    "time": agg.time,
                    "time_rebin": coarser(agg.time),
                    "timezone": agg.timezone,
                    "location": agg.location,
                    "min_tests": agg.min_tests,
                    "min_clients": agg.min_clients,
                    "publish_threshold": privacy.publish_threshold(1, agg.min_tests),
                    "tests_per_client_day": agg.tests_per_client_day,
                    "sources": list(agg.sources),
                    "stats": stats,
                    "use_cases": table(cases),
                    "score_percentile": cases.percentile,
                    "default_stats": list(DEFAULT_STATS),
                    "updated": state.updated.isoformat() + "Z" if state else None,
                    "version": state.version if state else 0,
                }
            )
            if not public:
                out[-1]["bin_count"] = int(counts.get(agg.name, 0))
        return out

    def _aggregation(self, name: str) -> Aggregation:
        agg = self.declared.get(name)
        if agg is None:
            raise QueryError(f"unknown aggregation {name!r}", sorted(self.declared))
        return agg

    def _layer(self, spec: str) -> AreaLayer:
        return get_layer(self.engine, spec)

    def answer(self, name: str, params: Mapping[str, str], if_none_match: str = "") -> StatsResult:
        """The answer to a query (or just its ETag when ``if_none_match`` holds it).
        Raises QueryError."""
        agg = self._aggregation(name)
        cases = self.use_cases
        query = parse_query(agg, params, cases)
        with self.engine.connect() as conn:
            state = states(conn).get(agg.name)
        version = f"{state.fingerprint}:{state.version}" if state else "0"
        canonical = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        # The declaration (min_tests may change first) and the use cases judged by.
        text = f"{agg!r}|{cases!r}|{version}|{canonical}"
        digest = hashlib.sha256(text.encode()).hexdigest()[:24]
        etag = f'"{digest}"'
        if etag in if_none_match:
            return StatsResult(etag, None, query.format)
        with self._lock:
            cached = self._cache.get(etag)
            if cached is not None:
                self._cache.move_to_end(etag)
                return StatsResult(etag, cached, query.format)
        if not self.secret:
            raise RuntimeError("the statistics service answers only with a secret")
        try:
            layer = get_layer(self.engine, agg.area) if agg.area else None
        except UnknownLayer as exc:
            raise QueryError(f"aggregation {agg.name!r} is not ready: {exc}") from None
        answer = run_query(self.engine, agg, layer, query, self._layer, self.secret, cases)
        with self._lock:
            self._cache[etag] = answer
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return StatsResult(etag, answer, query.format)


def _feature(answer: Answer, i: int, row: dict[str, Any]) -> bytes:
    key = answer.areas[i]
    geometry = answer.layer.geometry(key) if answer.layer is not None and key else None
    return b"".join(
        (
            b'{"type":"Feature","id":',
            _encode(key) if key is not None else str(i + answer.offset).encode(),
            b',"geometry":',
            geometry or b"null",
            b',"properties":',
            _encode(row),
            b"}",
        )
    )


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = "|".join(map(str, value))
    return csv_cell(value)  # ISP and area names are text from outside: never a formula


def render(name: str, answer: Answer, fmt: str, next_url: str | None) -> tuple[bytes, str]:
    """The answer as GeoJSON, JSON or CSV; returns the body and its media type."""
    meta = {
        "aggregation": name,
        "stats": list(answer.stats),
        "total": answer.total,
        "offset": answer.offset,
        "limit": answer.limit,
        "next": next_url,
    }
    if fmt == "csv":
        text = io.StringIO()
        columns = list(answer.rows[0]) if answer.rows else list(answer.stats)
        # CRLF (RFC 4180): a cell holding a lone CR is then quoted too.
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(columns)
        for row in answer.rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
        return text.getvalue().encode(), "text/csv; charset=utf-8"
    if fmt == "json":
        return _encode({**meta, "rows": answer.rows}), "application/json"
    head = _encode({"type": "FeatureCollection", **meta})[:-1]
    features = b",".join(_feature(answer, i, row) for i, row in enumerate(answer.rows))
    return head + b',"features":[' + features + b"]}", "application/geo+json"
