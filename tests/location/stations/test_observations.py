"""Reports → validated, weighted observations; shard queues; chunk encoding."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from netatlas.location.stations.observations import (
    BlueObservation,
    CellObservation,
    WifiObservation,
    accuracy_weight,
    age_weight,
    cell_signal_weight,
    decode_chunk,
    encode_chunk,
    group_by_queue,
    mac_signal_weight,
    observation_weight,
    observations_from_report,
    parse_queue,
    queue_for,
    shard_of,
    speed_weight,
    wifi_signal_weight,
)
from netatlas.location.submit.report import BlueBeacon, CellTower, Position, Report, WifiAccessPoint

BOXES = {"GB": (49.8, 60.9, -8.7, 1.8), "DE": (47.2, 55.1, 5.8, 15.1)}
MCCS = {234: ("GB",), 235: ("GB",), 262: ("DE",)}
LONDON = (51.5, -0.12)
BERLIN = (52.52, 13.4)


class FakeRegions:
    """Two boxes standing in for Great Britain and Germany."""

    def region_for(self, lat: float, lon: float) -> str | None:
        for code, (s, n, w, e) in BOXES.items():
            if s <= lat <= n and w <= lon <= e:
                return code
        return None

    def regions_for(self, lats: Sequence[float], lons: Sequence[float]) -> list[str | None]:
        return [self.region_for(a, b) for a, b in zip(lats, lons, strict=True)]

    def in_any_region(self, lat: float, lon: float) -> bool:
        return self.region_for(lat, lon) is not None

    def in_region(self, lat: float, lon: float, code: str) -> bool:
        s, n, w, e = BOXES[code]
        return s <= lat <= n and w <= lon <= e


def mcc_regions(mcc: int) -> tuple[str, ...]:
    return MCCS.get(mcc, ())


def report(
    *,
    at: tuple[float, float] | None = LONDON,
    wifis: Sequence[WifiAccessPoint] = (),
    blues: Sequence[BlueBeacon] = (),
    cells: Sequence[CellTower] = (),
    **position: object,
) -> Report:
    pos = None
    if at is not None:
        pos = Position(latitude=at[0], longitude=at[1], **position)  # type: ignore[arg-type]
    return Report(
        timestamp=1_700_000_000_000,
        position=pos,
        wifiAccessPoints=list(wifis),
        bluetoothBeacons=list(blues),
        cellTowers=list(cells),
    )


def ap(mac: str = "a0b1c2d3e4f5", **kw: int) -> WifiAccessPoint:
    return WifiAccessPoint(macAddress=mac, **kw)  # type: ignore[arg-type]


def lte(**kw: int | str) -> CellTower:
    fields: dict[str, int | str] = dict(
        radioType="lte", mobileCountryCode=234, mobileNetworkCode=10, locationAreaCode=100,
        cellId=1234,
    )  # fmt: skip
    fields.update(kw)
    return CellTower(**fields)  # type: ignore[arg-type]


def run(r: Report):  # type: ignore[no-untyped-def]
    return observations_from_report(r, FakeRegions(), mcc_regions)


# --- weights at Ichnaea's documented sample points --------------------------------------------


def test_accuracy_weight() -> None:
    assert accuracy_weight(10.0, 200.0) == 1.0
    assert accuracy_weight(40.0, 200.0) == pytest.approx(0.5)
    assert accuracy_weight(90.0, 200.0) == pytest.approx(1 / 3)
    assert accuracy_weight(None, 200.0) == 1.0
    assert accuracy_weight(2.0, 200.0) == 1.0  # floor 10 m
    assert accuracy_weight(201.0, 200.0) == 0.0  # WiFi cap
    assert accuracy_weight(101.0, 100.0) == 0.0  # BLE cap
    assert accuracy_weight(1000.0, 1000.0) == pytest.approx(0.1)  # cell cap


def test_age_weight() -> None:
    assert age_weight(8000) == pytest.approx(0.5)
    assert age_weight(-8000) == pytest.approx(0.5)
    assert age_weight(18000) == pytest.approx(1 / 3)
    assert age_weight(None) == 1.0
    assert age_weight(500) == 1.0
    assert age_weight(20_001) == 0.0


def test_speed_weight() -> None:
    assert speed_weight(20.0) == pytest.approx(0.5)
    assert speed_weight(45.0) == pytest.approx(1 / 3)
    assert speed_weight(None) == 1.0
    assert speed_weight(3.0) == 1.0
    assert speed_weight(50.1) == 0.0


def test_signal_weights() -> None:
    assert wifi_signal_weight(-80) == 1.0
    assert wifi_signal_weight(None) == 1.0
    # A factor of ten per 20 dB (the field strength), capped at -30 dBm.
    assert wifi_signal_weight(-60) == pytest.approx(10.0)
    assert wifi_signal_weight(-100) == pytest.approx(0.1)
    assert wifi_signal_weight(-20) == wifi_signal_weight(-30) == pytest.approx(10**2.5)
    assert mac_signal_weight(-60) == pytest.approx(10.0)
    for radio, median in (("gsm", -95), ("wcdma", -100), ("lte", -105), ("nr", -110)):
        assert cell_signal_weight(radio, median) == 1.0
        assert cell_signal_weight(radio, None) == 1.0
    assert cell_signal_weight("lte", -75) > 1.0
    # accuracy 0.5 x age 0.5 x speed 0.5 x signal 10^(-10/20)
    assert observation_weight("blue", 40.0, 8000, 20.0, -90) == pytest.approx(0.125 / 10**0.5)
    assert observation_weight("blue", 40.0, 8000, 20.0, None) == pytest.approx(0.125)


# --- report-level validation ------------------------------------------------------------------


def test_valid_wifi_report() -> None:
    out = run(report(wifis=[ap(signalStrength=-80, age=1000)], accuracy=40.0, speed=20.0))
    assert out.drops == {}
    assert out.wifis == [
        WifiObservation("a0b1c2d3e4f5", 51.5, -0.12, 40.0, 1000, 20.0, -80, None, 3, 0.25)
    ]
    assert (out.lat, out.lon) == LONDON


def test_report_without_position_is_dropped() -> None:
    out = run(report(at=None, wifis=[ap()]))
    assert out.empty and out.drops == {"report_no_position": 1}


@pytest.mark.parametrize("at", [(85.06, 0.0), (-86.0, 0.0), (51.5, 180.5), (float("nan"), 0.0)])
def test_report_with_bad_position_is_dropped(at: tuple[float, float]) -> None:
    out = run(report(at=at, wifis=[ap()]))
    assert out.empty and out.drops == {"report_bad_position": 1}


def test_report_outside_every_region_is_dropped() -> None:
    out = run(report(at=(0.0, -30.0), wifis=[ap()]))  # mid-Atlantic
    assert out.empty and out.drops == {"report_outside_regions": 1}
    assert out.lat is None


def test_out_of_range_position_fields_become_none() -> None:
    out = run(report(wifis=[ap()], accuracy=2_000_000.0, speed=301.0, source="query"))
    (obs,) = out.wifis
    assert obs.accuracy is None and obs.speed is None and obs.source == 9


def test_unknown_source_is_gnss() -> None:
    (obs,) = run(report(wifis=[ap()])).wifis
    assert obs.source == 3
    (obs,) = run(report(wifis=[ap()], source="fused")).wifis
    assert obs.source == 6


# --- WiFi / BLE -------------------------------------------------------------------------------


def test_wifi_field_ranges() -> None:
    out = run(report(wifis=[ap(signalStrength=-5, signalToNoiseRatio=101, age=3_600_001)]))
    (obs,) = out.wifis
    assert (obs.signal, obs.snr, obs.age) == (None, None, None)
    out = run(report(wifis=[ap(signalStrength=-100, signalToNoiseRatio=1, age=-3000)]))
    (obs,) = out.wifis
    assert (obs.signal, obs.snr, obs.age) == (-100, 1, -3000)


def test_invalid_macs_are_dropped() -> None:
    out = run(report(wifis=[ap("ffffffffffff"), ap("000000000000"), ap("abc"), ap()]))
    assert len(out.wifis) == 1 and out.drops == {"wifi_invalid": 3}


def test_network_age_made_relative_to_gps_fix() -> None:
    out = run(report(wifis=[ap(age=1500)], blues=[BlueBeacon("a0b1c2d3e4f6", age=500)], age=2000))
    assert out.wifis[0].age == -500
    assert out.blues[0].age == -1500


def test_duplicate_wifi_keeps_better_entry() -> None:
    out = run(
        report(
            wifis=[
                ap(signalStrength=-90),
                ap(signalStrength=-60, signalToNoiseRatio=10),
                ap(signalStrength=-60, signalToNoiseRatio=20),
                ap(signalStrength=-60, signalToNoiseRatio=20, age=100),
            ]
        )
    )
    (obs,) = out.wifis
    assert (obs.signal, obs.snr, obs.age) == (-60, 20, 100)  # a known age beats an unknown one
    assert out.drops == {"wifi_duplicate": 3}


def test_duplicate_blue_prefers_signal_then_younger() -> None:
    mac = "a0b1c2d3e4f6"
    out = run(
        report(
            blues=[
                BlueBeacon(mac, signalStrength=-80, age=10),
                BlueBeacon(mac, signalStrength=-70, age=5000),
                BlueBeacon(mac, signalStrength=-70, age=100),
            ]
        )
    )
    (obs,) = out.blues
    assert (obs.signal, obs.age) == (-70, 100)


def test_blue_signal_range() -> None:
    out = run(report(blues=[BlueBeacon("a0b1c2d3e4f6", signalStrength=-128)]))
    assert out.blues[0].signal is None
    out = run(report(blues=[BlueBeacon("a0b1c2d3e4f6", signalStrength=0)]))
    assert out.blues[0].signal == 0


def test_zero_weight_is_dropped_and_counted() -> None:
    # 150 m accuracy: too coarse for BLE (100 m), fine for WiFi (200 m) and cells.
    out = run(
        report(
            wifis=[ap(), ap("a0b1c2d3e4f7", age=30_000)],
            blues=[BlueBeacon("a0b1c2d3e4f6")],
            cells=[lte()],
            accuracy=150.0,
        )
    )
    assert len(out.wifis) == 1 and len(out.cells) == 1 and out.blues == []
    assert out.drops == {"blue_zero_weight": 1, "wifi_zero_weight": 1}
    out = run(report(wifis=[ap()], speed=60.0))
    assert out.wifis == [] and out.drops == {"wifi_zero_weight": 1}


# --- cells ------------------------------------------------------------------------------------


def test_valid_cell() -> None:
    (obs,) = run(report(cells=[lte(signalStrength=-105, primaryScramblingCode=7)])).cells
    assert (obs.radio, obs.mcc, obs.mnc, obs.lac, obs.cid, obs.psc) == (
        "lte",
        234,
        10,
        100,
        1234,
        7,
    )
    assert obs.signal == -105 and obs.weight == 1.0


@pytest.mark.parametrize(
    "tower",
    [
        lte(radioType="cdma"),
        lte(mobileCountryCode=999),  # not a real MCC
        lte(mobileNetworkCode=1000),
        lte(locationAreaCode=0),
        lte(locationAreaCode=65534),
        lte(cellId=0),
        lte(cellId=2**28),
        CellTower(radioType="lte", mobileCountryCode=234, mobileNetworkCode=10, cellId=1),
        CellTower(mobileCountryCode=234, mobileNetworkCode=10, locationAreaCode=1, cellId=1),
    ],
)
def test_invalid_cell_keys(tower: CellTower) -> None:
    out = run(report(cells=[tower]))
    assert out.cells == [] and out.drops == {"cell_invalid": 1}


def test_cell_outside_its_mcc_regions_is_dropped() -> None:
    out = run(report(cells=[lte(mobileCountryCode=262), lte()]))  # a German MCC in London
    assert len(out.cells) == 1 and out.drops == {"cell_outside_mcc": 1}
    out = run(report(at=BERLIN, cells=[lte(mobileCountryCode=262)]))
    assert len(out.cells) == 1


def test_gsm_with_large_cid_is_wcdma() -> None:
    (obs,) = run(report(cells=[lte(radioType="gsm", cellId=70_000)])).cells
    assert obs.radio == "wcdma"


@pytest.mark.parametrize(
    ("radio", "low", "high"),
    [("gsm", -113, -51), ("wcdma", -121, -25), ("lte", -140, -43), ("nr", -156, -31)],
)
def test_cell_signal_ranges(radio: str, low: int, high: int) -> None:
    for signal, expected in ((low, low), (high, high), (low - 1, None), (high + 1, None)):
        (obs,) = run(report(cells=[lte(radioType=radio, signalStrength=signal)])).cells
        assert obs.signal == expected


@pytest.mark.parametrize(
    ("radio", "asu", "signal"),
    [("gsm", 31, -51), ("wcdma", -5, -121), ("wcdma", 91, -25), ("lte", 97, -43), ("nr", 0, -140)],
)
def test_signal_from_asu(radio: str, asu: int, signal: int) -> None:
    (obs,) = run(report(cells=[lte(radioType=radio, asu=asu)])).cells
    assert (obs.asu, obs.signal) == (asu, signal)


def test_asu_out_of_range_is_dropped() -> None:
    (obs,) = run(report(cells=[lte(radioType="gsm", asu=32)])).cells
    assert (obs.asu, obs.signal) == (None, None)
    (obs,) = run(report(cells=[lte(asu=98)])).cells
    assert obs.asu is None


def test_swapped_asu_and_signal() -> None:
    (obs,) = run(report(cells=[lte(asu=-90, signalStrength=20)])).cells
    assert (obs.signal, obs.asu) == (-90, 20)
    (obs,) = run(report(cells=[lte(asu=-90)])).cells
    assert (obs.signal, obs.asu) == (-90, None)


def test_timing_advance() -> None:
    (obs,) = run(report(cells=[lte(timingAdvance=63)])).cells
    assert obs.ta == 63
    (obs,) = run(report(cells=[lte(timingAdvance=64)])).cells
    assert obs.ta is None
    (obs,) = run(report(cells=[lte(radioType="wcdma", timingAdvance=3)])).cells
    assert obs.ta is None


def test_psc_ranges() -> None:
    (obs,) = run(report(cells=[lte(primaryScramblingCode=504)])).cells
    assert obs.psc is None
    (obs,) = run(report(cells=[lte(radioType="wcdma", primaryScramblingCode=511)])).cells
    assert obs.psc == 511
    (obs,) = run(report(cells=[lte(radioType="nr", primaryScramblingCode=1007)])).cells
    assert obs.psc == 1007


def test_nr_cell() -> None:
    tower = lte(radioType="nr", locationAreaCode=0xFFFFFD, cellId=2**36 - 1, signalStrength=-110)
    (obs,) = run(report(cells=[tower])).cells
    assert (obs.radio, obs.lac, obs.cid, obs.weight) == ("nr", 0xFFFFFD, 2**36 - 1, 1.0)


def test_duplicate_cells_keep_lower_ta_then_stronger_signal() -> None:
    out = run(
        report(
            cells=[
                lte(signalStrength=-60),
                lte(timingAdvance=5, signalStrength=-100),
                lte(timingAdvance=2, signalStrength=-110),
                lte(timingAdvance=2, signalStrength=-90),
            ]
        )
    )
    (obs,) = out.cells
    assert (obs.ta, obs.signal) == (2, -90)
    assert out.drops == {"cell_duplicate": 3}


# --- shard queues -----------------------------------------------------------------------------


def _samples() -> tuple[WifiObservation, BlueObservation, CellObservation]:
    return (
        WifiObservation("a0b1c2d3e4f5", 51.5, -0.12, 10.0, 0, 1.0, -70, 20, 3, 1.0),
        BlueObservation("a0b19c2d3e4f", 51.5, -0.12, None, None, None, None, 9, 0.5),
        CellObservation(
            "nr", 234, 10, 100, 2**35, 7, 51.5, -0.12, 5.0, -100, 0.0, -90, 50, 1, 3, 2.0
        ),
    )


def test_queues_and_shards() -> None:
    w, b, c = _samples()
    assert (queue_for(w), queue_for(b), queue_for(c)) == (
        "update_wifi_c",
        "update_blue_9",
        "update_cell_nr",
    )
    assert (shard_of(w), shard_of(b), shard_of(c)) == ("c", "9", "nr")
    assert parse_queue("update_wifi_c") == ("wifi", "c")
    assert parse_queue("update_cell_wcdma") == ("cell", "wcdma")
    with pytest.raises(ValueError):
        parse_queue("update_datamap_ne")
    assert group_by_queue([w, b, c, w]) == {
        "update_wifi_c": [w, w],
        "update_blue_9": [b],
        "update_cell_nr": [c],
    }


def test_chunk_round_trip() -> None:
    w, b, c = _samples()
    assert decode_chunk(encode_chunk([w, w]), "wifi") == [w, w]
    assert decode_chunk(encode_chunk([b]), "blue") == [b]
    assert decode_chunk(encode_chunk([c]), "cell") == [c]
    assert decode_chunk(encode_chunk([]), "cell") == []
    # Array-like: no field names on the wire.
    assert b"mac" not in encode_chunk([w])


def test_5000_observations_round_trip_compactly() -> None:
    rnd = random.Random(3)
    chunk = [
        WifiObservation(f"{rnd.getrandbits(48):012x}", 51.5, -0.1, 10.0, 0, 1.0, -70, None, 3, 1.0)
        for _ in range(5000)
    ]
    data = encode_chunk(chunk)
    assert len(data) < 5000 * 80
    assert decode_chunk(data, "wifi") == chunk  # its speed is measured in bench/, not here
