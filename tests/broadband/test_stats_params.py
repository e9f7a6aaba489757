"""The statistics API with absurd parameter values: a 400 in the API's JSON error format,
never a 500 (a number too large for the database, a date out of range, a NUL byte)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.broadband import test_stats_views

api = test_stats_views.api  # the fixture: an app with two aggregations over known tests

BIG = "9" * 4000
ABSURD = [
    f"{BIG},2024-01",  # the original report: 4000 digits
    f"2024-01,-{BIG}",
    "9" * 5000 + ",2024-01",  # more digits than int() reads
    "99999999999999999999,2024-01",  # 20 digits: past 64 bits
    "111111111111111111111111111111-1,2024-01",  # a year past any date
    "0-99999999999999999999,2024-01",  # a month past any date
    "253402300800,2024-01",  # one second after 9999
    "-62135596801,2024-01",  # one second before year 1
    "0001-01-01T00:00:00+14:00,2024-01",  # before year 1 in UTC
    "\u00b2\u00b2\u00b2\u00b2\u00b2,2024-01",  # digits int() cannot read
    "2024-01,2024-06,2024-09",  # three bounds
    "2024-13,2024-01",
]


def _is_api_error(res: Any) -> str:
    assert res.status_code == 400, (res.status_code, res.text[:200])
    assert res.headers["content-type"].startswith("application/json")
    error = res.json()["error"]
    assert error["code"] == 400 and error["message"]
    return str(error["message"])


@pytest.mark.parametrize("value", ABSURD)
@pytest.mark.parametrize("key", ["f.time", "f.time_slices"])
def test_absurd_time_filters_are_a_400(api: Any, key: str, value: str) -> None:
    client, _, _ = api
    for agg in ("tiles", "hours"):
        message = _is_api_error(client.get(f"/api/v1/broadband/stats/{agg}", params={key: value}))
        assert "f.time" in message


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"f.hour": BIG}, "f.hour"),
        ({"f.hour": f"0-{BIG}"}, "f.hour"),
        ({"f.dow": "9" * 5000}, "f.dow"),
        ({"f.hour": "\u00b2"}, "f.hour"),
        ({"limit": BIG}, "limit"),
        ({"offset": "9" * 5000}, "offset"),
        ({"offset": "-1"}, "offset"),
        ({"f.isp": "Virgin\x00Media"}, "control characters"),
        ({"f.time": "2024-01\x00,2024-02"}, "control characters"),
        ({"b.area": "h3:\x00"}, "control characters"),
    ],
)
def test_other_absurd_parameters_are_a_400(api: Any, params: dict[str, str], names: str) -> None:
    client, _, _ = api
    message = _is_api_error(client.get("/api/v1/broadband/stats/hours", params=params))
    assert names in message


def test_good_bounds_still_filter(api: Any) -> None:
    client, _, _ = api
    everything = client.get("/api/v1/broadband/stats/tiles", params={"format": "json"})
    assert everything.status_code == 200 and everything.json()["total"] > 0
    # Two centuries of months: a wide but bounded range keeps every cell (a range naming more
    # slices than one answer may sum is refused, see test_stats_views).
    wide = client.get(
        "/api/v1/broadband/stats/tiles", params={"f.time": "1900-01,2099-12", "format": "json"}
    )
    assert wide.status_code == 200 and wide.json()["total"] == everything.json()["total"]
    none = client.get(
        "/api/v1/broadband/stats/tiles", params={"f.time": "1990,1991", "format": "json"}
    )
    assert none.status_code == 200 and none.json()["total"] == 0
