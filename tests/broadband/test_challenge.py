"""Challenge packages on both backends: only consented tests, local-time windows at their
edges and across a daylight-saving change, per-place medians against hand-computed answers,
spreadsheet-safe CSV, the CLI and the admin page."""

from __future__ import annotations

import csv
import io
import itertools
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from netatlas.broadband.challenge import zipwrite
from netatlas.broadband.challenge.package import Request, write_package
from netatlas.broadband.challenge.select import SelectionError, parse_bbox, resolve_area
from netatlas.broadband.form import DEFAULT_FORM
from netatlas.broadband.measurements import ClientNetwork, insert_measurement, measurement_row
from netatlas.broadband.ndt7.summary import Summary
from netatlas.broadband.survey import SurveyService
from netatlas.cli import main
from netatlas.geo.asn import NoAsn
from netatlas.settings import Settings

NY = ZoneInfo("America/New_York")
HOME = (47.60, -122.33)
BOX = "-123,47,-122,48"
_numbers = itertools.count(1)


def run_test(
    engine: Engine,
    when: datetime,
    *,
    down: float = 100.0,
    up: float = 10.0,
    rtt: float = 20.0,
    challenge: bool | None = True,
    location: tuple[float, float, float] | None = (HOME[0], HOME[1], 10.0),
    isp: str = "Comcast",
) -> tuple[int, str]:
    """Store a download and an upload as a test against this server would, then its survey
    through the survey service; returns the survey's id and the download's UUID."""
    n = next(_numbers)
    network = ClientNetwork(asn=7922, isp="COMCAST-7922", lat=47.5, lon=-122.2, accuracy=20000)
    uuids = {}
    with engine.begin() as conn:
        for direction, mbps in (("download", down), ("upload", up)):
            uuids[direction] = f"ndt-{n}-{direction}"
            insert_measurement(
                conn,
                measurement_row(
                    uuid=uuids[direction],
                    source="local",
                    direction=direction,
                    test_time=when,
                    summary=Summary(mbps, rtt, 0.0, 10.0),
                    client_ip="192.0.2.1",
                    network=network,
                ),
            )
    body: dict[str, Any] = {
        "answers": {
            "isp": isp,
            "connection_type": "wired",
            "technology": "cable",
            "cost_of_service": "50_75",
            "advertised_download": 300,
            "advertised_upload": 20,
        },
        "consent": True,
        "download": {"uuid": uuids["download"]},
        "upload": {"uuid": uuids["upload"]},
    }
    if challenge is not None:
        body["challenge_consent"] = challenge
    if location is not None:
        lat, lon, acc = location
        body["location"] = {"latitude": lat, "longitude": lon, "accuracy": acc}
    saved = SurveyService(engine, DEFAULT_FORM, "local", NoAsn(), None).submit(body, "192.0.2.1")
    return saved.id, uuids["download"]


def package(
    engine: Engine, tmp_path: Path, zone: str = "UTC", metres: float = 100.0, area: Any = None
) -> dict[str, bytes]:
    req = Request(
        area or parse_bbox(BOX),
        datetime(2026, 1, 1),
        datetime(2027, 1, 1),
        zone,
        metres,
    )
    out = io.BytesIO()
    write_package(engine, req, out, tmp_path)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def local(y: int, m: int, d: int, hh: int, mm: int) -> datetime:
    """A New York wall-clock time as the UTC instant it is."""
    return datetime(y, m, d, hh, mm, tzinfo=NY).astimezone(UTC)


def test_only_consented_tests(engine: Engine, tmp_path: Path) -> None:
    yes, yes_uuid = run_test(engine, datetime(2026, 5, 1, 12, tzinfo=UTC), challenge=True)
    _, no_uuid = run_test(engine, datetime(2026, 5, 2, 12, tzinfo=UTC), challenge=False)
    _, unasked_uuid = run_test(engine, datetime(2026, 5, 3, 12, tzinfo=UTC), challenge=None)
    files = package(engine, tmp_path)
    assert set(files) == {"tests.csv", "tests.geojson", "places.csv", "METHODOLOGY.txt"}
    tests = rows(files["tests.csv"])
    assert [int(r["test_id"]) for r in tests] == [yes]
    assert tests[0]["download_uuid"] == yes_uuid
    assert tests[0]["consent_challenge"] == "true"
    features = json.loads(files["tests.geojson"])["features"]
    assert [f["id"] for f in features] == [yes]
    for content in files.values():  # not in any file, not even as a place's test
        assert no_uuid.encode() not in content and unasked_uuid.encode() not in content


def test_columns_location_and_tier(engine: Engine, tmp_path: Path) -> None:
    test_id, _ = run_test(engine, datetime(2026, 5, 1, 12, tzinfo=UTC), down=123.5, up=11.0)
    ip_only, _ = run_test(engine, datetime(2026, 5, 1, 13, tzinfo=UTC), location=None)
    tests = {int(r["test_id"]): r for r in rows(package(engine, tmp_path)["tests.csv"])}
    r = tests[test_id]
    assert (r["download_mbps"], r["upload_mbps"], r["latency_ms"]) == ("123.5", "11.0", "20.0")
    assert (r["lat"], r["lon"], r["accuracy_m"]) == ("47.6", "-122.33", "10.0")
    assert r["location_source"] == "browser" and r["place_id"]
    assert (r["provider_reported"], r["asn"], r["technology"]) == ("Comcast", "7922", "cable")
    assert (r["advertised_download_mbps"], r["advertised_upload_mbps"]) == ("300.0", "20.0")
    assert r["time_utc"] == "2026-05-01T12:00:00Z"
    ip = tests[ip_only]
    assert ip["location_source"] == "ip" and ip["place_id"] == ""
    assert (ip["lat"], ip["lon"]) == ("47.5", "-122.2")


@pytest.mark.parametrize(
    ("when", "offset", "evening", "peak"),
    [
        ((2026, 6, 10, 17, 59), "-04:00", "false", "false"),
        ((2026, 6, 10, 18, 0), "-04:00", "true", "false"),
        ((2026, 6, 10, 18, 59), "-04:00", "true", "false"),
        ((2026, 6, 10, 19, 0), "-04:00", "true", "true"),
        ((2026, 6, 10, 22, 59), "-04:00", "true", "true"),
        ((2026, 6, 10, 23, 0), "-04:00", "true", "false"),
        ((2026, 6, 10, 23, 59), "-04:00", "true", "false"),
        ((2026, 6, 11, 0, 0), "-04:00", "false", "false"),
        # 8 March 2026: New York moves from -05:00 to -04:00 at 02:00.
        ((2026, 3, 7, 17, 59), "-05:00", "false", "false"),
        ((2026, 3, 8, 18, 0), "-04:00", "true", "false"),
        ((2026, 3, 8, 23, 59), "-04:00", "true", "false"),
        ((2026, 3, 9, 0, 0), "-04:00", "false", "false"),
        # 1 November 2026: back to -05:00.
        ((2026, 11, 1, 18, 0), "-05:00", "true", "false"),
        ((2026, 11, 1, 19, 0), "-05:00", "true", "true"),
    ],
)
def test_window_flags_at_the_edges(
    engine: Engine, tmp_path: Path, when: tuple[int, ...], offset: str, evening: str, peak: str
) -> None:
    instant = local(*when)
    run_test(engine, instant)
    (r,) = rows(package(engine, tmp_path, "America/New_York")["tests.csv"])
    y, m, d, hh, mm = when
    assert r["time_local"] == f"{y:04d}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:00{offset}"
    assert r["time_utc"] == instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert r["timezone"] == "America/New_York"
    assert (r["evening_18_24"], r["peak_19_23"]) == (evening, peak)


def test_same_utc_hour_either_side_of_the_change(engine: Engine, tmp_path: Path) -> None:
    """22:30 UTC is 17:30 in New York on 7 March and 18:30 on 8 March."""
    run_test(engine, datetime(2026, 3, 7, 22, 30, tzinfo=UTC))
    run_test(engine, datetime(2026, 3, 8, 22, 30, tzinfo=UTC))
    tests = rows(package(engine, tmp_path, "America/New_York")["tests.csv"])
    assert [r["evening_18_24"] for r in tests] == ["false", "true"]


def test_per_place_medians(engine: Engine, tmp_path: Path) -> None:
    a = (47.6000, -122.3300, 8.0)
    a_near = (47.60002, -122.33002, 15.0)  # a couple of metres away: the same 100 m square
    b = (47.6100, -122.3000, 5.0)  # about 2.5 km away
    day = [datetime(2026, 4, d, 20, tzinfo=UTC) for d in (1, 2, 3)]
    a_ids = [
        run_test(engine, day[0], down=10, up=1, rtt=30, location=a)[0],
        run_test(engine, day[0], down=40, up=4, rtt=10, location=a_near)[0],
        run_test(engine, day[1], down=20, up=2, rtt=20, location=a)[0],
        run_test(engine, day[2], down=25, up=8, rtt=50, location=a)[0],
    ]
    b_ids = [
        run_test(engine, day[1], down=30, up=3, rtt=15, location=b)[0],
        run_test(engine, day[1], down=50, up=5, rtt=25, location=b)[0],
    ]
    imprecise = run_test(engine, day[2], down=99, location=(47.6, -122.33, 500.0))[0]
    files = package(engine, tmp_path, "UTC", 100.0)
    places = {r["test_ids"]: r for r in rows(files["places.csv"])}
    pa = places["|".join(map(str, a_ids))]
    # download 10, 20, 25, 40 → (20 + 25) / 2; upload 1, 2, 4, 8 → 3; latency 10, 20, 30, 50 → 25
    assert (pa["download_median_mbps"], pa["upload_median_mbps"]) == ("22.5", "3.0")
    assert pa["latency_median_ms"] == "25.0"
    assert (pa["tests"], pa["distinct_days"]) == ("4", "3")
    assert (pa["first_day"], pa["last_day"]) == ("2026-04-01", "2026-04-03")
    pb = places["|".join(map(str, b_ids))]
    assert (pb["download_median_mbps"], pb["tests"], pb["distinct_days"]) == ("40.0", "2", "1")
    assert len(places) == 2  # the 500 m-accurate test is in no place
    tests = {int(r["test_id"]): r for r in rows(files["tests.csv"])}
    assert tests[imprecise]["place_id"] == ""
    assert {tests[i]["place_id"] for i in a_ids} == {pa["place_id"]}
    assert (
        "places with tests on\ntwo or more different days: 1" in files["METHODOLOGY.txt"].decode()
    )


def test_local_days_decide_distinct_days(engine: Engine, tmp_path: Path) -> None:
    """01:00 and 23:00 UTC on one UTC day are two evenings in New York."""
    run_test(engine, datetime(2026, 4, 2, 1, tzinfo=UTC))
    run_test(engine, datetime(2026, 4, 2, 23, tzinfo=UTC))
    utc = rows(package(engine, tmp_path, "UTC")["places.csv"])
    ny = rows(package(engine, tmp_path, "America/New_York")["places.csv"])
    assert utc[0]["distinct_days"] == "1" and ny[0]["distinct_days"] == "2"


def test_csv_formulas_are_neutralised(engine: Engine, tmp_path: Path) -> None:
    run_test(engine, datetime(2026, 5, 1, 12, tzinfo=UTC), isp='=HYPERLINK("http://x","y")')
    run_test(engine, datetime(2026, 5, 1, 13, tzinfo=UTC), isp="@SUM(1,2)")
    files = package(engine, tmp_path)
    tests = rows(files["tests.csv"])
    assert [r["provider_reported"] for r in tests] == ['\'=HYPERLINK("http://x","y")', "'@SUM(1,2)"]
    for r in tests:  # negative numbers stay numbers
        assert r["lon"] == "-122.33"
    features = json.loads(files["tests.geojson"])["features"]
    assert features[0]["properties"]["provider_reported"] == '=HYPERLINK("http://x","y")'


def test_area_of_a_layer(engine: Engine, tmp_path: Path) -> None:
    run_test(engine, datetime(2026, 5, 1, 12, tzinfo=UTC))
    run_test(engine, datetime(2026, 5, 1, 13, tzinfo=UTC), location=(47.7, -122.1, 10.0))
    import h3

    cell = h3.latlng_to_cell(HOME[0], HOME[1], 7)
    area = resolve_area(engine, "h3:7", cell)
    tests = rows(package(engine, tmp_path, area=area)["tests.csv"])
    assert [r["lat"] for r in tests] == ["47.6"]
    with pytest.raises(SelectionError):
        resolve_area(engine, "no-such-layer", "x")
    with pytest.raises(SelectionError):
        parse_bbox("10,10,5,5")


def test_cli_writes_the_package(
    settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_test(engine, local(2026, 6, 10, 19, 30))
    run_test(engine, local(2026, 6, 11, 19, 30), challenge=False)
    monkeypatch.setenv("NETATLAS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NETATLAS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("NETATLAS_CHALLENGE_TIMEZONE", "America/New_York")
    out = tmp_path / "evidence.zip"
    args = [
        "challenge",
        "export",
        f"--bbox={BOX}",
        "--since",
        "2026-06-01",
        "--until",
        "2026-06-30",
    ]
    assert main([*args, "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        tests = rows(zf.read("tests.csv"))
    assert len(tests) == 1 and tests[0]["peak_19_23"] == "true"
    assert main([*args[:2], "--bbox=1,2,3", *args[3:], "--out", str(out)]) == 2
    assert main([*args, "--timezone", "Mars/Olympus", "--out", str(out)]) == 2


def test_admin_page(client: Any, engine: Engine) -> None:
    import re

    from netatlas.admin import auth
    from tests.admin.test_admin import PASSWORD, _login

    run_test(engine, local(2026, 6, 10, 19, 30))
    res = client.get("/admin/challenge", follow_redirects=False)
    assert res.status_code == 303  # precise locations: administrators only
    res = client.post("/admin/challenge", data={"bbox": BOX}, follow_redirects=False)
    assert res.status_code == 303
    auth.set_password(engine, "admin", PASSWORD)
    _login(client)
    page = client.get("/admin/challenge").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    form = {
        "csrf": found.group(1),
        "bbox": BOX,
        "since": "2026-06-01",
        "until": "2026-06-30",
        "timezone": "America/New_York",
    }
    res = client.post("/admin/challenge", data=form)
    assert res.status_code == 200 and res.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(res.content)) as zf:
        (r,) = rows(zf.read("tests.csv"))
    assert r["peak_19_23"] == "true"
    bad = client.post("/admin/challenge", data={**form, "bbox": "1,2"})
    assert bad.status_code == 400 and "W,S,E,N" in bad.text
    bad = client.post("/admin/challenge", data={**form, "timezone": "Nowhere/Else"})
    assert bad.status_code == 400 and "unknown time zone" in bad.text
    assert not list(Path(client.app.state.services.settings.data_dir).glob(".challenge-*"))


def test_survey_api_takes_the_challenge_consent(client: Any, engine: Engine) -> None:
    from sqlalchemy import select

    from netatlas.broadband.models import survey_response

    with engine.begin() as conn:
        for uuid in ("api-1", "api-2", "api-3"):
            insert_measurement(
                conn,
                measurement_row(
                    uuid=uuid,
                    source="local",
                    direction="download",
                    test_time=datetime(2026, 5, 1, tzinfo=UTC),
                    summary=Summary(50.0, 10.0, 0.0, 10.0),
                    client_ip="192.0.2.1",
                    network=ClientNetwork(),
                ),
            )
    answers = {"isp": "X", "connection_type": "wired", "cost_of_service": "lt25"}
    headers = {"X-Forwarded-For": "192.0.2.1"}
    sent = {"api-1": True, "api-2": None}
    for uuid, challenge in sent.items():
        body: dict[str, Any] = {"answers": answers, "consent": True, "download": {"uuid": uuid}}
        if challenge is not None:
            body["challenge_consent"] = challenge
        res = client.post("/api/v1/survey", json=body, headers=headers)
        assert res.status_code == 201, res.text
    body = {"answers": answers, "consent": True, "download": {"uuid": "api-3"}}
    res = client.post("/api/v1/survey", json={**body, "challenge_consent": "yes"}, headers=headers)
    assert res.status_code == 400
    assert res.json()["error"]["details"]["validation"] == {
        "challenge_consent": "must be true or false"
    }
    with engine.connect() as conn:
        stored = conn.execute(
            select(survey_response.c.challenge_consent).order_by(survey_response.c.id)
        ).scalars()
        assert list(stored) == [True, False]  # absent: not consented
    config = client.get("/api/v1/speedtest/config").json()
    assert "regulator" in config["form"]["challenge_consent"]["text"]
    page = client.get("/speedtest").text
    assert 'id="st-challenge-consent"' in page and "regulator" in page


def test_numbers_are_written_as_python_writes_them(engine: Engine, tmp_path: Path) -> None:
    """Very small and very large figures keep the form str() gives them (1e-05, 2.5e+16),
    in the CSV and in the GeoJSON alike; whole ones keep their ".0"."""
    run_test(engine, datetime(2026, 5, 1, 12, tzinfo=UTC), down=1e-05, up=2.5e16, rtt=20.0)
    run_test(engine, datetime(2026, 5, 1, 13, tzinfo=UTC), down=0.0001, up=123.456, rtt=0.5)
    files = package(engine, tmp_path)
    tests = rows(files["tests.csv"])
    figures = [(r["download_mbps"], r["upload_mbps"], r["latency_ms"]) for r in tests]
    assert figures == [("1e-05", "2.5e+16", "20.0"), ("0.0001", "123.456", "0.5")]
    text = files["tests.geojson"].decode()
    assert '"download_mbps":1e-05,"upload_mbps":2.5e+16,"latency_ms":20.0' in text
    features = json.loads(text)["features"]
    assert [f["properties"]["upload_mbps"] for f in features] == [2.5e16, 123.456]


@pytest.mark.parametrize("limit", [None, 100])
def test_zip_of_members_deflated_beforehand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
    """Members deflated beforehand make a zip that zipfile reads back byte for byte, CRCs
    checked; with a lowered 4 GiB limit, sizes and offsets take the ZIP64 form."""
    if limit is not None:
        monkeypatch.setattr(zipwrite, "_LIMIT", limit)
    contents = {
        "a.csv": b"x,y\r\n" + b"1,2\r\n" * 5000,
        "b.geojson": bytes(range(256)) * 400,
        "empty.txt": b"",
        "é.txt": "é".encode(),
    }
    out = io.BytesIO()
    zf = zipwrite.ZipOut(out)
    for name, data in contents.items():
        member = zipwrite.Deflated(tmp_path / f"{len(name)}-{data[:1]!r}", 1)
        for i in range(0, len(data), 7000):
            member.write(data[i : i + 7000])
        zf.add(name, member)
    zf.close()
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as read:
        assert read.testzip() is None
        assert read.namelist() == list(contents)
        assert {name: read.read(name) for name in contents} == contents
        infos = read.infolist()
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in infos)
        assert (max(i.extract_version for i in infos) == 45) == (limit is not None)
