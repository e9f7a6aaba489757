"""Public cell exports: an hourly diff and a daily full file in the MLS / OpenCellID CSV format.

Files go to the export store (``NETATLAS_EXPORT_STORE_URL``: the data dir's ``exports/`` or an
S3 bucket) and are listed on ``/downloads`` and ``/api/v1/downloads``. A diff named for hour H
holds the cells modified in the hour before H; the full file named for day D holds the cells
modified in the 365 days before D, so a full file and the diffs after it add up to the current
table. Both hold positioned cells only (blocked cells have no position) of every radio, NR
included; WiFi and Bluetooth are never exported (their MACs are personal data). Imported cells
are left out unless their data set is listed in ``NETATLAS_CELL_EXPORT_ORIGINS``, so
OpenCellID's share-alike data never ends up in a file under other terms.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import threading
import time
from pathlib import Path

import msgspec

from netatlas.jobs.context import Context
from netatlas.location.cells.csvfile import iter_cells, write_csv
from netatlas.settings import Settings
from netatlas.storage.files import FileStore, store_from_url

KEEP_DIFF = dt.timedelta(days=3)  # like OpenCellID's hourly files
KEEP_FULL = 7  # newest full files kept
FULL_WINDOW = dt.timedelta(days=365)
_NAME = re.compile(r"^netatlas-(full|diff)-cell-export-(\d{4}-\d\d-\d\dT\d{6})\.csv\.gz$")
# The published statistics' files (written by the broadband feature's open-data job).
_AGGREGATES = re.compile(
    r"^netatlas-aggregates-(\d{4}-\d\d-\d\d)-(licence\.txt|[A-Za-z0-9_-]{1,64}\.(?:parquet|geojson))$"
)
MEDIA_TYPES = {
    ".gz": "application/gzip",
    ".parquet": "application/vnd.apache.parquet",
    ".geojson": "application/geo+json",
    ".txt": "text/plain; charset=utf-8",
}


class Download(msgspec.Struct, frozen=True):
    name: str
    size: int  # bytes
    kind: str  # full | diff (cells) | aggregates (the published statistics)
    created: str  # ISO 8601, UTC: when the file was written
    covers_until: str  # ISO 8601, UTC: the cut-off of the cells in it


def file_name(kind: str, until: dt.datetime) -> str:
    return f"netatlas-{kind}-cell-export-{until:%Y-%m-%dT%H%M%S}.csv.gz"


def export_store(settings: Settings) -> FileStore:
    return store_from_url(
        settings.export_store_url or "exports", settings.data_dir, settings.s3_endpoint_url
    )


def _utc_naive(now: dt.datetime | None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)
    return now


def write_export(
    ctx: Context,
    store: FileStore,
    name: str,
    since: dt.datetime,
    until: dt.datetime | None,
) -> int:
    """Write the cells modified in [since, until) to ``name`` in the store; returns the rows."""
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=ctx.settings.data_dir, prefix=".cells-", suffix=".csv.gz")
    try:
        with os.fdopen(fd, "wb") as out, ctx.engine.connect() as conn:
            # A reader: on SQLite it must not hold the write lock while the file is written.
            conn.execution_options(readonly=True)
            rows = write_csv(iter_cells(conn, since, until, ctx.settings.cell_export_origins), out)
        store.put_file(name, Path(tmp))
    finally:
        Path(tmp).unlink(missing_ok=True)
    return rows


def _exists(store: FileStore, name: str) -> bool:
    return any(f.name == name for f in store.list(name))


def export_diff(ctx: Context, now: dt.datetime | None = None) -> str | None:
    """Write the diff of the last full hour unless it exists; returns its name if written."""
    until = _utc_naive(now).replace(minute=0, second=0, microsecond=0)
    store = export_store(ctx.settings)
    name = file_name("diff", until)
    if _exists(store, name):
        return None
    write_export(ctx, store, name, until - dt.timedelta(hours=1), until)
    prune(store, _utc_naive(now))
    return name


def export_full(ctx: Context, now: dt.datetime | None = None) -> str | None:
    """Write today's full file unless it exists; returns its name if written."""
    until = _utc_naive(now).replace(hour=0, minute=0, second=0, microsecond=0)
    store = export_store(ctx.settings)
    name = file_name("full", until)
    if _exists(store, name):
        return None
    write_export(ctx, store, name, until - FULL_WINDOW, until)
    prune(store, _utc_naive(now))
    return name


def _parse(name: str) -> tuple[str, dt.datetime] | None:
    match = _NAME.match(name)
    if match is None:
        found = _AGGREGATES.match(name)
        if found is None:
            return None
        return "aggregates", dt.datetime.strptime(found.group(1), "%Y-%m-%d")
    return match.group(1), dt.datetime.strptime(match.group(2), "%Y-%m-%dT%H%M%S")


def prune(store: FileStore, now: dt.datetime) -> int:
    """Delete diffs older than three days and all but the newest seven full files."""
    fulls: list[str] = []
    gone = 0
    for f in store.list("netatlas-"):
        parsed = _parse(f.name)
        if parsed is None:
            continue
        kind, until = parsed
        if kind == "full":
            fulls.append(f.name)
        elif kind == "diff" and now - until > KEEP_DIFF:
            store.delete(f.name)
            gone += 1
    for name in sorted(fulls)[:-KEEP_FULL]:
        store.delete(name)
        gone += 1
    return gone


def list_downloads(store: FileStore) -> list[Download]:
    """The export files, newest first."""
    found = []
    for f in store.list("netatlas-"):
        parsed = _parse(f.name)
        if parsed is None:
            continue
        kind, until = parsed
        created = f.modified.astimezone(dt.UTC).replace(microsecond=0)
        found.append(
            Download(
                name=f.name,
                size=f.size,
                kind=kind,
                created=created.isoformat().replace("+00:00", "Z"),
                covers_until=until.isoformat() + "Z",
            )
        )
    return sorted(found, key=lambda d: (d.covers_until, d.kind), reverse=True)


class CachedListing:
    """The listing, re-read at most once a minute (S3 listings cost a request)."""

    def __init__(self, store: FileStore, seconds: float = 60.0) -> None:
        self.store = store
        self.seconds = seconds
        self._lock = threading.Lock()
        self._at = 0.0
        self._value: list[Download] = []

    def get(self) -> list[Download]:
        with self._lock:
            if time.monotonic() - self._at > self.seconds:
                self._value = list_downloads(self.store)
                self._at = time.monotonic()
            return self._value


def is_download(name: str) -> bool:
    return _parse(name) is not None


def media_type(name: str) -> str:
    """The Content-Type a listed file is served with."""
    return MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")


def cell_export_diff(ctx: Context) -> str | None:
    return export_diff(ctx)


def cell_export_full(ctx: Context) -> str | None:
    return export_full(ctx)
