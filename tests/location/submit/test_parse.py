"""Parsing of the three submit APIs: real client shapes, errors, and every drop reason."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from netatlas.http.body import decode_body
from netatlas.http.errors import (
    ApiError,
    DailyLimitExceeded,
    KeyInvalid,
    NotFound,
    ParseError,
    PayloadTooLarge,
    RateLimitExceeded,
    ServiceUnavailable,
)
from netatlas.location.submit.parse import SubmitApi, SubmitResult, parse_submit
from netatlas.location.submit.report import BlueBeacon, CellTower, Position, Report, WifiAccessPoint

NOW = 1_750_000_000_000
STAMP = 1_740_000_000_000
MAC = "a4:2b:8c:12:34:56"
MAC2 = "a4:2b:8c:12:34:57"
NORMAL = "a42b8c123456"
NORMAL2 = "a42b8c123457"


def parse(body: Any, api: SubmitApi = "v2") -> SubmitResult:
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return parse_submit(text, api, NOW)


def wifi_report(*aps: Any, **extra: Any) -> dict[str, Any]:
    return {"timestamp": STAMP, "wifiAccessPoints": list(aps), **extra}


def only_wifis(*aps: dict[str, Any]) -> list[WifiAccessPoint]:
    result = parse({"items": [wifi_report(*aps)]})
    return result.reports[0].wifiAccessPoints if result.reports else []


def one_cell(cell: dict[str, Any], api: SubmitApi = "v2", **extra: Any) -> SubmitResult:
    key = "cell" if api == "v0" else "cellTowers"
    return parse({"items": [{key: [cell], **extra}]}, api)


def lte(**fields: Any) -> dict[str, Any]:
    cell = {
        "radioType": "lte",
        "mobileCountryCode": 244,
        "mobileNetworkCode": 91,
        "locationAreaCode": 4100,
        "cellId": 26_000_001,
    }
    cell.update(fields)
    return cell


def validation(exc: pytest.ExceptionInfo[ParseError]) -> Any:
    assert exc.value.details is not None
    return exc.value.details["validation"]


# --- real clients ---------------------------------------------------------------------------

NEOSTUMBLER = {
    "items": [
        {
            "timestamp": STAMP,
            "position": {
                "latitude": 60.1699,
                "longitude": 24.9384,
                "accuracy": 4.5,
                "age": 1200,
                "altitude": 21.0,
                "altitudeAccuracy": 3.0,
                "heading": 90.5,
                "pressure": None,
                "speed": 1.2,
                "source": "gps",
            },
            "cellTowers": [
                {
                    "radioType": "lte",
                    "mobileCountryCode": 244,
                    "mobileNetworkCode": 5,
                    "mobileCountryCodeStr": "244",
                    "mobileNetworkCodeStr": "05",
                    "locationAreaCode": 4100,
                    "cellId": 26_000_001,
                    "age": 300,
                    "asu": 40,
                    "primaryScramblingCode": 301,
                    "serving": 1,
                    "signalStrength": -95,
                    "timingAdvance": 3,
                    "arfcn": 6300,
                },
                {  # neighbour without identity (explicit nulls, NeoStumbler/18)
                    "radioType": "lte",
                    "mobileCountryCode": 244,
                    "mobileNetworkCode": 5,
                    "locationAreaCode": None,
                    "cellId": None,
                    "primaryScramblingCode": 17,
                    "serving": 0,
                    "signalStrength": -110,
                    "arfcn": 6300,
                },
                {
                    "radioType": "nr",
                    "mobileCountryCode": 244,
                    "mobileNetworkCode": 5,
                    "locationAreaCode": 7_000_001,
                    "cellId": 68_000_000_123,  # 36-bit NCI
                    "primaryScramblingCode": 900,
                    "serving": 1,
                    "signalStrength": -88,
                    "arfcn": 636_666,
                },
            ],
            "wifiAccessPoints": [
                {
                    "macAddress": "a4:2b:8c:12:34:56",
                    "radioType": "802.11ax",
                    "age": 150,
                    "channel": 33,
                    "frequency": 6115,
                    "signalStrength": -61,
                    "ssid": "HomeNet",
                    "estimatedDistance": {"distance": 3.1, "accuracy": 0.5, "type": "TWO_SIDED"},
                },
                {
                    "macAddress": "00:1a:2b:3c:4d:5e",
                    "radioType": "802.11ac",
                    "age": 160,
                    "frequency": 5180,
                    "signalStrength": -70,
                    "ssid": None,
                },
                {
                    "macAddress": "00:1a:2b:3c:4d:60",
                    "age": 170,
                    "channel": 6,
                    "signalStrength": -80,
                    "ssid": "Cafe_nomap",
                },
            ],
            "bluetoothBeacons": [
                {
                    "macAddress": "00:1a:7d:da:71:13",
                    "name": None,
                    "beaconType": 533,
                    "id1": "f7826da6-4fa2-4e98-8024-bc5b71e0893e",
                    "id2": "1",
                    "id3": "2",
                    "age": 80,
                    "signalStrength": -77,
                }
            ],
        },
        {  # reduced-metadata report with only a hidden network: dropped
            "timestamp": 1_739_923_200_000,
            "position": {"latitude": 60.17, "longitude": 24.94, "source": "fused"},
            "wifiAccessPoints": [{"macAddress": "00:1a:2b:3c:4d:61", "ssid": ""}],
        },
    ]
}


def test_neostumbler_gzip_batch() -> None:
    raw = gzip.compress(json.dumps(NEOSTUMBLER).encode())
    result = parse_submit(decode_body(raw, "gzip", None, 10_000_000), "v2", NOW)
    assert result.reports == [
        Report(
            timestamp=STAMP,
            position=Position(
                latitude=60.1699,
                longitude=24.9384,
                accuracy=4.5,
                altitude=21.0,
                altitudeAccuracy=3.0,
                age=1200,
                heading=90.5,
                speed=1.2,
                source="gnss",
            ),
            cellTowers=[
                CellTower(
                    radioType="lte",
                    mobileCountryCode=244,
                    mobileNetworkCode=5,
                    locationAreaCode=4100,
                    cellId=26_000_001,
                    age=300,
                    asu=40,
                    primaryScramblingCode=301,
                    serving=1,
                    signalStrength=-95,
                    timingAdvance=3,
                    arfcn=6300,
                ),
                CellTower(
                    radioType="nr",
                    mobileCountryCode=244,
                    mobileNetworkCode=5,
                    locationAreaCode=7_000_001,
                    cellId=68_000_000_123,
                    primaryScramblingCode=900,
                    serving=1,
                    signalStrength=-88,
                    arfcn=636_666,
                ),
            ],
            wifiAccessPoints=[
                WifiAccessPoint(
                    macAddress="a42b8c123456",
                    radioType="802.11ax",
                    age=150,
                    channel=33,
                    frequency=6115,
                    signalStrength=-61,
                ),
                WifiAccessPoint(
                    macAddress="001a2b3c4d5e",
                    radioType="802.11ac",
                    age=160,
                    channel=36,
                    frequency=5180,
                    signalStrength=-70,
                ),
            ],
            bluetoothBeacons=[
                BlueBeacon(macAddress="001a7dda7113", age=80, signalStrength=-77),
            ],
        )
    ]
    assert result.dropped == {
        "cell.incomplete": 1,
        "wifi.nomap": 1,
        "wifi.hidden": 1,
        "report.empty": 1,
    }


TOWER_COLLECTOR = {
    "items": [
        {
            "timestamp": STAMP,
            "position": {
                "latitude": 52.229675491234,
                "longitude": 21.012228912345,
                "accuracy": 12.0,
                "altitude": 110.0,
                "heading": 0.0,
                "speed": 0.0,
                "source": "gps",
            },
            "cellTowers": [
                {
                    "radioType": "gsm",
                    "mobileCountryCode": 260,
                    "mobileNetworkCode": 2,
                    "locationAreaCode": 58140,
                    "cellId": 12345,
                    "asu": 20,
                    "signalStrength": -73,
                    "timingAdvance": 2,
                    "serving": 1,
                },
                {  # neighbour: LAC and CID unknown
                    "radioType": "gsm",
                    "mobileCountryCode": 260,
                    "mobileNetworkCode": 2,
                    "locationAreaCode": 2147483647,
                    "cellId": 2147483647,
                    "asu": 12,
                    "serving": 0,
                },
                {  # TowerCollector < 2.17.2 could send a null radio type
                    "radioType": None,
                    "mobileCountryCode": 260,
                    "mobileNetworkCode": 2,
                    "locationAreaCode": 58140,
                    "cellId": 12346,
                    "serving": 0,
                },
            ],
        },
        {
            "timestamp": STAMP + 1000,
            "position": {"latitude": 52.23, "longitude": 21.01, "source": "gps"},
            "cellTowers": [
                {
                    "radioType": "lte",
                    "mobileCountryCode": 260,
                    "mobileNetworkCode": 3,
                    "locationAreaCode": 2147483647,
                    "cellId": 2147483647,
                    "primaryScramblingCode": 44,
                    "serving": 0,
                }
            ],
        },
    ]
}


def test_tower_collector_batch() -> None:
    result = parse_submit(
        decode_body(json.dumps(TOWER_COLLECTOR).encode(), None, "utf-8", 10**7), "v2", NOW
    )
    assert result.reports == [
        Report(
            timestamp=STAMP,
            position=Position(
                latitude=52.229675491234,
                longitude=21.012228912345,
                accuracy=12.0,
                altitude=110.0,
                heading=0.0,
                speed=0.0,
                source="gnss",
            ),
            cellTowers=[
                CellTower(
                    radioType="gsm",
                    mobileCountryCode=260,
                    mobileNetworkCode=2,
                    locationAreaCode=58140,
                    cellId=12345,
                    asu=20,
                    serving=1,
                    signalStrength=-73,
                    timingAdvance=2,
                )
            ],
        )
    ]
    assert result.dropped == {"cell.incomplete": 2, "cell.radio": 1, "report.empty": 1}


GEOCLUE = {
    "items": [
        {
            "lat": 48.8566,
            "lon": 2.3522,
            "accuracy": 30.0,
            "altitude": 35.0,
            "time": "2025-02-19T21:20:00+01:00",
            "radioType": "gsm",
            "wifi": [
                {"key": "A4:2B:8C:12:34:56", "signal": -55, "frequency": 2437},
                {"key": "00:1A:2B:3C:4D:5E", "signal": -80, "frequency": 5500},
            ],
            "cell": [{"radio": "gsm", "cid": 4321, "mcc": 208, "mnc": 1, "lac": 12}],
        }
    ]
}


def test_geoclue_legacy_submit() -> None:
    result = parse(GEOCLUE, "v0")
    stamp = int(datetime(2025, 2, 19, 20, 20, tzinfo=UTC).timestamp() * 1000)
    assert result.reports == [
        Report(
            timestamp=stamp,
            position=Position(latitude=48.8566, longitude=2.3522, accuracy=30.0, altitude=35.0),
            cellTowers=[
                CellTower(
                    radioType="gsm",
                    mobileCountryCode=208,
                    mobileNetworkCode=1,
                    locationAreaCode=12,
                    cellId=4321,
                )
            ],
            wifiAccessPoints=[
                WifiAccessPoint(macAddress=NORMAL, channel=6, frequency=2437, signalStrength=-55),
                WifiAccessPoint(
                    macAddress="001a2b3c4d5e", channel=100, frequency=5500, signalStrength=-80
                ),
            ],
        )
    ]
    assert result.dropped == {}


def test_legacy_submit_all_members() -> None:
    item = {
        "lat": 1.0,
        "lon": 2.0,
        "time": "2025-02-19T20:20:00Z",
        "accuracy": 3.0,
        "age": 4,
        "altitude": 5.0,
        "altitude_accuracy": 6.0,
        "heading": 7.0,
        "pressure": 1008.0,
        "speed": 9.0,
        "source": "fused",
        "radio": "lte",
        "blue": [{"key": "00:1a:7d:da:71:13", "age": 10, "name": "beacon", "signal": -70}],
        "cell": [
            {
                "mcc": 244,
                "mnc": 91,
                "lac": 4100,
                "cid": 26_000_001,
                "age": 11,
                "asu": 30,
                "psc": 12,
                "serving": 1,
                "signal": -100,
                "ta": 5,
            }
        ],
        "wifi": [
            {
                "key": MAC,
                "age": 13,
                "channel": 1,
                "frequency": 2412,
                "radio": "802.11n",
                "signal": -50,
                "signalToNoiseRatio": 40,
                "ssid": "visible",
            }
        ],
    }
    (report,) = parse({"items": [item]}, "v0").reports
    assert report == Report(
        timestamp=int(datetime(2025, 2, 19, 20, 20, tzinfo=UTC).timestamp() * 1000),
        position=Position(
            latitude=1.0,
            longitude=2.0,
            accuracy=3.0,
            altitude=5.0,
            altitudeAccuracy=6.0,
            age=4,
            heading=7.0,
            pressure=1008.0,
            speed=9.0,
            source="fused",
        ),
        bluetoothBeacons=[BlueBeacon(macAddress="001a7dda7113", age=10, signalStrength=-70)],
        cellTowers=[
            CellTower(
                radioType="lte",
                mobileCountryCode=244,
                mobileNetworkCode=91,
                locationAreaCode=4100,
                cellId=26_000_001,
                age=11,
                asu=30,
                primaryScramblingCode=12,
                serving=1,
                signalStrength=-100,
                timingAdvance=5,
            )
        ],
        wifiAccessPoints=[
            WifiAccessPoint(
                macAddress=NORMAL,
                age=13,
                channel=1,
                frequency=2412,
                radioType="802.11n",
                signalStrength=-50,
                signalToNoiseRatio=40,
            )
        ],
    )


def test_v1_geosubmit_flat_report() -> None:
    item = {
        "timestamp": STAMP,
        "latitude": 51.5,
        "longitude": -0.1,
        "accuracy": 10.0,
        "altitude": 30.0,
        "altitudeAccuracy": 5.0,
        "age": 100,
        "heading": 45.0,
        "pressure": 1013.0,
        "speed": 2.5,
        "source": "gnss",
        "radioType": "umts",
        "carrier": "Example",
        "homeMobileCountryCode": "234",
        "homeMobileNetworkCode": "30",
        "cellTowers": [
            {"mobileCountryCode": 234, "mobileNetworkCode": 30, "locationAreaCode": 20,
             "cellId": 70_000, "psc": 300}
        ],
    }  # fmt: skip
    (report,) = parse({"items": [item]}, "v1").reports
    assert report == Report(
        timestamp=STAMP,
        position=Position(
            latitude=51.5,
            longitude=-0.1,
            accuracy=10.0,
            altitude=30.0,
            altitudeAccuracy=5.0,
            age=100,
            heading=45.0,
            pressure=1013.0,
            speed=2.5,
            source="gnss",
        ),
        cellTowers=[
            CellTower(
                radioType="wcdma",
                mobileCountryCode=234,
                mobileNetworkCode=30,
                locationAreaCode=20,
                cellId=70_000,
                primaryScramblingCode=300,
            )
        ],
        carrier="Example",
        homeMobileCountryCode=234,
        homeMobileNetworkCode=30,
    )


def test_v2_nested_position_is_not_read_flat_and_vice_versa() -> None:
    flat = wifi_report({"macAddress": MAC}, latitude=1.0, longitude=2.0)
    assert parse({"items": [flat]}, "v2").reports[0].position is None
    nested = wifi_report({"macAddress": MAC}, position={"latitude": 1.0, "longitude": 2.0})
    assert parse({"items": [nested]}, "v1").reports[0].position is None


def test_thousand_report_batch() -> None:
    items = [
        wifi_report(
            *({"macAddress": f"00:1a:2b:{r >> 8:02x}:{r & 0xFF:02x}:{w:02x}",
               "signalStrength": -40 - w} for w in range(10)),
            position={"latitude": 50 + r / 1000, "longitude": 8.0},
        )
        for r in range(1000)
    ]  # fmt: skip
    raw = gzip.compress(json.dumps({"items": items}).encode())
    result = parse_submit(decode_body(raw, "gzip", None, 10**8), "v2", NOW)
    assert len(result.reports) == 1000
    assert all(len(report.wifiAccessPoints) == 10 for report in result.reports)
    assert result.reports[999].position == Position(latitude=50.999, longitude=8.0)
    assert result.reports[999].wifiAccessPoints[9] == WifiAccessPoint(
        macAddress="001a2b03e709", signalStrength=-49
    )
    assert result.dropped == {}


# --- structural errors ----------------------------------------------------------------------


@pytest.mark.parametrize("body", ["", "  \n", b"", b"\r\n"])
def test_empty_body_is_a_parse_error_without_details(body: str | bytes) -> None:
    with pytest.raises(ParseError) as exc:
        parse_submit(body, "v2", NOW)
    assert exc.value.details is None
    assert json.loads(exc.value.body()) == {
        "error": {
            "errors": [{"domain": "global", "reason": "parseError", "message": "Parse Error"}],
            "code": 400,
            "message": "Parse Error",
        }
    }


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("not json", "JSONDecodeError('Expecting value: line 1 column 1 (char 0)')"),
        ('{"items": [}', "JSONDecodeError('Expecting value: line 1 column 12 (char 11)')"),
        (
            '{"items": [],}',
            "JSONDecodeError('Expecting property name enclosed in double quotes: "
            "line 1 column 14 (char 13)')",
        ),
    ],
)
def test_invalid_json_reports_the_stdlib_error(body: str, detail: str) -> None:
    with pytest.raises(ParseError) as exc:
        parse(body)
    assert exc.value.details == {"decode": detail}
    assert json.loads(exc.value.body())["error"]["details"] == {"decode": detail}


@pytest.mark.parametrize(
    ("body", "shown"), [("[1]", "[1]"), ('"text"', "'text'"), ("5", "5"), ("null", "None")]
)
def test_body_not_an_object(body: str, shown: str) -> None:
    with pytest.raises(ParseError) as exc:
        parse(body)
    assert validation(exc) == {
        "": f'"{shown}" is not a mapping type: Does not implement dict-like functionality.'
    }


@pytest.mark.parametrize("api", ["v2", "v1", "v0"])
@pytest.mark.parametrize("body", ["{}", '{"items": null}', '{"other": []}'])
def test_missing_items_is_required(body: str, api: SubmitApi) -> None:
    with pytest.raises(ParseError) as exc:
        parse(body, api)
    assert validation(exc) == {"items": "Required"}


def test_items_not_a_list() -> None:
    with pytest.raises(ParseError) as exc:
        parse('{"items": {"wifiAccessPoints": []}}')
    assert validation(exc) == {"items": "\"{'wifiAccessPoints': []}\" is not iterable"}
    with pytest.raises(ParseError) as exc:
        parse('{"items": "x"}')
    assert validation(exc) == {"items": "\"'x'\" is not iterable"}


def test_long_rejected_values_are_shortened_in_messages() -> None:
    with pytest.raises(ParseError) as exc:
        parse(json.dumps(list(range(1000))))
    message = validation(exc)[""]
    assert len(message) < 200
    assert message.startswith('"[0, 1, 2')


def test_empty_items_is_fine() -> None:
    result = parse({"items": []})
    assert result.reports == []
    assert result.dropped == {}


def test_bytes_input() -> None:
    body = json.dumps({"items": [wifi_report({"macAddress": MAC})]}).encode()
    assert parse(body).reports[0].wifiAccessPoints == [WifiAccessPoint(macAddress=NORMAL)]


# --- error envelopes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "domain", "reason", "message"),
    [
        (ParseError(), 400, "global", "parseError", "Parse Error"),
        (KeyInvalid(), 400, "usageLimits", "keyInvalid", "Missing or invalid API key."),
        (
            DailyLimitExceeded(),
            403,
            "usageLimits",
            "dailyLimitExceeded",
            "You have exceeded your daily limit.",
        ),
        (
            RateLimitExceeded(retry_after=30),
            429,
            "usageLimits",
            "rateLimitExceeded",
            "You have exceeded the rate limit.",
        ),
        (NotFound(), 404, "geolocation", "notFound", "Not found"),
        (ServiceUnavailable(), 503, "global", "serviceUnavailable", "Service Unavailable"),
        (PayloadTooLarge(), 413, "global", "payloadTooLarge", "Request body too large."),
        (ApiError(), 500, "global", "internalError", "Internal Error"),
    ],
)
def test_error_envelopes(
    error: ApiError, status: int, domain: str, reason: str, message: str
) -> None:
    assert error.status == status
    assert json.loads(error.body()) == {
        "error": {
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "code": status,
            "message": message,
        }
    }


def test_parse_error_details_and_rate_limit_hint() -> None:
    error = ParseError.validation_error({"items": "Required"})
    assert json.loads(error.body())["error"]["details"] == {"validation": {"items": "Required"}}
    assert ParseError.decode_error("bad").details == {"decode": "bad"}
    assert RateLimitExceeded(retry_after=30).retry_after == 30


# --- leniency: what is ignored, coerced or dropped ------------------------------------------


def test_case_18_non_string_mac_is_dropped_not_a_400() -> None:
    result = parse({"items": [wifi_report({"macAddress": 10}, {"macAddress": MAC})]})
    assert result.reports[0].wifiAccessPoints == [WifiAccessPoint(macAddress=NORMAL)]
    assert result.dropped == {"wifi.invalid_mac": 1}


def test_unknown_fields_are_ignored_at_every_level() -> None:
    body = {
        "extra": {"nested": [1, 2]},
        "items": [
            wifi_report(
                {"macAddress": MAC, "vendor": "x", "estimatedDistance": {"distance": 1}},
                position={"latitude": 1.0, "longitude": 2.0, "provider": "gps", "extras": {}},
                unknown=[None],
            )
        ],
    }
    (report,) = parse(body).reports
    assert report.position == Position(latitude=1.0, longitude=2.0)
    assert report.wifiAccessPoints == [WifiAccessPoint(macAddress=NORMAL)]


def test_nulls_are_absent() -> None:
    report = wifi_report(
        {"macAddress": MAC, "age": None, "channel": None, "signalStrength": None, "ssid": None},
        position=None,
        cellTowers=None,
        bluetoothBeacons=None,
        carrier=None,
        timestamp=None,
    )
    (parsed,) = parse({"items": [report]}).reports
    assert parsed == Report(timestamp=NOW, wifiAccessPoints=[WifiAccessPoint(macAddress=NORMAL)])


def test_nan_and_infinities_are_dropped() -> None:
    body = (
        '{"items": [{"position": {"latitude": NaN, "longitude": Infinity, "accuracy": 1e999,'
        ' "speed": -Infinity, "altitude": 5},'
        ' "wifiAccessPoints": [{"macAddress": "MAC", "signalStrength": NaN, "age": 1e999}]}]}'
    ).replace("MAC", MAC)
    (report,) = parse(body).reports
    assert report.position == Position(altitude=5.0)
    assert report.wifiAccessPoints == [WifiAccessPoint(macAddress=NORMAL)]


def test_nan_strings_in_position_are_dropped() -> None:
    (report,) = parse(
        {
            "items": [
                wifi_report({"macAddress": MAC}, position={"latitude": "NaN", "longitude": "2"})
            ]
        }
    ).reports
    assert report.position == Position(longitude=2.0)


def test_numeric_strings_and_integral_floats() -> None:
    cell = lte(mobileCountryCode="244", mobileNetworkCode="05", locationAreaCode=4100.0,
               cellId="26000001", signalStrength="-90", asu=30.0)  # fmt: skip
    (report,) = one_cell(cell).reports
    assert report.cellTowers == [
        CellTower(
            radioType="lte",
            mobileCountryCode=244,
            mobileNetworkCode=5,
            locationAreaCode=4100,
            cellId=26_000_001,
            asu=30,
            signalStrength=-90,
        )
    ]
    assert only_wifis({"macAddress": MAC, "signalStrength": -70.0, "channel": "6"}) == [
        WifiAccessPoint(macAddress=NORMAL, channel=6, frequency=2437, signalStrength=-70)
    ]


def test_wrongly_typed_optional_members_become_absent() -> None:
    aps = only_wifis(
        {"macAddress": MAC, "signalStrength": "strong", "age": 1.5, "channel": [6],
         "frequency": 2437, "ssid": 5, "radioType": 11},
    )  # fmt: skip
    assert aps == [WifiAccessPoint(macAddress=NORMAL, channel=6, frequency=2437)]


def test_a_badly_typed_report_does_not_disturb_the_others() -> None:
    good = [wifi_report({"macAddress": MAC, "signalStrength": -60}, position={"latitude": 1.0})]
    fast = parse({"items": good})
    bad = {"timestamp": "yesterday", "position": [1, 2], "carrier": 7,
           "wifiAccessPoints": [{"macAddress": MAC2, "signalToNoiseRatio": {}}]}  # fmt: skip
    slow = parse({"items": [*good, bad]})
    assert slow.reports[0] == fast.reports[0]
    assert slow.reports[1] == Report(
        timestamp=NOW, wifiAccessPoints=[WifiAccessPoint(macAddress=NORMAL2)]
    )
    assert slow.dropped == {"position.invalid": 1}


def test_report_and_entry_shapes_that_are_not_objects() -> None:
    body = {
        "items": [
            7,
            "report",
            None,
            wifi_report(
                {"macAddress": MAC}, "ap", 3, bluetoothBeacons={"macAddress": MAC}, cellTowers=[1]
            ),
            {"wifiAccessPoints": "none"},
        ]
    }
    result = parse(body)
    assert [r.wifiAccessPoints for r in result.reports] == [[WifiAccessPoint(macAddress=NORMAL)]]
    assert result.dropped == {
        "report.invalid": 3,
        "wifi.invalid": 3,
        "blue.invalid": 1,
        "cell.invalid": 1,
        "report.empty": 1,
    }


# --- MAC addresses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mac",
    [
        "a4:2b:8c:12:34:56",
        "A4-2B-8C-12-34-56",
        "a42b.8c12.3456",
        "A42B8C123456",
        " a4:2b:8c:12:34:56 ",
    ],
)
def test_mac_formats(mac: str) -> None:
    assert only_wifis({"macAddress": mac}) == [WifiAccessPoint(macAddress=NORMAL)]


@pytest.mark.parametrize(
    ("mac", "reason"),
    [
        ("a4:2b:8c:12:34", "wifi.invalid_mac"),
        ("a4:2b:8c:12:34:5g", "wifi.invalid_mac"),
        ("0x2b8c123456", "wifi.invalid_mac"),
        ("a4_2b_8c_12_34_56", "wifi.invalid_mac"),
        ("a42b8c 12345", "wifi.invalid_mac"),
        ("", "wifi.invalid_mac"),
        ("00:00:00:00:00:00", "wifi.invalid_mac"),
        ("ff:ff:ff:ff:ff:ff", "wifi.invalid_mac"),
        ("01:00:5e:90:10:00", "wifi.multicast_mac"),
        ("33:33:00:00:00:01", "wifi.multicast_mac"),
        ("02:1a:2b:3c:4d:5e", "wifi.local_mac"),
        ("de:ad:be:ef:00:01", "wifi.local_mac"),
    ],
)
def test_refused_wifi_macs(mac: str, reason: str) -> None:
    result = parse({"items": [wifi_report({"macAddress": mac}, {"macAddress": MAC})]})
    assert result.reports[0].wifiAccessPoints == [WifiAccessPoint(macAddress=NORMAL)]
    assert result.dropped == {reason: 1}


def test_missing_mac() -> None:
    result = parse({"items": [wifi_report({"signalStrength": -50})]})
    assert result.reports == []
    assert result.dropped == {"wifi.invalid_mac": 1, "report.empty": 1}


@pytest.mark.parametrize(
    ("mac", "reason"),
    [
        (None, "blue.invalid_mac"),
        ("zz:2b:8c:12:34:56", "blue.invalid_mac"),
        ("01:2b:8c:12:34:56", "blue.multicast_mac"),
        ("c6:2b:8c:12:34:56", "blue.local_mac"),
    ],
)
def test_refused_bluetooth_macs(mac: str | None, reason: str) -> None:
    result = parse({"items": [{"bluetoothBeacons": [{"macAddress": mac}]}]})
    assert result.reports == []
    assert result.dropped == {reason: 1, "report.empty": 1}


def test_mac_cache_counts_every_refusal() -> None:
    items = [wifi_report({"macAddress": "02:00:00:00:00:01"}, {"macAddress": MAC})] * 3
    assert parse({"items": items}).dropped == {"wifi.local_mac": 3}


# --- WiFi -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ssid", ["Cafe_nomap", "CAFE_NOMAP", "x_NoMap", "Home_optout", "a_OptOut_b", "_nomap"]
)
def test_opted_out_ssids(ssid: str) -> None:
    result = parse({"items": [wifi_report({"macAddress": MAC, "ssid": ssid})]})
    assert result.reports == []
    assert result.dropped == {"wifi.nomap": 1, "report.empty": 1}


@pytest.mark.parametrize("ssid", ["nomap", "Cafe_nomap_2", "my-optout", "café_noma"])
def test_ssids_that_are_not_opt_outs(ssid: str) -> None:
    assert only_wifis({"macAddress": MAC, "ssid": ssid}) == [WifiAccessPoint(macAddress=NORMAL)]


@pytest.mark.parametrize("ssid", ["", "\x00", "\x00\x00\x00\x00"])
def test_hidden_networks(ssid: str) -> None:
    result = parse({"items": [wifi_report({"macAddress": MAC, "ssid": ssid})]})
    assert result.dropped == {"wifi.hidden": 1, "report.empty": 1}


def test_ssid_is_never_kept() -> None:
    (ap,) = only_wifis({"macAddress": MAC, "ssid": "Visible network"})
    assert ap.ssid is None


@pytest.mark.parametrize(
    ("given", "channel", "frequency"),
    [
        ({"channel": 6}, 6, 2437),
        ({"channel": 14}, 14, 2484),
        ({"channel": 36}, 36, 5180),
        ({"channel": 165}, 165, 5825),
        ({"channel": 190}, 190, 4950),
        ({"channel": 229}, 229, 7095),
        ({"frequency": 2412}, 1, 2412),
        ({"frequency": 2484}, 14, 2484),
        ({"frequency": 4940}, 188, 4940),
        ({"frequency": 5745}, 149, 5745),
        ({"frequency": 5935}, 2, 5935),
        ({"frequency": 5955}, 1, 5955),
        ({"frequency": 6115}, 33, 6115),
        ({"frequency": 7115}, 233, 7115),
        ({"frequency": 60480}, 2, 60480),
        ({"frequency": 2413}, None, 2413),
        ({"frequency": 7125}, None, 7125),
        ({"frequency": 8000}, None, None),
        ({"frequency": 2399}, None, None),
        ({"frequency": 71001}, None, None),
        ({"channel": 0}, None, None),
        ({"channel": 234}, None, None),
        ({"channel": 37, "frequency": 6135}, 37, 6135),  # both given: 6 GHz kept as sent
    ],
)
def test_channel_and_frequency(
    given: dict[str, int], channel: int | None, frequency: int | None
) -> None:
    (ap,) = only_wifis({"macAddress": MAC, **given})
    assert (ap.channel, ap.frequency) == (channel, frequency)


def test_wifi_ranges_and_standards() -> None:
    (ap,) = only_wifis(
        {"macAddress": MAC, "signalStrength": -101, "signalToNoiseRatio": 0,
         "age": 3_600_001, "radioType": "802.11AX "},
    )  # fmt: skip
    assert ap == WifiAccessPoint(macAddress=NORMAL, radioType="802.11ax")
    (ap,) = only_wifis(
        {"macAddress": MAC, "signalStrength": -10, "signalToNoiseRatio": 100,
         "age": -3_600_000, "radioType": "wifi6"},
    )  # fmt: skip
    assert ap == WifiAccessPoint(
        macAddress=NORMAL, signalStrength=-10, signalToNoiseRatio=100, age=-3_600_000
    )


def test_wifi_duplicates_keep_the_better_observation() -> None:
    aps = only_wifis(
        {"macAddress": MAC, "signalStrength": -80, "age": 10},
        {"macAddress": MAC2, "signalStrength": -60},
        {"macAddress": MAC.upper(), "signalStrength": -70, "age": 20},
        {"macAddress": MAC, "signalStrength": -70, "age": 30},
        {"macAddress": MAC2, "signalStrength": -60, "signalToNoiseRatio": 20},
        {"macAddress": MAC2, "signalStrength": -60, "signalToNoiseRatio": 20, "age": -5},
        {"macAddress": MAC2, "signalStrength": -60, "signalToNoiseRatio": 20, "age": 50},
    )
    assert aps == [
        WifiAccessPoint(macAddress=NORMAL, signalStrength=-70, age=20),
        WifiAccessPoint(macAddress=NORMAL2, signalStrength=-60, signalToNoiseRatio=20, age=-5),
    ]
    result = parse({"items": [wifi_report({"macAddress": MAC}, {"macAddress": MAC})]})
    assert result.dropped == {"wifi.duplicate": 1}


# --- Bluetooth ------------------------------------------------------------------------------


def test_bluetooth_entries() -> None:
    body = {
        "items": [
            {
                "bluetoothBeacons": [
                    {"macAddress": MAC, "signalStrength": -90, "age": 5, "name": ""},
                    {"macAddress": MAC, "signalStrength": -60, "age": 50, "name": "tag"},
                    {"macAddress": MAC2, "signalStrength": 1, "age": 99_999_999},
                    {"macAddress": MAC2, "signalStrength": -128},
                ]
            }
        ]
    }
    result = parse(body)
    assert result.reports[0].bluetoothBeacons == [
        BlueBeacon(macAddress=NORMAL, signalStrength=-60, age=50),
        BlueBeacon(macAddress=NORMAL2),
    ]
    assert result.dropped == {"blue.duplicate": 2}


def test_bluetooth_duplicates_prefer_fresher_on_equal_signal() -> None:
    body = {"items": [{"bluetoothBeacons": [
        {"macAddress": MAC, "signalStrength": -60, "age": 500},
        {"macAddress": MAC, "signalStrength": -60, "age": 5},
    ]}]}  # fmt: skip
    (beacon,) = parse(body).reports[0].bluetoothBeacons
    assert beacon.age == 5


# --- cells ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("radio", "expected"),
    [("gsm", "gsm"), ("GSM", "gsm"), ("wcdma", "wcdma"), ("umts", "wcdma"), ("LTE", "lte"),
     ("nr", "nr"), ("NR", "nr"), ("5g", "nr"), ("5G", "nr")],
)  # fmt: skip
def test_radio_vocabulary(radio: str, expected: str) -> None:
    (report,) = one_cell(lte(radioType=radio, cellId=1000)).reports
    assert report.cellTowers[0].radioType == expected


@pytest.mark.parametrize("radio", ["cdma", "18", "", "tdscdma", None, 4])
def test_refused_radios(radio: object) -> None:
    result = one_cell(lte(radioType=radio))
    assert result.reports == []
    assert result.dropped == {"cell.radio": 1, "report.empty": 1}


def test_report_level_radio_is_the_default() -> None:
    cell = lte()
    del cell["radioType"]
    (report,) = one_cell(cell, radioType="lte").reports
    assert report.cellTowers[0].radioType == "lte"
    (report,) = one_cell({**cell, "radioType": "gsm", "cellId": 5}, radioType="lte").reports
    assert report.cellTowers[0].radioType == "gsm"
    legacy = {"mcc": 244, "mnc": 91, "lac": 4100, "cid": 26_000_001}
    (report,) = one_cell(legacy, "v0", radio="umts").reports
    assert report.cellTowers[0].radioType == "wcdma"


def test_google_new_radio_cell_id() -> None:
    cell = {"mobileCountryCode": 244, "mobileNetworkCode": 91, "locationAreaCode": 70_000,
            "newRadioCellId": 68_719_476_735}  # fmt: skip
    (report,) = one_cell(cell).reports
    assert (report.cellTowers[0].radioType, report.cellTowers[0].cellId) == ("nr", 2**36 - 1)
    (report,) = one_cell({**cell, "radioType": "nr", "cellId": 5}).reports
    assert report.cellTowers[0].cellId == 2**36 - 1


def test_gsm_cell_with_a_large_cid_is_wcdma() -> None:
    (report,) = one_cell(lte(radioType="gsm", cellId=70_000, locationAreaCode=10)).reports
    assert report.cellTowers[0].radioType == "wcdma"
    assert report.cellTowers[0].cellId == 70_000


@pytest.mark.parametrize(
    "fields",
    [
        {"mobileCountryCode": None},
        {"mobileCountryCode": 0},
        {"mobileCountryCode": -1},
        {"mobileCountryCode": 2147483647},
        {"mobileNetworkCode": -1},
        {"mobileNetworkCode": 2147483647},
        {"locationAreaCode": None},
        {"locationAreaCode": 0},
        {"locationAreaCode": -1},
        {"locationAreaCode": 65535},
        {"locationAreaCode": 2147483647},
        {"cellId": None},
        {"cellId": 0},
        {"cellId": -1},
        {"cellId": 2147483647},
        {"cellId": 268435455},
        {"radioType": "gsm", "cellId": 65535},
        {"radioType": "gsm", "cellId": 268435455},
        {"radioType": "nr", "cellId": 9223372036854775807},
        {"radioType": "nr", "locationAreaCode": 2147483647},
        {"mobileCountryCode": [244]},
        {"cellId": 1.5},
    ],
)
def test_unknown_sentinels_and_missing_keys(fields: dict[str, Any]) -> None:
    result = one_cell(lte(**fields))
    assert result.reports == []
    assert result.dropped == {"cell.incomplete": 1, "report.empty": 1}


def test_psc_only_neighbour_is_incomplete() -> None:
    neighbour = {"radioType": "wcdma", "primaryScramblingCode": 100, "signalStrength": -90}
    assert one_cell(neighbour).dropped == {"cell.incomplete": 1, "report.empty": 1}


@pytest.mark.parametrize(
    "fields",
    [
        {"mobileCountryCode": 1000},
        {"mobileNetworkCode": 1000},
        {"locationAreaCode": 65534},
        {"radioType": "nr", "locationAreaCode": 2**24},
        {"cellId": 2**28},
        {"radioType": "nr", "cellId": 2**36},
    ],
)
def test_key_out_of_range(fields: dict[str, Any]) -> None:
    result = one_cell(lte(**fields))
    assert result.dropped == {"cell.out_of_range": 1, "report.empty": 1}


def test_key_string_that_is_not_a_number() -> None:
    result = one_cell(lte(mobileNetworkCode="0x1"))
    assert result.dropped == {"cell.invalid": 1, "report.empty": 1}


def test_valid_extremes_and_kept_zero_mnc() -> None:
    cells = [
        lte(mobileNetworkCode=0, locationAreaCode=65533, cellId=2**28 - 2),
        lte(radioType="nr", locationAreaCode=0xFFFFFD, cellId=2**36 - 1),  # 0xFFFFFE reserved
        lte(radioType="nr", locationAreaCode=65535, cellId=2),
        lte(radioType="gsm", mobileCountryCode=1, locationAreaCode=1, cellId=65534),
    ]
    (report,) = parse({"items": [{"cellTowers": cells}]}).reports
    keys = [(c.radioType, c.mobileCountryCode, c.mobileNetworkCode, c.locationAreaCode, c.cellId)
            for c in report.cellTowers]  # fmt: skip
    assert keys == [
        ("lte", 244, 0, 65533, 2**28 - 2),
        ("nr", 244, 91, 0xFFFFFD, 2**36 - 1),
        ("nr", 244, 91, 65535, 2),
        ("gsm", 1, 91, 1, 65534),
    ]


def test_neostumbler_string_codes_fill_missing_numbers() -> None:
    cell = lte(mobileCountryCode=None, mobileNetworkCode=None,
               mobileCountryCodeStr="244", mobileNetworkCodeStr="01")  # fmt: skip
    (report,) = one_cell(cell).reports
    assert (report.cellTowers[0].mobileCountryCode, report.cellTowers[0].mobileNetworkCode) == (
        244,
        1,
    )


@pytest.mark.parametrize(
    ("radio", "fields", "expected"),
    [
        ("lte", {"primaryScramblingCode": 503}, {"primaryScramblingCode": 503}),
        ("lte", {"primaryScramblingCode": 504}, {}),
        ("wcdma", {"primaryScramblingCode": 511}, {"primaryScramblingCode": 511}),
        ("wcdma", {"psc": 512}, {}),
        ("nr", {"primaryScramblingCode": 1007}, {"primaryScramblingCode": 1007}),
        ("nr", {"primaryScramblingCode": 1008}, {}),
        ("lte", {"primaryScramblingCode": -1}, {}),
        ("lte", {"psc": 7}, {"primaryScramblingCode": 7}),
        ("gsm", {"timingAdvance": 63}, {"timingAdvance": 63}),
        ("gsm", {"timingAdvance": 64}, {}),
        ("lte", {"timingAdvance": 1282}, {"timingAdvance": 1282}),
        ("wcdma", {"timingAdvance": 1}, {}),
        ("lte", {"timingAdvance": 2147483647}, {}),
        ("lte", {"signalStrength": -140}, {"signalStrength": -140}),
        ("nr", {"signalStrength": -156}, {"signalStrength": -156}),
        ("lte", {"signalStrength": 0}, {}),
        ("lte", {"signalStrength": -157}, {}),
        ("gsm", {"asu": 31}, {"asu": 31}),
        ("gsm", {"asu": 99}, {}),
        ("wcdma", {"asu": -5}, {"asu": -5}),
        ("lte", {"age": 3_600_000}, {"age": 3_600_000}),
        ("lte", {"age": 3_600_001}, {}),
        ("lte", {"serving": True}, {"serving": 1}),
        ("lte", {"serving": 0}, {"serving": 0}),
        ("lte", {"serving": 2}, {}),
        ("gsm", {"arfcn": 1023}, {"arfcn": 1023}),
        ("gsm", {"arfcn": 1024}, {}),
        ("lte", {"arfcn": 262143}, {"arfcn": 262143}),
        ("nr", {"arfcn": 3279165}, {"arfcn": 3279165}),
    ],
)
def test_optional_cell_fields_out_of_range_become_absent(
    radio: str, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    cell = lte(radioType=radio, cellId=1000, **fields)
    (report,) = one_cell(cell).reports
    assert report.cellTowers == [
        CellTower(
            radioType=radio,
            mobileCountryCode=244,
            mobileNetworkCode=91,
            locationAreaCode=4100,
            cellId=1000,
            **expected,
        )
    ]


def test_cell_duplicates_keep_the_better_observation() -> None:
    cells = [
        lte(timingAdvance=5, signalStrength=-80),
        lte(timingAdvance=2, signalStrength=-100),
        lte(timingAdvance=2, signalStrength=-90, asu=10),
        lte(timingAdvance=2, signalStrength=-90, asu=12, age=500),
        lte(timingAdvance=2, signalStrength=-90, asu=12, age=100),
        lte(timingAdvance=2, signalStrength=-90, asu=12, age=900),
        lte(cellId=26_000_002),
    ]
    result = parse({"items": [{"cellTowers": cells}]})
    (report,) = result.reports
    assert [(c.cellId, c.timingAdvance, c.signalStrength, c.asu, c.age)
            for c in report.cellTowers] == [
        (26_000_001, 2, -90, 12, 100),
        (26_000_002, None, None, None, None),
    ]  # fmt: skip
    assert result.dropped == {"cell.duplicate": 5}


def test_umts_and_wcdma_are_the_same_cell() -> None:
    cells = [lte(radioType="umts", signalStrength=-100), lte(radioType="wcdma", signalStrength=-90)]
    result = parse({"items": [{"cellTowers": cells}]})
    assert [c.signalStrength for c in result.reports[0].cellTowers] == [-90]
    assert result.dropped == {"cell.duplicate": 1}


# --- position and time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [("gps", "gnss"), ("GPS", "gnss"), ("gnss", "gnss"), ("fused", "fused"), ("Fixed", "fixed"),
     ("query", "query"), ("manual", None), ("network", None), (5, None)],
)  # fmt: skip
def test_position_source(source: object, expected: str | None) -> None:
    report = wifi_report({"macAddress": MAC}, position={"latitude": 1.0, "source": source})
    (parsed,) = parse({"items": [report]}).reports
    assert parsed.position == Position(latitude=1.0, source=expected)


def test_unusable_positions_are_kept_for_the_pipeline() -> None:
    items = [
        wifi_report({"macAddress": MAC}, position={"latitude": 91.0, "longitude": 200.0}),
        wifi_report({"macAddress": MAC}, position={"accuracy": 5.0}),
        wifi_report({"macAddress": MAC}),
        wifi_report({"macAddress": MAC}, position={}),
    ]
    reports = parse({"items": items}).reports
    assert [r.position for r in reports] == [
        Position(latitude=91.0, longitude=200.0),
        Position(accuracy=5.0),
        None,
        None,
    ]


def test_position_age_range() -> None:
    item = wifi_report({"macAddress": MAC}, position={"latitude": 1.0, "age": 4_000_000})
    assert parse({"items": [item]}).reports[0].position == Position(latitude=1.0)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (STAMP, STAMP),
        (float(STAMP) + 0.7, STAMP),
        (None, NOW),
        (0, NOW),
        (10**12, NOW),
        (10**12 + 1, 10**12 + 1),
        (10**13, NOW),
        (1_740_000_000, NOW),  # seconds, not ms
        ("1740000000000", NOW),
        (True, NOW),
    ],
)
def test_timestamps(timestamp: object, expected: int) -> None:
    item = wifi_report({"macAddress": MAC}, timestamp=timestamp)
    assert parse({"items": [item]}).reports[0].timestamp == expected


def _ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        ("2025-02-19T21:20:00+01:00", _ms(2025, 2, 19, 20, 20)),
        ("2025-02-19T20:20:00Z", _ms(2025, 2, 19, 20, 20)),
        ("2025-02-19T20:20:00.250Z", _ms(2025, 2, 19, 20, 20) + 250),
        ("2025-02-19T20:20:00", _ms(2025, 2, 19, 20, 20)),
        ("2025-02-19", _ms(2025, 2, 19)),
        ("2000-12-31T23:59:59Z", NOW),
        ("2300-01-01T00:00:00Z", NOW),
        ("yesterday", NOW),
        ("", NOW),
        (None, NOW),
        (STAMP, STAMP),
    ],
)
def test_legacy_time(time: object, expected: int) -> None:
    item = {"time": time, "wifi": [{"key": MAC}]}
    assert parse({"items": [item]}, "v0").reports[0].timestamp == expected


def test_home_network_and_carrier() -> None:
    item = wifi_report({"macAddress": MAC}, carrier="", homeMobileCountryCode=0,
                       homeMobileNetworkCode="x")  # fmt: skip
    (report,) = parse({"items": [item]}).reports
    assert (report.carrier, report.homeMobileCountryCode, report.homeMobileNetworkCode) == (
        None,
        None,
        None,
    )
    item = wifi_report({"macAddress": MAC}, carrier="Telia", homeMobileCountryCode=244,
                       homeMobileNetworkCode=0)  # fmt: skip
    (report,) = parse({"items": [item]}).reports
    assert (report.carrier, report.homeMobileCountryCode, report.homeMobileNetworkCode) == (
        "Telia",
        244,
        0,
    )


def test_report_with_only_refused_entries_is_dropped() -> None:
    item = {
        "position": {"latitude": 1.0, "longitude": 2.0},
        "wifiAccessPoints": [{"macAddress": "02:00:00:00:00:01"}],
        "cellTowers": [{"radioType": "cdma"}],
        "bluetoothBeacons": [{"macAddress": "01:00:00:00:00:01"}],
    }
    result = parse({"items": [item, {}, {"position": {"latitude": 1.0}}]})
    assert result.reports == []
    assert result.dropped == {
        "wifi.local_mac": 1,
        "cell.radio": 1,
        "blue.multicast_mac": 1,
        "report.empty": 3,
    }


# --- hostile input --------------------------------------------------------------------------


def test_deep_nesting_is_a_parse_error_not_a_crash() -> None:
    body = '{"items": [{"x": ' + "[" * 100_000 + "]" * 100_000 + "}]}"
    with pytest.raises(ParseError) as exc:
        parse(body)
    assert exc.value.details is not None
    assert exc.value.details["decode"].startswith("RecursionError(")


def test_huge_numbers() -> None:
    big_position = '{"latitude": 1' + "0" * 400 + ', "longitude": 2}'
    body = '{"items": [{"position": %s, "wifiAccessPoints": [{"macAddress": "%s"}]}]}'
    (report,) = parse(body % (big_position, MAC)).reports
    assert report.position == Position(longitude=2.0)
    cell = lte(cellId=10**40)
    assert one_cell(cell).dropped == {"cell.out_of_range": 1, "report.empty": 1}
    with pytest.raises(ParseError) as exc:  # beyond Python's int conversion limit
        parse(body % ('{"latitude": 1' + "0" * 5000 + "}", MAC))
    assert exc.value.details is not None
    assert "4300 digits" in exc.value.details["decode"]


def test_lone_surrogates_never_reach_the_queue() -> None:
    body = (
        '{"items": [{"carrier": "\\ud800x", "bluetoothBeacons": [{"macAddress": "MAC",'
        ' "name": "tag\\udfff"}],'
        ' "wifiAccessPoints": [{"macAddress": "\\ud800", "ssid": "\\ud800"}]}]}'
    ).replace("MAC", MAC)
    result = parse(body)
    (report,) = result.reports
    assert report.carrier is None
    assert report.bluetoothBeacons == [BlueBeacon(macAddress=NORMAL)]
    assert result.dropped == {"wifi.invalid_mac": 1}


def test_long_free_text_is_cut_and_beacon_names_not_kept() -> None:
    item = {"carrier": "c" * 1000, "bluetoothBeacons": [{"macAddress": MAC, "name": "n" * 300}]}
    (report,) = parse({"items": [item]}).reports
    assert report.carrier == "c" * 255
    # Like SSIDs, beacon names can identify their owner: they are never stored.
    assert report.bluetoothBeacons[0].name is None
