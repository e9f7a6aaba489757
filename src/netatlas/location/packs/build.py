"""Building a pack and publishing it whole: data files first, the manifest last.

A pack is stored under ``packs/<region id>/<build stamp>/`` in the export store (the data dir's
``exports/`` or an S3 bucket): its CSV files and ``manifest.json``. Each file is written to a
temporary file and put into the store in one piece (an atomic rename on a directory, one PUT on
S3), and a build counts only once its manifest is there, which is written after every file it
lists. A reader that takes the newest build with a manifest therefore never sees half a pack;
the build before it is kept, so a download that started from it can finish.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import msgspec
from sqlalchemy import Engine

from netatlas.location.packs.formats import (
    CELLS_HEADER,
    WIFI_HEADER,
    PackWriter,
    cell_line,
    mls_row,
    mls_writer,
    wifi_line,
)
from netatlas.location.packs.region import PackRegion, Region
from netatlas.location.packs.rows import MIN_CONTRIBUTORS, MIN_DAYS, iter_cells, iter_wifis
from netatlas.storage.files import FileStore

__all__ = ["KEEP_BUILDS", "PREFIX", "BuildOptions", "Manifest", "PackFile", "build_pack"]

PREFIX: Final = "packs/"
MANIFEST: Final = "manifest.json"
KEEP_BUILDS: Final = 2  # the newest and the one before it (downloads in flight)
# gzip level: random coordinates compress badly at any level; 3 gives files about 5 % larger
# than 6 in a fifth of the time (measured on pack rows), and compression is most of a build.
LEVEL: Final = 3
FILTER_TEXT: Final = (
    f"Stations with a position, not blocked, moved or mobile, seen by at least"
    f" {MIN_CONTRIBUTORS} distinct contributors on at least {MIN_DAYS} distinct days;"
    " hidden, _nomap and randomised networks are never stored."
)


class PackFile(msgspec.Struct, frozen=True):
    name: str
    format: str  # microg-cells | microg-wifi | mls-cells
    rows: int  # data lines (the header not counted)
    size: int  # bytes
    sha256: str  # of the file as served (the gzip bytes)
    mcc: int | None = None  # mls-cells: the file's one MCC


class Manifest(msgspec.Struct, frozen=True):
    pack: str  # the region id
    region: PackRegion
    built: str  # ISO 8601 UTC
    build: str  # the build's stamp (its directory in the store)
    licence: str
    attribution: str
    filter: str
    counts: dict[str, int]  # cells, wifi
    files: list[PackFile]
    format_version: int = 1


class BuildOptions(msgspec.Struct, frozen=True):
    wifi: bool = False  # write wifi.csv.gz (off unless the operator enables it)
    licence: str = ""
    attribution: str = ""
    origins: tuple[str, ...] = ()  # imported cell data sets allowed (as the cell exports)
    level: int = LEVEL


def stamp_of(moment: dt.datetime) -> str:
    return f"{moment:%Y%m%dT%H%M%S}Z"


def _utc(now: dt.datetime | None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        return now.replace(microsecond=0)
    return now.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)


def _write_files(
    engine: Engine, region: Region, options: BuildOptions, today: dt.date, work: Path
) -> tuple[list[PackFile], dict[str, int]]:
    files: list[PackFile] = []
    writers: list[PackWriter] = []
    try:
        cells = PackWriter(work / "cells.csv.gz", CELLS_HEADER, options.level)
        writers.append(cells)
        per_mcc: dict[int, PackWriter] = {}
        for mcc in region.mccs:  # every MCC of the region has its file, even an empty one
            per_mcc[mcc] = mls_writer(work / f"mls-cells-{mcc:03d}.csv.gz", options.level)
            writers.append(per_mcc[mcc])
        with engine.connect() as conn:
            # A reader: on SQLite it must not hold the write lock while files are written.
            conn.execution_options(readonly=True)
            lines = cells.lines
            mls_lines = {mcc: w.lines for mcc, w in per_mcc.items()}
            for n, cell in enumerate(iter_cells(conn, region, today, options.origins), 1):
                lines.append(cell_line(cell))
                mls = mls_lines.get(cell.mcc)
                if mls is None:
                    w = per_mcc[cell.mcc] = mls_writer(
                        work / f"mls-cells-{cell.mcc:03d}.csv.gz", options.level
                    )
                    writers.append(w)
                    mls = mls_lines[cell.mcc] = w.lines
                mls.append(mls_row(cell))
                if not n % 8192:
                    for w in writers:
                        w.spill()
            wifi = None
            if options.wifi:
                wifi = PackWriter(work / "wifi.csv.gz", WIFI_HEADER, options.level)
                writers.append(wifi)
                lines = wifi.lines
                for n, ap in enumerate(iter_wifis(conn, region, today), 1):
                    lines.append(wifi_line(ap))
                    if not n % 8192:
                        wifi.spill()
        size, digest = cells.close()
        files.append(PackFile(cells.path.name, "microg-cells", cells.rows, size, digest))
        if wifi is not None:
            size, digest = wifi.close()
            files.append(PackFile(wifi.path.name, "microg-wifi", wifi.rows, size, digest))
        for mcc in sorted(per_mcc):
            w = per_mcc[mcc]
            size, digest = w.close()
            files.append(PackFile(w.path.name, "mls-cells", w.rows, size, digest, mcc))
    except BaseException:
        for w in writers:
            w.abort()
        raise
    counts = {"cells": cells.rows, "wifi": 0 if wifi is None else wifi.rows}
    return files, counts


def build_pack(
    engine: Engine,
    store: FileStore,
    region: Region,
    options: BuildOptions,
    work_dir: Path,
    now: dt.datetime | None = None,
) -> Manifest:
    """Build ``region``'s pack from the station tables and publish it in ``store``.

    Temporary files go to ``work_dir``; older builds beyond :data:`KEEP_BUILDS` are deleted.
    """
    moment = _utc(now)
    stamp = stamp_of(moment)
    work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=work_dir, prefix=".pack-"))
    try:
        files, counts = _write_files(engine, region, options, moment.date(), work)
        manifest = Manifest(
            pack=region.id,
            region=region.describe(),
            built=moment.isoformat() + "Z",
            build=stamp,
            licence=options.licence,
            attribution=options.attribution,
            filter=FILTER_TEXT,
            counts=counts,
            files=files,
        )
        base = f"{PREFIX}{region.id}/{stamp}/"
        for f in files:
            store.put_file(base + f.name, work / f.name)
        store.put(base + MANIFEST, msgspec.json.format(msgspec.json.encode(manifest)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    prune(store, region.id)
    return manifest


def builds(store: FileStore, pack: str) -> tuple[list[str], list[str]]:
    """(complete builds, builds without a manifest) of a pack, oldest first."""
    names: dict[str, bool] = {}
    prefix = f"{PREFIX}{pack}/"
    for f in store.list(prefix):
        stamp, _, name = f.name[len(prefix) :].partition("/")
        names[stamp] = names.get(stamp, False) or name == MANIFEST
    done = sorted(s for s, complete in names.items() if complete)
    partial = sorted(s for s, complete in names.items() if not complete)
    return done, partial


def prune(store: FileStore, pack: str, keep: int = KEEP_BUILDS) -> int:
    """Delete all but the newest ``keep`` complete builds, and partial builds older than them."""
    done, partial = builds(store, pack)
    if not done:
        return 0
    gone = done[:-keep] if len(done) > keep else []
    gone += [s for s in partial if s < done[-1]]  # a crashed build; a newer one may be running
    if not gone:
        return 0
    doomed = [f.name for s in gone for f in store.list(f"{PREFIX}{pack}/{s}/")]
    store.delete_many(doomed)
    return len(gone)


def decode_manifest(data: bytes) -> Manifest:
    return msgspec.json.decode(data, type=Manifest)


def current(store: FileStore, pack: str) -> Manifest | None:
    """The newest complete build's manifest of a pack, or None."""
    done, _ = builds(store, pack)
    for stamp in reversed(done):
        data = store.read(f"{PREFIX}{pack}/{stamp}/{MANIFEST}")
        if data is not None:
            return decode_manifest(data)
    return None


def pack_ids(store: FileStore) -> list[str]:
    """Every pack with at least one stored file, sorted."""
    return sorted({f.name[len(PREFIX) :].partition("/")[0] for f in store.list(PREFIX)})


def current_all(store: FileStore, ids: Iterable[str] | None = None) -> list[Manifest]:
    found = []
    for pack in pack_ids(store) if ids is None else ids:
        manifest = current(store, pack)
        if manifest is not None:
            found.append(manifest)
    return found
