"""Request parsing and sanitising for /v1/geolocate and /v1/country."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netatlas.http.errors import ParseError
from netatlas.location.locate import HIGH, LOW, MEDIUM, NONE, parse_query
from netatlas.location.locate.query import MAX_NETWORKS


def q(body: Any) -> Any:
    return parse_query(json.dumps(body))


def wifi(mac: str, **kw: Any) -> dict[str, Any]:
    return {"macAddress": mac, **kw}


TWO_WIFI = [wifi("00:11:22:33:44:55"), wifi("00:11:22:33:44:66")]


@pytest.mark.parametrize(
    "body", ["", "   ", "null", "{}", '{"wifiAccessPoints": []}', '{"invalid": 0}']
)
def test_ip_only_bodies(body: str) -> None:
    query = parse_query(body)
    assert query.network_count == 0
    assert query.ipf and query.lacf
    assert query.expected_accuracy() == LOW
    assert query.expected_accuracy(ip_known=False) == NONE


@pytest.mark.parametrize(
    ("body", "ipf", "lacf"),
    [
        ({"considerIp": False}, False, True),
        ({"considerIp": "false"}, False, True),
        ({"considerIp": "true"}, True, True),
        ({"considerIp": 0}, False, True),
        ({"considerIp": None}, True, True),
        ({"considerIp": False, "fallbacks": {}}, True, True),  # fallbacks win, even empty
        ({"considerIp": True, "fallbacks": {"ipf": False}}, False, True),
        ({"fallbacks": {"ipf": 0, "lacf": "false"}}, False, False),
        ({"fallbacks": None, "considerIp": False}, False, True),
        ({"fallbacks": {"lacf": None, "ipf": None}}, True, True),
    ],
)
def test_fallback_precedence(body: dict[str, Any], ipf: bool, lacf: bool) -> None:
    query = q(body)
    assert (query.ipf, query.lacf) == (ipf, lacf)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ([1], ""),
        ("text", ""),
        (5, ""),
        ({"wifiAccessPoints": "abc"}, "wifiAccessPoints"),
        ({"cellTowers": {"a": 1}}, "cellTowers"),
        ({"bluetoothBeacons": 5}, "bluetoothBeacons"),
        ({"fallbacks": [1]}, "fallbacks"),
        ({"fallbacks": {"ipf": "maybe"}}, "fallbacks.ipf"),
        ({"considerIp": "maybe"}, "considerIp"),
        ({"considerIp": 2}, "considerIp"),
    ],
)
def test_structural_garbage_is_a_parse_error(body: Any, key: str) -> None:
    with pytest.raises(ParseError) as info:
        q(body)
    assert info.value.status == 400
    assert info.value.details is not None
    assert key in info.value.details["validation"]


def test_list_body_message_like_ichnaea() -> None:
    with pytest.raises(ParseError) as info:
        parse_query("[1]")
    assert info.value.details == {
        "validation": {
            "": '"[1]" is not a mapping type: Does not implement dict-like functionality.'
        }
    }


def test_not_json_is_a_decode_error() -> None:
    with pytest.raises(ParseError) as info:
        parse_query(b"\x00not json")
    assert info.value.details is not None
    assert "decode" in info.value.details


def test_unknown_fields_ignored_and_null_anywhere() -> None:
    body = {
        "whatever": {"nested": [1, 2]},
        "carrier": None,
        "radioType": None,
        "homeMobileCountryCode": None,
        "wifiAccessPoints": [
            None,
            wifi("00:11:22:33:44:55", signalStrength=None, age=None, channel=None, extra=1),
            wifi("00:11:22:33:44:66", frequency=None, ssid=None),
        ],
        "cellTowers": None,
        "bluetoothBeacons": [None],
    }
    query = q(body)
    assert [w.macAddress for w in query.wifis] == ["001122334455", "001122334466"]
    assert query.blues == []
    assert query.cells == []


def test_bad_entries_dropped_not_fatal() -> None:
    body = {
        "wifiAccessPoints": [
            1,
            "x",
            {"macAddress": 10},
            {"macAddress": "zz:zz:zz:zz:zz:zz"},
            wifi("00:11:22:33:44:55", signalStrength="strong"),
            wifi("00-11-22-33-44-66", signalStrength=-70.5),
            wifi("0011.2233.4477", age=[1]),
        ],
        "carrier": 5,
        "radioType": 17,
    }
    query = q(body)
    assert [w.macAddress for w in query.wifis] == ["001122334455", "001122334466", "001122334477"]
    assert all(w.signalStrength is None for w in query.wifis)
    assert query.carrier is None


def test_mac_formats_and_invalid_macs() -> None:
    body = {
        "wifiAccessPoints": [
            wifi("00:11:22:33:44:55"),
            wifi("00-11-22-33-44-66"),
            wifi("0011.2233.4477"),
            wifi("001122334488"),
            wifi("AA:BB:CC:DD:EE:F0".replace("AA", "A8")),  # upper case
            wifi("00:00:00:00:00:00"),
            wifi("ff:ff:ff:ff:ff:ff"),
            wifi("01:00:5e:90:10:00"),  # multicast
            wifi("02:11:22:33:44:55"),  # locally administered (randomised)
        ]
    }
    query = q(body)
    assert [w.macAddress for w in query.wifis] == [
        "001122334455",
        "001122334466",
        "001122334477",
        "001122334488",
        "a8bbccddeef0",
    ]


def test_privacy_fewer_than_two_macs_discarded() -> None:
    one = q({"wifiAccessPoints": [wifi("00:11:22:33:44:55"), wifi("00:11:22:33:44:55")]})
    assert one.wifis == []
    assert one.network_count == 0
    blues = q(
        {"bluetoothBeacons": [{"macAddress": "00:11:22:33:44:55"}], "wifiAccessPoints": TWO_WIFI}
    )
    assert blues.blues == []
    assert len(blues.wifis) == 2
    assert blues.network_count == 2
    assert blues.expected_accuracy() == HIGH


def test_duplicate_mac_keeps_better_signal() -> None:
    query = q(
        {
            "wifiAccessPoints": [
                wifi("00:11:22:33:44:55", signalStrength=-90),
                wifi("00:11:22:33:44:55", signalStrength=-60),
                wifi("00:11:22:33:44:66"),
            ]
        }
    )
    assert [(w.macAddress, w.signalStrength) for w in query.wifis] == [
        ("001122334455", -60),
        ("001122334466", None),
    ]


def test_wifi_ranges_become_unknown() -> None:
    query = q(
        {
            "wifiAccessPoints": [
                wifi("00:11:22:33:44:55", signalStrength=-130, age=10**8),
                wifi("001122334466"),
            ]
        }
    )
    assert query.wifis[0].signalStrength is None
    assert query.wifis[0].age is None


def cell(**kw: Any) -> dict[str, Any]:
    base = {
        "radioType": "lte",
        "mobileCountryCode": 234,
        "mobileNetworkCode": 30,
        "locationAreaCode": 12,
        "cellId": 1234,
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not ...}


def test_top_level_radio_type_is_the_default() -> None:
    query = q(
        {"radioType": "lte", "cellTowers": [cell(radioType=...), cell(radioType="gsm", cellId=5)]}
    )
    assert [c.radioType for c in query.cells] == ["lte", "gsm"]
    assert query.expected_accuracy() == MEDIUM


@pytest.mark.parametrize(
    ("given", "radio"),
    [("umts", "wcdma"), ("WCDMA", "wcdma"), ("nr", "nr"), ("5g", "nr"), ("LTE", "lte")],
)
def test_lenient_radio_types(given: str, radio: str) -> None:
    query = q({"cellTowers": [cell(radioType=given)]})
    assert [c.radioType for c in query.cells] == [radio]


def test_old_radio_member_and_unknown_radio() -> None:
    query = q({"cellTowers": [cell(radioType=..., radio="gsm"), cell(radioType="cdma", cellId=9)]})
    assert [c.radioType for c in query.cells] == ["gsm"]


def test_gsm_with_large_cell_id_is_wcdma() -> None:
    query = q({"cellTowers": [cell(radioType="gsm", cellId=70000)]})
    assert query.cells[0].radioType == "wcdma"


def test_numeric_strings_for_codes() -> None:
    query = q(
        {
            "cellTowers": [
                cell(mobileCountryCode="234", mobileNetworkCode="01", locationAreaCode="12")
            ]
        }
    )
    c = query.cells[0]
    assert (c.mobileCountryCode, c.mobileNetworkCode, c.locationAreaCode) == (234, 1, 12)


def test_cells_without_lac_unusable_without_cid_area_only() -> None:
    query = q(
        {
            "cellTowers": [
                cell(locationAreaCode=..., cellId=1),
                cell(locationAreaCode=None, cellId=2),
                cell(locationAreaCode=2147483647, cellId=3),
                cell(cellId=...),
                cell(cellId=268435455, locationAreaCode=13),  # "unknown" sentinel
                cell(mobileCountryCode=1, cellId=4),  # not a real MCC
                cell(mobileCountryCode="abc", cellId=5),
            ]
        }
    )
    assert query.cells == []
    assert [(c.locationAreaCode, c.cellId) for c in query.area_cells] == [(12, None), (13, None)]
    assert query.network_count == 2
    assert query.expected_accuracy() == LOW
    assert query.area_keys() == [("lte", 234, 30, 12), ("lte", 234, 30, 13)]


def test_area_only_entry_in_the_area_of_an_exact_cell_is_folded() -> None:
    query = q({"cellTowers": [cell(), cell(cellId=..., primaryScramblingCode=5)]})
    assert len(query.cells) == 1
    assert query.area_cells == []
    assert query.area_keys() == [("lte", 234, 30, 12)]


def test_nr_cells_with_36_bit_ids() -> None:
    query = q({"cellTowers": [cell(radioType="nr", cellId=2**35 + 7, locationAreaCode=2**20)]})
    assert query.cells[0].cellId == 2**35 + 7
    query = q({"cellTowers": [cell(radioType=..., cellId=..., newRadioCellId=2**34)]})
    assert query.cells[0].radioType == "nr"
    assert query.cells[0].cellId == 2**34


def test_duplicate_cells_keep_smaller_timing_advance() -> None:
    query = q({"cellTowers": [cell(timingAdvance=5, signalStrength=-70), cell(timingAdvance=1)]})
    assert len(query.cells) == 1
    assert query.cells[0].timingAdvance == 1


def test_home_network_and_carrier() -> None:
    query = q({"carrier": "Telekom", "homeMobileCountryCode": "262", "homeMobileNetworkCode": 1})
    assert (query.carrier, query.home_mcc, query.home_mnc) == ("Telekom", 262, 1)
    query = q({"homeMobileCountryCode": "x", "homeMobileNetworkCode": [1]})
    assert (query.home_mcc, query.home_mnc) == (None, None)


def test_geoclue_and_firefox_shapes() -> None:
    geoclue = q(
        {
            "radioType": "gsm",
            "cellTowers": [cell(radioType="lte", cellId=7)],
            "wifiAccessPoints": [
                {"macAddress": "aa:bb:cc:dd:ee:f0".replace("aa", "a8"), "signalStrength": -60},
                {"macAddress": "a8:bb:cc:dd:ee:f1", "signalStrength": -70},
            ],
        }
    )
    assert geoclue.network_count == 3
    firefox = q(
        {
            "wifiAccessPoints": [
                {"macAddress": "a8-bb-cc-dd-ee-f0", "signalStrength": -60},
                {"macAddress": "a8-bb-cc-dd-ee-f1", "signalStrength": -61},
            ]
        }
    )
    assert len(firefox.wifis) == 2


def test_at_most_max_networks_of_each_kind_strongest_first() -> None:
    n = MAX_NETWORKS + 50
    wifis = [wifi(f"00{i:010x}", signalStrength=-100 + i % 60) for i in range(1, n + 1)]
    wifis.append(wifi("00ffffffff00"))  # no signal: the weakest
    blues = [wifi(f"00{i:010x}", signalStrength=-90) for i in range(1, n + 1)]  # request order
    cells = [
        {"radioType": "lte", "mobileCountryCode": 234, "mobileNetworkCode": 30,
         "locationAreaCode": lac, "signalStrength": -140 + lac % 100}
        | ({"cellId": lac} if lac % 2 else {})
        for lac in range(1, 2 * n + 1)
    ]  # fmt: skip
    query = q({"wifiAccessPoints": wifis, "bluetoothBeacons": blues, "cellTowers": cells})
    assert len(query.wifis) == len(query.blues) == MAX_NETWORKS
    assert len(query.cells) == len(query.area_cells) == MAX_NETWORKS
    kept = sorted(w.signalStrength for w in query.wifis)
    assert kept[0] >= max(sorted(-100 + i % 60 for i in range(1, n + 1))[:-MAX_NETWORKS])
    assert "00ffffffff00" not in {w.macAddress for w in query.wifis}
    assert [b.macAddress for b in query.blues] == [
        f"00{i:010x}" for i in range(1, MAX_NETWORKS + 1)
    ]
    kept_lacs = {c.locationAreaCode for c in query.cells}
    left_out = [
        c["signalStrength"]
        for c in cells
        if "cellId" in c and c["locationAreaCode"] not in kept_lacs
    ]
    assert min(c.signalStrength or 0 for c in query.cells) >= max(left_out)
    assert query.dropped["wifi.over_limit"] == n + 1 - MAX_NETWORKS
    assert query.dropped["blue.over_limit"] == n - MAX_NETWORKS
    assert query.dropped["cell.over_limit"] == n - MAX_NETWORKS
    assert query.dropped["cell_area.over_limit"] == n - MAX_NETWORKS
    assert len(query.area_keys()) == 2 * MAX_NETWORKS
