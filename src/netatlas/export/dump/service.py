"""Writing a day's dump to the export store, and listing the dumps there.

Dumps go to the export store (``NETATLAS_EXPORT_STORE_URL``) under ``dump/``: the data file
``netatlas-dump-YYYY-MM-DD.csv.gz`` and its manifest ``netatlas-dump-YYYY-MM-DD.json``. The
newest :data:`KEEP` days are kept. Each day's salt is derived from the site secret and the day,
so the file is the same however often that day's dump is rebuilt from the same stations, and
nobody can compute keys for a day before its dump is out.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

import msgspec

from netatlas.export.downloads import export_store
from netatlas.export.dump.build import DumpConfig, Manifest, build_rows, daily_salt, write_dump
from netatlas.export.dump.select import candidates
from netatlas.http.secret import site_secret
from netatlas.jobs.context import Context
from netatlas.settings import Settings
from netatlas.storage.files import FileStore, Upload

__all__ = [
    "KEEP",
    "PREFIX",
    "DumpFile",
    "build_dump",
    "config_from",
    "dump_daily",
    "list_dumps",
    "publish_dump",
]

PREFIX: Final = "dump/"
KEEP: Final = 3
_NAME: Final = re.compile(r"^netatlas-dump-(\d{4}-\d\d-\d\d)\.(csv\.gz|json)$")


class DumpFile(msgspec.Struct, frozen=True):
    name: str  # without the store prefix: served at /downloads/dump/{name}
    size: int
    date: str
    kind: str  # "data" or "manifest"


def config_from(settings: Settings) -> DumpConfig:
    return DumpConfig(
        grid_metres=settings.dump_grid_metres,
        k=settings.dump_min_stations,
        log2_n=settings.dump_hash_cost,
        licence=settings.dump_licence,
    )


def data_name(day: str) -> str:
    return f"netatlas-dump-{day}.csv.gz"


def build_dump(
    ctx: Context,
    day: dt.date,
    config: DumpConfig | None = None,
    salt: str | None = None,
    threads: int | None = None,
) -> tuple[bytes, Manifest]:
    """The dump of the stations publishable on ``day`` (not stored)."""
    config = config or config_from(ctx.settings)
    iso = day.isoformat()
    if salt is None:
        salt = daily_salt(site_secret(ctx.settings.secret_key, ctx.settings.data_dir), iso)
    with ctx.engine.connect() as conn:
        conn.execution_options(readonly=True)
        stations = list(candidates(conn, day.toordinal()))
    rows, params, counts = build_rows(stations, config, salt, threads)
    return write_dump(rows, params, config, counts, data_name(iso), iso)


def publish_dump(ctx: Context, day: dt.date | None = None) -> Manifest:
    """Build the day's dump (default: today, UTC) and store it with its manifest."""
    day = day or dt.datetime.now(dt.UTC).date()
    store = export_store(ctx.settings)
    data, manifest = build_dump(ctx, day)
    name = data_name(day.isoformat())
    store.put_many(
        [
            Upload(PREFIX + name, data, "application/gzip"),
            Upload(
                PREFIX + name.replace(".csv.gz", ".json"),
                msgspec.json.format(msgspec.json.encode(manifest)) + b"\n",
                "application/json",
            ),
        ]
    )
    prune(store)
    return manifest


def prune(store: FileStore) -> int:
    days = sorted({f.date for f in list_dumps(store)}, reverse=True)
    gone = 0
    for f in list_dumps(store):
        if f.date not in days[:KEEP]:
            store.delete(PREFIX + f.name)
            gone += 1
    return gone


def list_dumps(store: FileStore) -> list[DumpFile]:
    """The stored dump files, newest first (the data file before its manifest)."""
    found = []
    for f in store.list(PREFIX):
        match = _NAME.match(f.name[len(PREFIX) :])
        if match is None:
            continue
        kind = "data" if match.group(2) == "csv.gz" else "manifest"
        found.append(DumpFile(f.name[len(PREFIX) :], f.size, match.group(1), kind))
    return sorted(found, key=lambda d: (d.date, d.kind == "data"), reverse=True)


def dump_daily(ctx: Context) -> str | None:
    """The daily job: today's dump unless it exists or dumps are off (``NETATLAS_DUMP_DAILY``)."""
    if not ctx.settings.dump_daily:
        return None
    today = dt.datetime.now(dt.UTC).date()
    store = export_store(ctx.settings)
    name = data_name(today.isoformat())
    if any(f.name == name for f in list_dumps(store)):
        return None
    publish_dump(ctx, today)
    return name
