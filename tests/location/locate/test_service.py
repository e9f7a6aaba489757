"""The internal search against seeded station tables, on every test backend."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from netatlas.location.locate import (
    RegionResult,
    Result,
    ResultList,
    locate,
    parse_query,
    region,
)
from netatlas.location.locate.cluster import distance
from tests.location.locate._seed import NOW, NOW_UTC, TODAY, add_area, add_cell, add_macs


def run(engine: Engine, body: dict[str, Any], geoip: Result | None = None) -> ResultList:
    return locate(engine, parse_query(json.dumps(body)), geoip, now=NOW_UTC)


def best(engine: Engine, body: dict[str, Any]) -> Result | None:
    return run(engine, body).best()


def macs(*pairs: tuple[str, int | None]) -> list[dict[str, Any]]:
    return [{"macAddress": mac, "signalStrength": signal} for mac, signal in pairs]


def test_three_wifis_one_positionless(engine: Engine) -> None:
    """Ichnaea case 13: answer inside the three, pulled towards the strongest; 10 m minimum."""
    add_macs(
        engine,
        "wifi",
        [
            ("a81122334455", 51.5, -0.1),
            ("a81122334466", 51.50001, -0.1),
            ("a81122334477", 51.50002, -0.1),
            ("a81122334488", None, None),
        ],
    )
    body = {
        "wifiAccessPoints": [
            {"macAddress": "a8:11:22:33:44:55", "channel": 6, "signalStrength": -50},
            {"macAddress": "a8:11:22:33:44:66", "frequency": 2437},
            {"macAddress": "a8:11:22:33:44:77", "signalStrength": -130},
            {"macAddress": "a8:11:22:33:44:88", "signalToNoiseRatio": 13, "ssid": "my-wifi"},
        ]
    }
    result = best(engine, body)
    assert result is not None
    # Ichnaea answers 51.500005 (weights 1/signal²); a -50 dBm network counts more here.
    assert 51.5 < result.lat < 51.50001
    assert result.lat == pytest.approx(51.500005, abs=5e-6)
    assert result.lon == pytest.approx(-0.1)
    # Ichnaea's 10 m minimum; here stations known from a single fix (stored centres typically
    # tens of metres off) widen the circle.
    assert 30.0 < result.accuracy < 150.0
    # Three fresh single-sample stations (0.05 each), times the cluster's agreement (~1 here).
    assert result.score == pytest.approx(0.15, rel=1e-3)
    assert (result.fallback, result.source, result.region) == (None, "internal", "GB")


def test_single_lte_cell(engine: Engine) -> None:
    """Ichnaea case 14: a single cell answers its centre with the 1 km minimum accuracy."""
    add_cell(engine, "lte", 234, 30, 12, 1234, 51.52, -0.12)
    body = {
        "radioType": "lte",
        "cellTowers": [
            {
                "mobileCountryCode": 234,
                "mobileNetworkCode": 30,
                "locationAreaCode": 12,
                "cellId": 1234,
                "signalStrength": -70,
                "timingAdvance": 1,
            }
        ],
    }
    result = best(engine, body)
    assert result is not None
    assert (result.lat, result.lon, result.accuracy) == (51.52, -0.12, 1000.0)
    assert result.fallback is None


def test_cell_area(engine: Engine) -> None:
    """Ichnaea case 15: unknown cell in a known area -> area centre, lacf; lacf off -> nothing."""
    add_area(engine, "lte", 234, 30, 12, 51.6, -0.2, radius=25_000)
    cell = {
        "radioType": "lte",
        "mobileCountryCode": 234,
        "mobileNetworkCode": 30,
        "locationAreaCode": 12,
        "cellId": 99,
    }
    result = best(engine, {"cellTowers": [cell]})
    assert result is not None
    assert (result.lat, result.lon, result.accuracy, result.fallback) == (
        51.6,
        -0.2,
        50_000.0,
        "lacf",
    )
    no_cid = {k: v for k, v in cell.items() if k != "cellId"}
    assert best(engine, {"cellTowers": [no_cid]}) == result
    assert best(engine, {"cellTowers": [cell], "fallbacks": {"lacf": False}}) is None


def test_area_not_used_when_an_exact_cell_answers(engine: Engine) -> None:
    add_area(engine, "lte", 234, 30, 12, 51.6, -0.2)
    add_cell(engine, "lte", 234, 30, 12, 1, 51.52, -0.12)
    known = {"radioType": "lte", "mobileCountryCode": 234, "mobileNetworkCode": 30}
    body = {"cellTowers": [{**known, "locationAreaCode": 12, "cellId": 1}]}
    results = run(engine, body)
    assert [r.fallback for r in results] == [None]


def test_two_wifis_far_apart(engine: Engine) -> None:
    """Ichnaea case 16: two found networks 111 km apart are no cluster: nothing."""
    add_macs(engine, "wifi", [("a81122334455", 51.5, -0.1), ("a81122334466", 52.5, -0.1)])
    assert (
        best(engine, {"wifiAccessPoints": macs(("a81122334455", -60), ("a81122334466", -60))})
        is None
    )


def test_privacy_one_known_wifi(engine: Engine) -> None:
    add_macs(engine, "wifi", [("a81122334455", 51.5, -0.1)])
    body = {"wifiAccessPoints": macs(("a81122334455", -50), ("a81122334499", -60))}
    assert best(engine, body) is None


@pytest.mark.parametrize(
    "blocked",
    [
        {"block_last": TODAY, "block_count": 1, "created": NOW - timedelta(days=400)},
        {
            "block_last": TODAY - timedelta(days=10),
            "block_count": 2,
            "created": NOW - timedelta(days=60),
        },
    ],
    ids=["temporary", "long-term"],
)
def test_blocked_stations_unused(engine: Engine, blocked: dict[str, Any]) -> None:
    add_macs(engine, "wifi", [("a81122334455", 51.5, -0.1)])
    add_macs(engine, "wifi", [("a81122334466", 51.5001, -0.1)], **blocked)
    body = {"wifiAccessPoints": macs(("a81122334455", -50), ("a81122334466", -60))}
    assert best(engine, body) is None
    add_macs(engine, "wifi", [("a81122334477", 51.5002, -0.1)])
    body["wifiAccessPoints"].append({"macAddress": "a81122334477"})
    result = best(engine, body)
    assert result is not None
    assert result.score == pytest.approx(0.1, rel=1e-2)  # only the two unblocked ones


def test_bluetooth(engine: Engine) -> None:
    add_macs(
        engine,
        "blue",
        [("a81122334455", 51.5, -0.1), ("a81122334466", 51.5002, -0.1)],
        radius=20,
        samples=50,
    )
    body = {"bluetoothBeacons": macs(("a8:11:22:33:44:55", -70), ("a8:11:22:33:44:66", -75))}
    result = best(engine, body)
    assert result is not None
    assert 51.5 <= result.lat <= 51.5002
    assert 10.0 <= result.accuracy <= 50.0
    # Beacons 100 m+ apart are no cluster.
    add_macs(engine, "blue", [("a81122334477", 51.502, -0.1)])
    far = {"bluetoothBeacons": macs(("a81122334455", -70), ("a81122334477", -70))}
    assert best(engine, far) is None


def test_wifi_beats_its_cell(engine: Engine) -> None:
    add_cell(engine, "lte", 234, 30, 12, 1234, 51.505, -0.1, radius=2000)
    add_macs(
        engine,
        "wifi",
        [("a81122334455", 51.5, -0.1), ("a81122334466", 51.5001, -0.1)],
        samples=50,
        radius=60,
    )
    body = {
        "wifiAccessPoints": macs(("a81122334455", -60), ("a81122334466", -70)),
        "cellTowers": [
            {
                "radioType": "lte",
                "mobileCountryCode": 234,
                "mobileNetworkCode": 30,
                "locationAreaCode": 12,
                "cellId": 1234,
            }
        ],
    }
    results = run(engine, body)
    assert len(results) == 2
    answer = results.best()
    assert answer is not None
    assert answer.accuracy < 100
    assert distance(answer.lat, answer.lon, 51.50005, -0.1) < 15


def test_nr_cell(engine: Engine) -> None:
    cid = 2**35 + 12345
    add_cell(engine, "nr", 262, 1, 2**20 + 5, cid, 52.52, 13.40, region="DE")
    body = {
        "cellTowers": [
            {
                "radioType": "5g",
                "mobileCountryCode": "262",
                "mobileNetworkCode": "01",
                "locationAreaCode": 2**20 + 5,
                "cellId": cid,
            }
        ]
    }
    result = best(engine, body)
    assert result is not None
    assert (result.lat, result.lon, result.accuracy, result.region) == (52.52, 13.40, 1000.0, "DE")


def test_several_cells_of_one_area(engine: Engine) -> None:
    add_cell(engine, "lte", 234, 30, 12, 1, 51.50, -0.10, radius=3000)
    add_cell(engine, "lte", 234, 30, 12, 2, 51.52, -0.10, radius=3000)
    known = {
        "radioType": "lte",
        "mobileCountryCode": 234,
        "mobileNetworkCode": 30,
        "locationAreaCode": 12,
    }
    body = {
        "cellTowers": [
            {**known, "cellId": 1, "signalStrength": -80},
            {**known, "cellId": 2, "signalStrength": -110},
        ]
    }
    result = best(engine, body)
    assert result is not None
    assert 51.50 < result.lat < 51.51  # nearer the stronger cell
    assert 1000.0 <= result.accuracy <= 50_000.0
    assert result.score == pytest.approx(2 * 0.1 * 3.321928, rel=1e-5)


def test_top_twenty_by_score(engine: Engine) -> None:
    """The 20 best-scored networks of a cluster are used (Ichnaea took the 20 worst)."""
    good = [(f"a8112233{i:04x}", 51.5 + i * 1e-6, -0.1) for i in range(20)]
    poor = [(f"a8112244{i:04x}", 51.5 + (20 + i) * 1e-6, -0.1) for i in range(5)]
    add_macs(engine, "wifi", good, samples=64, created=NOW - timedelta(days=20))
    add_macs(engine, "wifi", poor, samples=1)
    body = {"wifiAccessPoints": macs(*[(mac, -70) for mac, _, _ in good + poor])}
    result = best(engine, body)
    assert result is not None
    assert result.lat == pytest.approx(51.5 + 9.5e-6, abs=1e-7)  # the mean of the 20 good ones
    # Every cluster member counts (times the agreement, ~1 here).
    assert result.score == pytest.approx(20 * 6.0 + 5 * 0.05, rel=1e-2)


def test_geoip_candidate_and_ipf(engine: Engine) -> None:
    geoip = Result(51.5142, -0.0931, 25_000.0, 0.8, "ipf", "geoip", "GB")
    assert run(engine, {}, geoip).best() == geoip
    assert run(engine, {"considerIp": False}, geoip).best() is None
    assert run(engine, {"fallbacks": {"ipf": False}}, geoip).best() is None


def test_accepts_a_connection(engine: Engine) -> None:
    add_macs(engine, "wifi", [("a81122334455", 51.5, -0.1), ("a81122334466", 51.5001, -0.1)])
    query = parse_query(
        json.dumps({"wifiAccessPoints": macs(("a81122334455", -60), ("a81122334466", -60))})
    )
    with engine.connect() as conn:
        results = locate(conn, query, now=NOW_UTC)
    assert len(results) == 1


def test_region_from_a_german_cell_beats_a_british_ip(engine: Engine) -> None:
    """Ichnaea case 17: one seeded German cell with a UK IP -> DE."""
    add_cell(engine, "lte", 262, 1, 5, 77, 52.52, 13.40, region="DE")
    body = {
        "cellTowers": [
            {
                "radioType": "lte",
                "mobileCountryCode": 262,
                "mobileNetworkCode": 1,
                "locationAreaCode": 5,
                "cellId": 77,
            }
        ]
    }
    geoip = RegionResult("GB", 500_000.0, 0.8, "ipf", "geoip")
    results = region(engine, parse_query(json.dumps(body)), geoip, now=NOW_UTC)
    answer = results.best()
    assert answer is not None
    assert (answer.region, answer.source, answer.fallback) == ("DE", "internal", None)
    assert results.scores()["DE"] == pytest.approx(1.0 + 0.1 * 3.321928, rel=1e-5)


def test_region_unknown_us_cell_with_uk_ip(engine: Engine) -> None:
    body = {
        "cellTowers": [
            {
                "radioType": "lte",
                "mobileCountryCode": 310,
                "mobileNetworkCode": 410,
                "locationAreaCode": 5,
                "cellId": 77,
            }
        ]
    }
    geoip = RegionResult("GB", 500_000.0, 0.8, "ipf", "geoip")
    answer = region(engine, parse_query(json.dumps(body)), geoip, now=NOW_UTC).best()
    assert answer is not None
    assert (answer.region, answer.fallback) == ("GB", "ipf")


def test_region_from_wifi_and_ambiguous_mcc_area(engine: Engine) -> None:
    add_macs(
        engine,
        "wifi",
        [("a81122334455", 49.6, 6.1), ("a81122334466", 49.6001, 6.1)],
        region="LU",
        samples=4,
    )
    query = parse_query(
        json.dumps({"wifiAccessPoints": macs(("a81122334455", -60), ("a81122334466", -60))})
    )
    answer = region(engine, query, now=NOW_UTC, region_radius=lambda code: 1.0).best()
    assert answer is not None
    assert (answer.region, answer.accuracy) == ("LU", 1.0)
    assert answer.score == pytest.approx(0.2 + 0.2)
    # MCC 234 is GB, GG, IM, JE: 0.25 each, plus the stored area's region.
    add_area(engine, "lte", 234, 30, 12, 49.45, -2.55, region="GG", num_cells=4)
    area_only = {
        "cellTowers": [
            {
                "radioType": "lte",
                "mobileCountryCode": 234,
                "mobileNetworkCode": 30,
                "locationAreaCode": 12,
            }
        ]
    }
    results = region(engine, parse_query(json.dumps(area_only)), now=NOW_UTC)
    assert results.scores() == pytest.approx({"GB": 0.25, "GG": 0.25 + 2.0, "IM": 0.25, "JE": 0.25})
