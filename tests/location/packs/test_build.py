"""Building packs: file formats as the clients parse them, the privacy filter, regions,
manifests and their checksums, publishing whole builds."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import json

import pytest
from sqlalchemy import Engine

from netatlas.jobs.context import Context
from netatlas.location.cells.csvfile import HEADER as MLS_HEADER
from netatlas.location.cells.csvfile import read_rows
from netatlas.location.packs.build import PREFIX, Manifest, builds, current
from netatlas.location.packs.region import RegionError, parse_region, parse_regions
from netatlas.location.packs.service import build_packs, daily, pack_store
from netatlas.settings import Settings
from tests.location.packs._seed import TODAY, add_cell, add_wifi


def _files(settings: Settings, pack: str) -> dict[str, bytes]:
    store = pack_store(settings)
    manifest = current(store, pack)
    assert manifest is not None
    base = f"{PREFIX}{pack}/{manifest.build}/"
    found = {f.name: store.read(base + f.name) for f in manifest.files}
    found["manifest.json"] = store.read(base + "manifest.json")
    return {k: v for k, v in found.items() if v is not None}


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(gzip.decompress(data).decode())))


def _build(
    ctx: Context, text: str, *, wifi: bool | None = None, settings: Settings | None = None
) -> list[Manifest]:
    return build_packs(
        ctx.engine, settings or ctx.settings, parse_regions(text), wifi=wifi, now=TODAY
    )


def test_cells_file_format_and_radio_types(ctx: Context) -> None:
    add_cell(ctx.engine, "gsm", 101, lat=52.1234567, lon=13.7654321)
    add_cell(ctx.engine, "wcdma", 70_000, psc=311)
    add_cell(ctx.engine, "lte", 25_000_000, psc=17)
    add_cell(ctx.engine, "nr", 60_000_000_001, psc=900)
    _build(ctx, "DE")
    data = _files(ctx.settings, "DE")["cells.csv.gz"]
    text = gzip.decompress(data).decode()
    lines = text.split("\n")
    assert lines[0] == "mcc,mnc,type,lac,cid,psc,lat,lon,alt"
    assert lines[-1] == ""  # LF-terminated, no CR
    assert "\r" not in text
    rows = {int(r[4]): r for r in _rows(data)[1:]}
    assert [rows[c][2] for c in (101, 70_000, 25_000_000, 60_000_000_001)] == ["1", "2", "3", "5"]
    assert rows[101] == ["262", "1", "1", "4711", "101", "", "52.123457", "13.765432", ""]
    assert rows[70_000][5] == "311" and rows[60_000_000_001][5] == "900"
    assert all(len(r) == 9 for r in rows.values())  # no index column


def test_mls_file_per_mcc_is_read_by_the_cell_importer(ctx: Context) -> None:
    add_cell(ctx.engine, "lte", 1, psc=5, lat=52.5, lon=13.4)
    add_cell(ctx.engine, "lte", 2, mcc=208, mnc=10, region="DE")  # a French network heard in DE
    manifest = _build(ctx, "DE")[0]
    files = _files(ctx.settings, "DE")
    assert sorted(f.name for f in manifest.files) == [
        "cells.csv.gz", "mls-cells-208.csv.gz", "mls-cells-262.csv.gz",
    ]  # fmt: skip
    text = gzip.decompress(files["mls-cells-262.csv.gz"]).decode()
    assert text.split("\r\n")[0] == MLS_HEADER
    parsed = [row for _, row in read_rows(io.StringIO(text, newline=""))]
    assert len(parsed) == 1
    row = parsed[0]
    assert not isinstance(row, Exception)
    assert (row.radio, row.mcc, row.cid, row.psc, row.lat, row.lon) == (
        "lte",
        262,
        1,
        5,
        52.5,
        13.4,
    )
    assert row.range == 800 and row.samples == 12
    assert row.created == int(dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp())


def test_wifi_file_only_when_enabled(ctx: Context) -> None:
    add_wifi(ctx.engine, "0a1b2c3d4e5f", lat=52.5000004, lon=13.4)
    add_cell(ctx.engine, "lte", 1)
    off = _build(ctx, "DE")[0]
    assert "wifi.csv.gz" not in [f.name for f in off.files] and off.counts["wifi"] == 0
    on = _build(ctx, "DE", settings=dataclasses.replace(ctx.settings, packs_wifi=True))[0]
    assert on.counts["wifi"] == 1
    rows = _rows(_files(ctx.settings, "DE")["wifi.csv.gz"])
    assert rows == [["mac", "lat", "lon", "alt"], ["0a1b2c3d4e5f", "52.500000", "13.400000", ""]]
    assert _build(ctx, "DE", wifi=False)[0].counts["wifi"] == 0  # the CLI's --no-wifi wins


@pytest.mark.parametrize(
    "excluded",
    [
        {"contributors": 1},  # one contributor
        {"contributors": None, "days": None},  # written before contributors were counted
        {"days": 1},  # seen on one day only
        {"lat": None, "lon": None},  # blocked: no position
        {"block_last": (TODAY - dt.timedelta(days=1)).date(), "block_count": 1},  # just blocked
        {"block_count": 6},  # mobile: blocked once a month of its life (6 months)
        {"origin": "ocid"},  # imported share-alike data not listed for export
        {"region": "FR", "lat": 48.85, "lon": 2.35},  # elsewhere
    ],
)
def test_privacy_filter_excludes(ctx: Context, excluded: dict[str, object]) -> None:
    add_cell(ctx.engine, "lte", 1)
    add_cell(ctx.engine, "lte", 2, **excluded)
    add_wifi(ctx.engine, "0a1b2c3d4e5f")
    wifi_extra = {k: v for k, v in excluded.items() if k != "origin"}
    add_wifi(ctx.engine, "0a1b2c3d4e60", **wifi_extra)
    manifest = _build(ctx, "DE", wifi=True)[0]
    cells = [r[4] for r in _rows(_files(ctx.settings, "DE")["cells.csv.gz"])[1:]]
    assert cells == ["1"]
    expected_wifi = 2 if "origin" in excluded else 1
    assert manifest.counts == {"cells": 1, "wifi": expected_wifi}


def test_a_station_blocked_long_ago_is_back(ctx: Context) -> None:
    add_cell(ctx.engine, "lte", 1, block_last=dt.date(2026, 7, 1), block_count=1)
    assert _build(ctx, "DE")[0].counts["cells"] == 1


def test_region_selection_country_mcc_bbox(ctx: Context) -> None:
    add_cell(ctx.engine, "lte", 1, lat=52.52, lon=13.40)  # Berlin
    add_cell(ctx.engine, "lte", 2, lat=48.14, lon=11.58)  # Munich
    add_cell(ctx.engine, "lte", 3, mcc=208, lat=48.85, lon=2.35, region="FR")  # Paris
    add_wifi(ctx.engine, "0a1b2c3d4e5f", lat=52.52, lon=13.40)
    add_wifi(ctx.engine, "0a1b2c3d4e60", lat=48.85, lon=2.35, region="FR")
    de, mcc, box = _build(ctx, "DE mcc:208 bbox:52.3,13.0,52.7,13.8", wifi=True)

    def cids(pack: str) -> list[str]:
        return [r[4] for r in _rows(_files(ctx.settings, pack)["cells.csv.gz"])[1:]]

    assert cids("DE") == ["1", "2"] and de.counts["wifi"] == 1
    assert de.region.mccs == [262] and de.region.kind == "country"
    assert cids("mcc-208") == ["3"] and mcc.counts["wifi"] == 1
    assert cids("bbox-52.3_13_52.7_13.8") == ["1"] and box.counts["wifi"] == 1
    assert box.region.bbox == [52.3, 13.0, 52.7, 13.8] and box.region.mccs is None


def test_region_text() -> None:
    assert parse_region("de").id == "DE"
    assert parse_region("262") == parse_region("mcc:262")
    assert parse_region("GB").mccs == (234, 235)
    assert [r.id for r in parse_regions("DE;262  DE")] == ["DE", "mcc-262"]
    for bad in ("XX", "999", "bbox:1,2,3", "bbox:10,0,5,1", "germany"):
        with pytest.raises(RegionError):
            parse_region(bad)


def test_manifest_checksums_sizes_and_text(ctx: Context) -> None:
    add_cell(ctx.engine, "lte", 1)
    add_wifi(ctx.engine, "0a1b2c3d4e5f")
    settings = dataclasses.replace(
        ctx.settings, packs_licence="CC-BY-4.0", packs_attribution="Example City Mesh"
    )
    manifest = _build(ctx, "DE", wifi=True, settings=settings)[0]
    files = _files(ctx.settings, "DE")
    stored = json.loads(files["manifest.json"])
    assert stored["licence"] == "CC-BY-4.0" and stored["attribution"] == "Example City Mesh"
    assert stored["built"] == "2026-12-05T12:00:00Z"
    assert stored["counts"] == {"cells": 1, "wifi": 1}
    assert {f["name"] for f in stored["files"]} == {f.name for f in manifest.files}
    for f in stored["files"]:
        data = files[f["name"]]
        assert f["size"] == len(data)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["rows"] == len(_rows(data)) - 1


def test_builds_are_published_whole_and_pruned(ctx: Context) -> None:
    add_cell(ctx.engine, "lte", 1)
    store = pack_store(ctx.settings)
    region = parse_regions("DE")
    stamps = []
    for hour in range(4):
        now = TODAY + dt.timedelta(hours=hour)
        stamps.append(build_packs(ctx.engine, ctx.settings, region, now=now)[0].build)
    # A build that died before its manifest: never current, cleared by the next build.
    store.put(f"{PREFIX}DE/20261205T120500Z/cells.csv.gz", b"half")
    current_pack = current(store, "DE")
    assert current_pack is not None and current_pack.build == stamps[-1]
    build_packs(ctx.engine, ctx.settings, region, now=TODAY + dt.timedelta(hours=5))
    done, partial = builds(store, "DE")
    assert len(done) == 2 and partial == []
    leftovers = [p for p in ctx.settings.data_dir.iterdir() if p.name.startswith(".pack-")]
    assert leftovers == []


def test_daily_job_builds_configured_regions_once_a_day(ctx: Context) -> None:
    add_cell(ctx.engine, "lte", 1)
    settings = dataclasses.replace(ctx.settings, packs_regions="DE bbox:52,13,53,14")
    assert daily(ctx.engine, settings, TODAY.replace(tzinfo=dt.UTC)) == [
        "DE", "bbox-52_13_53_14",
    ]  # fmt: skip
    later = (TODAY + dt.timedelta(hours=3)).replace(tzinfo=dt.UTC)
    assert daily(ctx.engine, settings, later) == []
    tomorrow = (TODAY + dt.timedelta(days=1)).replace(tzinfo=dt.UTC)
    assert daily(ctx.engine, settings, tomorrow) == ["DE", "bbox-52_13_53_14"]
    assert daily(ctx.engine, ctx.settings, tomorrow) == []  # no regions configured


def test_the_job_is_in_the_job_table(ctx: Context) -> None:
    from netatlas.features import job

    add_cell(ctx.engine, "lte", 1)
    ctx.settings = dataclasses.replace(ctx.settings, packs_regions="DE")
    assert job("build_region_packs").func(ctx) == ["DE"]
    assert current(pack_store(ctx.settings), "DE") is not None


def test_empty_region_has_headers_only(engine: Engine, ctx: Context) -> None:
    manifest = _build(ctx, "mcc:262")[0]
    files = _files(ctx.settings, "mcc-262")
    assert manifest.counts == {"cells": 0, "wifi": 0}
    assert _rows(files["cells.csv.gz"]) == [
        ["mcc", "mnc", "type", "lac", "cid", "psc", "lat", "lon", "alt"]
    ]
    assert "mls-cells-262.csv.gz" in files
