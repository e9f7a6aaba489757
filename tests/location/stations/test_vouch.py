"""Who vouches for a station's position: distinct contributors and days, restarted on a move."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import Engine

from netatlas.location.stations.observations import WifiObservation, observations_from_report
from netatlas.location.submit.intake import contributor_id
from netatlas.location.submit.report import Position, Report, WifiAccessPoint
from tests.location.stations import test_update
from tests.location.stations.test_update import (
    LONDON,
    MAC,
    NOW,
    FakeRegions,
    apply,
    mcc_regions,
    wifi_row,
)

engine = test_update.engine  # the fixture: a fresh database on each backend


def by(contributor: int, lat: float = LONDON[0], lon: float = LONDON[1]) -> WifiObservation:
    return WifiObservation(MAC, lat, lon, 10.0, 0, 1.0, -70, None, 3, 1.0, contributor)


def vouch(row: Any) -> tuple[Any, Any, Any]:
    return row.contributor, row.contributors, row.days


def test_contributors_and_days_are_counted(engine: Engine) -> None:
    apply(engine, "wifi", "c", [by(11), by(11)])
    assert vouch(wifi_row(engine)) == (11, 1, 1)
    apply(engine, "wifi", "c", [by(11)], NOW + timedelta(hours=2))  # same day, same person
    assert vouch(wifi_row(engine)) == (11, 1, 1)
    apply(engine, "wifi", "c", [by(11)], NOW + timedelta(days=1))
    assert vouch(wifi_row(engine)) == (11, 1, 2)
    apply(engine, "wifi", "c", [by(0)], NOW + timedelta(days=1))  # unknown: nobody new
    assert vouch(wifi_row(engine))[:2] == (11, 1)
    apply(engine, "wifi", "c", [by(22)], NOW + timedelta(days=1))
    # Two are all that is needed: the first one's id is not kept beyond that.
    assert vouch(wifi_row(engine)) == (None, 2, 2)
    apply(engine, "wifi", "c", [by(33)], NOW + timedelta(days=2))
    assert vouch(wifi_row(engine)) == (None, 2, 3)


def test_a_move_restarts_the_count(engine: Engine) -> None:
    apply(engine, "wifi", "c", [by(11), by(22)])
    apply(engine, "wifi", "c", [by(11)], NOW + timedelta(days=1))
    assert vouch(wifi_row(engine)) == (None, 2, 2)
    moved = LONDON[0] + 0.006  # about 670 m north: a move (WiFi, over 150 m)
    later = NOW + timedelta(days=3)
    apply(engine, "wifi", "c", [by(33, moved), by(33, moved)], later)
    row = wifi_row(engine)
    assert abs(row.lat - moved) < 1e-9
    assert vouch(row) == (33, 1, 1)


def test_a_block_clears_the_count(engine: Engine) -> None:
    apply(engine, "wifi", "c", [by(11), by(22)])
    far = LONDON[0] + 0.2  # 22 km: beyond WiFi's 5 km, the station is blocked
    apply(engine, "wifi", "c", [by(33, far)], NOW + timedelta(days=1))
    row = wifi_row(engine)
    assert row.lat is None and (row.contributors, row.days) == (0, 0)


def test_contributor_ids_are_keyed_and_carried() -> None:
    key = b"k" * 32
    a = contributor_id("192.0.2.1", key)
    assert a == contributor_id("192.0.2.1", key) and 0 < a < 2**31
    assert a != contributor_id("192.0.2.2", key)
    assert a != contributor_id("192.0.2.1", b"j" * 32)
    assert contributor_id(None, key) == 0 and contributor_id("192.0.2.1", b"") == 0
    report = Report(
        timestamp=0,
        position=Position(latitude=LONDON[0], longitude=LONDON[1], accuracy=10.0),
        wifiAccessPoints=[WifiAccessPoint(MAC, signalStrength=-60)],
    )
    obs = observations_from_report(report, FakeRegions(), mcc_regions, a)
    assert [o.contributor for o in obs.wifis] == [a]
    # Old queue items (without the field) still decode, as unknown.
    old = msgspec.msgpack.encode([[MAC, 1.0, 2.0, None, None, None, None, None, 3, 1.0]])
    assert msgspec.msgpack.decode(old, type=list[WifiObservation])[0].contributor == 0
