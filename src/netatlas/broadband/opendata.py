"""Open data: the published statistics as Parquet and GeoJSON files, like Ookla's open tiles.

Once a day, for every declared aggregation, the job asks the statistics service for every
cell, exactly as ``/api/v1/broadband/stats/{aggregation}?format=json`` answers it (every
declared bin kept, every published statistic but the histograms), page by page, and writes
the rows to ``netatlas-aggregates-DATE-AGGREGATION.parquet`` and ``.geojson`` (the areas'
outlines as geometry), with ``netatlas-aggregates-DATE-licence.txt``, in the export store
(``NETATLAS_EXPORT_STORE_URL``); ``/downloads`` and ``/api/v1/downloads`` list them.

The files go through the statistics service and nothing else: they hold the same noisy,
thresholded figures the API publishes (see :mod:`netatlas.broadband.aggregate.privacy`), never
the stored bins. A cell the API does not list is not in the files; a withheld figure is null.
The newest :data:`KEEP` days of files are kept. Parquet needs pyarrow (the ``parquet`` extra);
without it only the GeoJSON and the licence are written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgspec
from sqlalchemy import Engine

from netatlas.broadband.aggregate.query import MAX_LIMIT, Answer
from netatlas.broadband.aggregate.report import STATS
from netatlas.broadband.aggregate.service import StatsService
from netatlas.http.secret import derive, site_secret
from netatlas.jobs.context import Context
from netatlas.settings import Settings
from netatlas.storage.files import FileStore

__all__ = ["OPEN_STATS", "add_parser", "open_data_publish", "publish_open_data", "query_params"]

log = logging.getLogger(__name__)
PREFIX = "netatlas-aggregates-"
KEEP = 7
#: The statistics the files carry: every published one but the histograms (lists).
OPEN_STATS = tuple(s for s in STATS if not s.endswith("_histogram"))
_encode = msgspec.json.encode

LICENCES = {
    "CC0-1.0": (
        "Creative Commons CC0 1.0 Universal (public domain dedication)",
        "https://creativecommons.org/publicdomain/zero/1.0/",
        "To the extent possible under law, the publisher of this site waives all copyright and "
        "related rights in these files. You may copy, modify and distribute them, even "
        "commercially, without asking permission. Credit is welcome but not required.",
    ),
    "ODbL-1.0": (
        "Open Data Commons Open Database License (ODbL) 1.0",
        "https://opendatacommons.org/licenses/odbl/1-0/",
        "You may share, create works from and adapt these files, as long as you attribute "
        "them to this site, keep any adapted database open under the ODbL, and do not apply "
        "technical restrictions that prevent others from doing the same.",
    ),
}


def query_params(offset: int = 0) -> dict[str, str]:
    """The statistics query each file page is (the same on the public API)."""
    return {
        "format": "json",
        "stats": ",".join(OPEN_STATS),
        "limit": str(MAX_LIMIT),
        "offset": str(offset),
    }


def _pages(service: StatsService, name: str) -> Iterator[Answer]:
    offset = 0
    while True:
        answer = service.answer(name, query_params(offset)).answer
        assert answer is not None
        yield answer
        offset += answer.limit
        if offset >= answer.total:
            return


def licence_text(licence: str, day: dt.date, names: list[str]) -> str:
    title, url, summary = LICENCES[licence]
    files = "\n".join(f"  {PREFIX}{day.isoformat()}-{n}.parquet / .geojson" for n in names)
    return (
        f"NetAtlas open broadband statistics, {day.isoformat()}\n\n"
        f"Files:\n{files}\n\n"
        f"Licence: {title} ({licence})\n{url}\n\n{summary}\nThe full legal text is at the "
        "address above.\n\n"
        "What the figures are: aggregates of speed tests by area, time slice and provider, "
        "exactly as the site's statistics API publishes them. Every count and distribution "
        "carries differential-privacy noise, a cell is listed only when its noisy count "
        "reaches the publication threshold, and a figure is null when too few tests or "
        "clients stand behind it (see /privacy on the site). The files never hold a single "
        "test, a client address or an exact count.\n"
    )


class _Writers:
    """A Parquet writer (when pyarrow is installed) and a GeoJSON stream for one file pair."""

    def __init__(self, parquet: Path | None, geojson: IO[bytes]) -> None:
        self.parquet_path = parquet
        self.parquet: Any = None
        self.schema: Any = None
        self.geojson = geojson
        self.features = 0
        geojson.write(b'{"type":"FeatureCollection","features":[\n')

    def add(self, answer: Answer) -> None:
        if answer.rows and self.parquet_path is not None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self.parquet is None:
                self.schema = _schema(answer.rows)
                self.parquet = pq.ParquetWriter(str(self.parquet_path), self.schema)
            self.parquet.write_table(pa.Table.from_pylist(answer.rows, schema=self.schema))
        for key, row in zip(answer.areas, answer.rows, strict=True):
            geometry = answer.layer.geometry(key) if answer.layer is not None and key else None
            if self.features:
                self.geojson.write(b",\n")
            self.geojson.write(
                b'{"type":"Feature","geometry":'
                + (geometry or b"null")
                + b',"properties":'
                + _encode(row)
                + b"}"
            )
            self.features += 1

    def close(self, columns: list[str]) -> None:
        self.geojson.write(b"\n]}\n")
        if self.parquet_path is None:
            return
        if self.parquet is None:  # no listed cell: an empty table with the columns
            import pyarrow as pa
            import pyarrow.parquet as pq

            empty = pa.table({c: pa.array([], pa.string()) for c in columns})
            pq.write_table(empty, str(self.parquet_path))
        else:
            self.parquet.close()


def _schema(rows: list[dict[str, Any]]) -> Any:
    """Counts as integers, the other statistics as doubles; bins by the type of their
    values (text keys, whole-number times and hours)."""
    import pyarrow as pa

    fields = []
    for name in rows[0]:
        if name in ("tests", "download_count", "upload_count"):
            kind = pa.int64()
        elif name in OPEN_STATS:
            kind = pa.float64()
        else:
            sample = next((r[name] for r in rows if r.get(name) is not None), None)
            if isinstance(sample, bool):
                kind = pa.bool_()
            elif isinstance(sample, int):
                kind = pa.int64()
            elif isinstance(sample, float):
                kind = pa.float64()
            else:
                kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _have_pyarrow() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def publish_open_data(
    engine: Engine, settings: Settings, store: FileStore, now: dt.datetime | None = None
) -> list[str]:
    """Write today's files unless they exist; returns the names written."""
    day = (now or dt.datetime.now(dt.UTC)).date()
    stamp = f"{PREFIX}{day.isoformat()}-"
    if any(f.name == f"{stamp}licence.txt" for f in store.list(stamp)):
        return []
    secret = derive(site_secret(settings.secret_key, settings.data_dir), "broadband-stats")
    service = StatsService(engine, settings.aggregations_path, secret)
    parquet = _have_pyarrow()
    written: list[str] = []
    names = sorted(service.declared)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".opendata-") as tmp:
        for name in names:
            pq_path = Path(tmp) / f"{name}.parquet" if parquet else None
            gj_path = Path(tmp) / f"{name}.geojson"
            with gj_path.open("wb") as gj:
                writers = _Writers(pq_path, gj)
                columns: list[str] = []
                for answer in _pages(service, name):
                    columns = list(answer.rows[0]) if answer.rows else columns
                    writers.add(answer)
                writers.close(columns or ["tests"])
            for path in (pq_path, gj_path):
                if path is not None:
                    store.put_file(f"{stamp}{name}{path.suffix}", path)
                    written.append(f"{stamp}{name}{path.suffix}")
        licence = Path(tmp) / "licence.txt"
        licence.write_text(licence_text(settings.open_data_license, day, names), "utf-8")
        store.put_file(f"{stamp}licence.txt", licence)  # last: marks the day as complete
        written.append(f"{stamp}licence.txt")
    if not parquet:
        log.warning("open data: pyarrow is not installed, Parquet files were not written")
    prune(store)
    return written


def prune(store: FileStore) -> int:
    """Delete the files of all but the newest :data:`KEEP` days."""
    files = store.list(PREFIX)
    days = sorted({f.name[len(PREFIX) : len(PREFIX) + 10] for f in files})
    old = set(days[:-KEEP])
    gone = [f.name for f in files if f.name[len(PREFIX) : len(PREFIX) + 10] in old]
    if gone:
        store.delete_many(gone)
    return len(gone)


def cmd_opendata(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.broadband.aggregate.config import ConfigError
    from netatlas.db.engine import engine_from_settings
    from netatlas.db.migrate import upgrade
    from netatlas.export.downloads import export_store

    engine = engine_from_settings(settings, pooled=False)
    try:
        upgrade(engine)
        written = publish_open_data(engine, settings, export_store(settings))
    except ConfigError as exc:
        print(f"NETATLAS_AGGREGATIONS_PATH: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    for name in written:
        print(name)
    if not written:
        print("today's files exist already")
    return 0


def add_parser(sub: Any) -> None:
    """Add ``opendata publish`` to the ``netatlas`` parser's subcommands."""
    p = sub.add_parser("opendata", help="publish the statistics as Parquet and GeoJSON files")
    p.add_argument("action", choices=["publish"])
    p.set_defaults(func=cmd_opendata)


def open_data_publish(ctx: Context) -> list[str]:
    """The daily job: today's open-data files (written once a day)."""
    from netatlas.export.downloads import export_store

    return publish_open_data(ctx.engine, ctx.settings, export_store(ctx.settings))
