"""The reference reader answers scans from the files a pack build wrote."""

from __future__ import annotations

import gzip
import json

import pytest

from netatlas.jobs.context import Context
from netatlas.location.locate import locate, parse_query
from netatlas.location.packs.build import PREFIX
from netatlas.location.packs.reader import CellPack, Heard, WifiPack, best_of
from netatlas.location.packs.region import parse_regions
from netatlas.location.packs.service import build_packs, pack_store
from tests.location.packs._seed import TODAY, add_cell, add_wifi


def _files(ctx: Context, *, wifi: bool = False) -> dict[str, bytes]:
    manifest = build_packs(ctx.engine, ctx.settings, parse_regions("DE"), wifi=wifi, now=TODAY)[0]
    store = pack_store(ctx.settings)
    out = {}
    for f in manifest.files:
        data = store.read(f"{PREFIX}DE/{manifest.build}/{f.name}")
        assert data is not None
        out[f.name] = data
    return out


def _server(
    ctx: Context, cells: list[Heard], wifis: tuple[tuple[str, int], ...] = ()
) -> tuple[float, float]:
    body = {
        "considerIp": False,
        "cellTowers": [
            {"radioType": h.radio, "mobileCountryCode": h.mcc, "mobileNetworkCode": h.mnc,
             "locationAreaCode": h.lac, "cellId": h.cid, "signalStrength": h.signal}
            for h in cells
        ],
        "wifiAccessPoints": [{"macAddress": m, "signalStrength": s} for m, s in wifis],
    }  # fmt: skip
    best = locate(ctx.engine, parse_query(json.dumps(body)), now=TODAY).best()
    assert best is not None
    return best.lat, best.lon


def _packs(ctx: Context) -> tuple[CellPack, CellPack]:
    add_cell(ctx.engine, "lte", 1, lat=52.50, lon=13.40, radius=500, samples=4)
    add_cell(ctx.engine, "lte", 2, lat=52.52, lon=13.44, radius=1000, samples=4)
    add_cell(ctx.engine, "gsm", 3, lac=9, lat=52.60, lon=13.50, samples=2)
    manifest = build_packs(ctx.engine, ctx.settings, parse_regions("DE"), now=TODAY)[0]
    store = pack_store(ctx.settings)
    base = f"{PREFIX}DE/{manifest.build}/"
    cells = store.read(base + "cells.csv.gz")
    mls = store.read(base + "mls-cells-262.csv.gz")
    assert cells is not None and mls is not None
    return CellPack.parse(cells), CellPack.parse_mls(mls)


def test_single_and_several_cells(ctx: Context) -> None:
    micro, mls = _packs(ctx)
    assert len(micro) == len(mls) == 3
    assert micro.locate([Heard("lte", 262, 1, 4711, 1, -80)]) == pytest.approx((52.50, 13.40))
    assert micro.locate([Heard("lte", 262, 1, 4711, 99)]) is None
    equal = micro.locate([Heard("lte", 262, 1, 4711, 1, -90), Heard("lte", 262, 1, 4711, 2, -90)])
    assert equal == pytest.approx((52.51, 13.42))
    louder = micro.locate([Heard("lte", 262, 1, 4711, 1, -60), Heard("lte", 262, 1, 4711, 2, -90)])
    assert louder is not None and louder[0] < 52.505  # pulled towards the louder cell
    # With ranges the smaller cell weighs four times more at the same signal.
    ranged = mls.locate([Heard("lte", 262, 1, 4711, 1, -90), Heard("lte", 262, 1, 4711, 2, -90)])
    assert ranged == pytest.approx((52.504, 13.408))
    # Cells of two areas: the area with more known cells answers, the other is left out.
    mixed = micro.locate(
        [
            Heard("gsm", 262, 1, 9, 3, -50),
            Heard("lte", 262, 1, 4711, 1, -90),
            Heard("lte", 262, 1, 4711, 2, -90),
        ]
    )
    assert mixed == pytest.approx((52.51, 13.42))


def test_a_foreign_file_is_refused() -> None:
    with pytest.raises(ValueError):
        CellPack.parse(gzip.compress(b"mac,lat,lon,alt\n"))
    with pytest.raises(ValueError):
        WifiPack.parse(gzip.compress(b"mcc,mnc,type,lac,cid,psc,lat,lon,alt\n"))


def test_the_mls_file_answers_as_the_server(ctx: Context) -> None:
    """From the MLS file (ranges, samples, dates) the reader gives the server's very answer,
    including the choice between areas, which depends on scores and accuracies."""
    old = TODAY.replace(year=2025)
    add_cell(ctx.engine, "lte", 1, lat=52.500, lon=13.400, radius=900, samples=40)
    add_cell(ctx.engine, "lte", 2, lat=52.510, lon=13.420, radius=2500, samples=3)
    add_cell(ctx.engine, "lte", 3, lat=52.530, lon=13.380, radius=600, samples=200, modified=old)
    add_cell(ctx.engine, "gsm", 4, lac=9, lat=52.515, lon=13.405, radius=4000, samples=90)
    add_cell(ctx.engine, "gsm", 5, lac=9, lat=52.525, lon=13.415, radius=3000, samples=2)
    add_cell(ctx.engine, "nr", 6, lac=70, lat=52.700, lon=13.700, radius=300, samples=900)
    mls = CellPack.parse_mls(_files(ctx)["mls-cells-262.csv.gz"])
    lte = [Heard("lte", 262, 1, 4711, c, s) for c, s in ((1, -95), (2, -80), (3, -110))]
    gsm = [Heard("gsm", 262, 1, 9, 4, -70), Heard("gsm", 262, 1, 9, 5, None)]
    scans = [
        lte,
        lte[1:],
        gsm,
        lte + gsm,
        [*gsm, Heard("nr", 262, 1, 70, 6, -100)],
        lte[2:] + gsm[:1],
    ]
    answers = set()
    for scan in scans:
        mine = mls.locate(scan, TODAY.date())
        assert mine is not None
        assert mine == pytest.approx(_server(ctx, scan), abs=1e-6)
        answers.add((round(mine[0], 4), round(mine[1], 4)))
    assert len(answers) >= 5  # different scans, different answers: not one fallback for all


def test_equal_areas_are_decided_by_the_loudest_cell(ctx: Context) -> None:
    """Two areas with one cell each, of equal range and score: the area of the louder cell
    answers, on the server and in the reader, whatever order the rows come in."""
    add_cell(ctx.engine, "lte", 1, lac=1, lat=52.50, lon=13.40)
    add_cell(ctx.engine, "lte", 2, lac=2, lat=52.53, lon=13.43)
    mls = CellPack.parse_mls(_files(ctx)["mls-cells-262.csv.gz"])
    for first, second in ((-80, -100), (-100, -80)):
        scan = [Heard("lte", 262, 1, 1, 1, first), Heard("lte", 262, 1, 2, 2, second)]
        expected = (52.50, 13.40) if first > second else (52.53, 13.43)
        assert _server(ctx, scan) == pytest.approx(expected)
        assert _server(ctx, scan[::-1]) == pytest.approx(expected)
        assert mls.locate(scan, TODAY.date()) == pytest.approx(expected)


def test_wifi_file_locates_a_scan_near_the_server(ctx: Context) -> None:
    macs = ["001b2c3d4e01", "001b2c3d4e02", "001b2c3d4e03", "001b2c3d4e04"]
    places = [(52.5200, 13.4050), (52.5203, 13.4056), (52.5198, 13.4058), (52.5206, 13.4049)]
    for mac, (lat, lon) in zip(macs, places, strict=True):
        add_wifi(ctx.engine, mac, lat=lat, lon=lon, radius=60, samples=20)
    add_cell(ctx.engine, "lte", 1, lat=52.51, lon=13.41, radius=2000)
    files = _files(ctx, wifi=True)
    wifi = WifiPack.parse(files["wifi.csv.gz"])
    cells = CellPack.parse(files["cells.csv.gz"])
    assert len(wifi) == 4
    heard = [(m, s) for m, s in zip(macs, (-55, -70, -75, -85), strict=True)]
    cell = [Heard("lte", 262, 1, 4711, 1, -90)]
    mine = best_of(cells.candidates(cell), wifi.candidates(heard))
    server = _server(ctx, cell, tuple(heard))
    assert mine is not None
    assert abs(mine[0] - server[0]) < 2e-5 and abs(mine[1] - server[1]) < 3e-5  # ~2 m
    assert mine[0] > 52.5195  # the access points answer, not the cell 1 km away
    assert wifi.locate(heard[:1]) is None  # one access point is not enough, as on the server
    assert wifi.locate([("ff" * 6, -50), (macs[0], -60)]) is None
