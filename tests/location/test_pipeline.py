"""End to end: real clients' submissions through HTTP and the pipeline into station tables."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

from sqlalchemy import select

from netatlas.datamap.models import datamap_tables
from netatlas.db.stats import STAT_KEYS, stat
from netatlas.features import process_until_idle
from netatlas.jobs.context import Context
from netatlas.location.ids import cell_id
from netatlas.location.models import RADIO_CODE, blue_shards, cell_area, cell_tables, wifi_shards


def now_ms() -> int:
    """Now in ms since the epoch, read when a report is built (never at import)."""
    return int(time.time() * 1000)


def _wifi(conn: Any, mac: str) -> Any:
    table = wifi_shards[mac[4]]
    return conn.execute(select(table).where(table.c.mac == bytes.fromhex(mac))).first()


def _cell(conn: Any, radio: str, mcc: int, mnc: int, lac: int, cid: int) -> Any:
    table = cell_tables[radio]
    key = cell_id(RADIO_CODE[radio], mcc, mnc, lac, cid)
    return conn.execute(select(table).where(table.c.cellid == key)).first()


def neostumbler_batch() -> bytes:
    """Shaped like NeoStumbler's upload: gzip, extra fields, NR cells, 6 GHz, explicit nulls."""
    items = []
    for i in range(3):
        items.append(
            {
                "timestamp": now_ms(),
                "position": {
                    "latitude": 52.52 + i * 1e-5,
                    "longitude": 13.405,
                    "accuracy": 8.0,
                    "age": 1200,
                    "altitude": 40.0,
                    "speed": 1.2,
                    "source": "gps",
                },
                "cellTowers": [
                    {
                        "radioType": "nr",
                        "mobileCountryCode": 262,
                        "mobileCountryCodeStr": "262",
                        "mobileNetworkCode": 1,
                        "mobileNetworkCodeStr": "01",
                        "locationAreaCode": 4_000_000,
                        "cellId": 60_000_000_001,
                        "primaryScramblingCode": 900,
                        "arfcn": 636666,
                        "signalStrength": -95,
                        "serving": 1,
                        "age": 100,
                    },
                    {
                        "radioType": "lte",
                        "mobileCountryCode": 262,
                        "mobileNetworkCode": 1,
                        "locationAreaCode": None,
                        "cellId": None,
                        "primaryScramblingCode": 77,
                        "serving": 0,
                    },
                ],
                "wifiAccessPoints": [
                    {
                        "macAddress": "3c:a6:2f:11:22:33",
                        "radioType": "802.11ax",
                        "frequency": 6115,
                        "signalStrength": -60,
                        "ssid": "Cafe",
                        "estimatedDistance": {"distance": 4.0, "type": "TWO_SIDED"},
                    },
                    {"macAddress": "3c:a6:2f:11:22:34", "frequency": 2437, "signalStrength": -70},
                    {"macAddress": "3c:a6:2f:11:22:35", "ssid": "Home_nomap"},
                ],
                "bluetoothBeacons": [
                    {"macAddress": "c4:7c:8d:00:11:22", "beaconType": 533, "id1": "x", "name": None}
                ],
            }
        )
    return gzip.compress(json.dumps({"items": items}).encode())


def tower_collector_batch() -> dict[str, Any]:
    """Shaped like Tower Collector: no ages, 2147483647 sentinels, a null radio type."""
    return {
        "items": [
            {
                "timestamp": now_ms(),
                "position": {
                    "latitude": 50.061234567891,
                    "longitude": 19.937123456789,
                    "accuracy": 12.0,
                    "heading": 0.0,
                    "speed": 0.0,
                    "source": "gps",
                },
                "cellTowers": [
                    {
                        "radioType": "lte",
                        "mobileCountryCode": 260,
                        "mobileNetworkCode": 3,
                        "locationAreaCode": 58120,
                        "cellId": 1234567,
                        "primaryScramblingCode": 100,
                        "asu": 40,
                        "signalStrength": -100,
                        "timingAdvance": 2147483647,
                        "serving": 1,
                    },
                    {
                        "radioType": "gsm",
                        "mobileCountryCode": 260,
                        "mobileNetworkCode": 3,
                        "locationAreaCode": 2147483647,
                        "cellId": 2147483647,
                        "serving": 0,
                    },
                    {"radioType": None, "mobileCountryCode": 260, "cellId": 5},
                ],
            }
        ]
    }


def geoclue_submit() -> dict[str, Any]:
    """GeoClue's legacy /v1/submit body."""
    return {
        "items": [
            {
                "lat": 51.5005,
                "lon": -0.1245,
                "accuracy": 20.0,
                "altitude": 10.0,
                "time": "2026-11-25T10:00:00+00:00",
                "radioType": "gsm",
                "wifi": [
                    {"key": "00:25:9c:aa:bb:01", "signal": -55, "frequency": 2412},
                    {"key": "00:25:9c:aa:bb:02", "signal": -65, "frequency": 5180},
                ],
                "cell": [{"radio": "gsm", "cid": 4711, "mcc": 234, "mnc": 15, "lac": 1234}],
            }
        ]
    }


def test_real_clients_become_stations(client: Any, ctx: Context) -> None:
    res = client.post(
        "/v2/geosubmit",
        content=neostumbler_batch(),
        headers={
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
            "User-Agent": "NeoStumbler/2.5",
        },
    )
    assert res.status_code == 200
    res = client.post(
        "/v2/geosubmit",
        content=json.dumps(tower_collector_batch()),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert res.status_code == 200
    res = client.post("/v1/submit", json=geoclue_submit(), headers={"X-Nickname": "gc"})
    assert res.status_code == 204

    process_until_idle(ctx)
    assert not ctx.queue.queues()

    with ctx.engine.connect() as conn:
        wifi = _wifi(conn, "3ca62f112233")
        assert wifi is not None and wifi.samples == 3
        assert abs(wifi.lat - 52.52001) < 1e-4 and abs(wifi.lon - 13.405) < 1e-6
        assert wifi.region == "DE"
        assert _wifi(conn, "3ca62f112235") is None  # _nomap
        nr = _cell(conn, "nr", 262, 1, 4_000_000, 60_000_000_001)
        assert nr is not None and nr.psc == 900 and nr.region == "DE"
        blue = blue_shards["8"].c
        assert (
            conn.execute(select(blue.lat).where(blue.mac == bytes.fromhex("c47c8d001122"))).first()
            is not None
        )
        lte = _cell(conn, "lte", 260, 3, 58120, 1234567)
        assert lte is not None and abs(lte.lat - 50.0612) < 1e-3 and lte.region == "PL"
        assert conn.execute(select(cell_tables["gsm"].c.cid)).scalars().all() == [4711]
        gc_wifi = _wifi(conn, "00259caabb01")
        assert gc_wifi is not None and gc_wifi.region == "GB"
        areas = conn.execute(select(cell_area.c.mcc, cell_area.c.num_cells)).all()
        assert sorted(areas) == [(234, 1), (260, 1), (262, 1)]
        grids = sum(len(conn.execute(select(t.c.grid)).all()) for t in datamap_tables.values())
        assert grids == 3  # Berlin (three reports, one 0.001° cell), Kraków, London
        totals = dict(conn.execute(select(stat.c.key, stat.c.value)).all())
    # 3 NeoStumbler reports x 2 kept WiFi + 2 GeoClue WiFi; unique = 2 + 2.
    assert totals[STAT_KEYS["wifi"]] == 8
    assert totals[STAT_KEYS["unique_wifi"]] == 4


def _report(lat: float, lon: float) -> dict[str, Any]:
    return {
        "timestamp": now_ms(),
        "position": {"latitude": lat, "longitude": lon, "accuracy": 10.0, "source": "gnss"},
        "wifiAccessPoints": [
            {"macAddress": "00:11:22:33:44:55", "signalStrength": -60},
            {"macAddress": "00:11:22:33:44:66", "signalStrength": -60},
        ],
    }


def test_moved_access_point_is_blocked(client: Any, ctx: Context) -> None:
    assert client.post("/v2/geosubmit", json={"items": [_report(51.5, -0.1)]}).status_code == 200
    process_until_idle(ctx)
    with ctx.engine.connect() as conn:
        first = _wifi(conn, "001122334455")
    assert first.lat is not None and not first.block_count
    # The same router shows up 10 km further north.
    assert client.post("/v2/geosubmit", json={"items": [_report(51.59, -0.1)]}).status_code == 200
    process_until_idle(ctx)
    with ctx.engine.connect() as conn:
        moved = _wifi(conn, "001122334455")
    assert moved.lat is None and moved.lon is None
    assert moved.block_count == 1
    assert moved.region == "GB"


def test_reports_outside_every_region_are_dropped(client: Any, ctx: Context) -> None:
    body = {"items": [_report(30.0, -40.0)]}  # mid-Atlantic
    assert client.post("/v2/geosubmit", json=body).status_code == 200
    process_until_idle(ctx)
    with ctx.engine.connect() as conn:
        assert _wifi(conn, "001122334455") is None


def test_demo_town_coverage_is_drawn_on_first_start(ctx: Context) -> None:
    from netatlas.datamap.render import render_tiles
    from netatlas.demo import queue_demo
    from netatlas.storage.tiles import DirectoryTileStore

    assert queue_demo(ctx.queue, reports=300, engine=ctx.engine) > 0
    process_until_idle(ctx)
    store = DirectoryTileStore(ctx.settings.data_dir / "tiles")
    report = render_tiles(ctx.engine, store, ctx.settings.data_dir / "tiles-state", zooms=(0, 11))
    # Without back-dating, one-day cells wait out the privacy delay and nothing is drawn.
    assert report.cells_drawn > 0
    assert report.tiles > 0
