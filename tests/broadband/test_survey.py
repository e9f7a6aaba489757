"""Survey submissions linked to their tests, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from netatlas.broadband.form import DEFAULT_FORM
from netatlas.broadband.measurements import (
    ClientNetwork,
    get_measurement,
    insert_measurement,
    measurement_row,
)
from netatlas.broadband.models import survey_response
from netatlas.broadband.ndt7.summary import Summary
from netatlas.broadband.survey import SurveyError, SurveyService
from netatlas.geo.asn import MaxMindAsn, NoAsn
from tests.conftest import DATA

ANSWERS = {"isp": "Example Cable", "connection_type": "wired", "cost_of_service": "25_50"}


def add_test(engine: Engine, uuid: str, direction: str, ip: str = "192.0.2.1") -> int:
    row = measurement_row(
        uuid=uuid,
        source="local",
        direction=direction,
        test_time=datetime.now(UTC),
        summary=Summary(100.0, 12.5, 0.01, 10.0),
        client_ip=ip,
        network=ClientNetwork(),
    )
    with engine.begin() as conn:
        return insert_measurement(conn, row)


def body(**extra: Any) -> dict[str, Any]:
    return {"answers": dict(ANSWERS), "consent": True, **extra}


def saved(engine: Engine, survey_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(survey_response).where(survey_response.c.id == survey_id)).one()
    return dict(row._mapping)


def test_answers_are_stored_with_their_tests(engine: Engine) -> None:
    down, up = add_test(engine, "h_1_A", "download"), add_test(engine, "h_1_B", "upload")
    service = SurveyService(engine, DEFAULT_FORM, "local", NoAsn(), None)
    result = service.submit(
        body(
            download={"uuid": "h_1_A"},
            upload={"uuid": "h_1_B"},
            location={"latitude": 47.6, "longitude": -122.3, "accuracy": 25},
        ),
        "192.0.2.1",
    )
    assert (result.download, result.upload) == (down, up)
    row = saved(engine, result.id)
    assert row["answers"] == ANSWERS and row["form"] == "piecewise" and row["consent"] is True
    assert (row["lat"], row["lon"], row["accuracy"]) == (47.6, -122.3, 25.0)
    assert (row["download_id"], row["upload_id"]) == (down, up)
    # A test gets one survey only.
    with pytest.raises(SurveyError) as info:
        service.submit(body(download={"uuid": "h_1_A"}), "192.0.2.1")
    assert info.value.fields == {"download.uuid": "this test already has a survey"}


def test_every_error_is_reported_by_field(engine: Engine) -> None:
    add_test(engine, "h_1_C", "download", ip="192.0.2.9")
    service = SurveyService(engine, DEFAULT_FORM, "local", NoAsn(), None)
    with pytest.raises(SurveyError) as info:
        service.submit(
            {
                "answers": {"isp": "", "connection_type": "cable", "advertised_download": -1},
                "consent": "yes",
                "location": {"latitude": 95, "longitude": "x"},
                "upload": {"uuid": "bad uuid!"},
                "colour": "blue",
            },
            "192.0.2.1",
        )
    assert info.value.fields == {
        "colour": "unknown field",
        "answers.isp": "required",
        "answers.connection_type": "choose one of the listed answers",
        "answers.cost_of_service": "required",
        "answers.advertised_download": "must be at least 0",
        "consent": "must be true or false",
        "location.latitude": "must be between -90 and 90",
        "location.longitude": "must be a number",
        "upload.uuid": "the test's UUID (from ConnectionInfo) is needed",
    }
    with pytest.raises(SurveyError) as info:
        service.submit(body(), "192.0.2.1")
    assert info.value.fields == {"download": "run the speed test first: no test is named"}
    with pytest.raises(SurveyError) as info:
        service.submit(body(consent=False, download={"uuid": "h_1_C"}), "192.0.2.1")
    assert info.value.fields == {"consent": "required: tick the box to agree"}
    # Tests are checked against what the server stored.
    with pytest.raises(SurveyError) as info:
        service.submit(body(download={"uuid": "h_1_C"}, upload={"uuid": "h_1_C"}), "192.0.2.1")
    assert info.value.fields == {
        "download.uuid": "this test was run from another address",
        "upload.uuid": "this UUID is an download test",
    }
    with pytest.raises(SurveyError) as info:
        service.submit(body(download={"uuid": "h_1_Z"}), "192.0.2.9")
    assert info.value.fields == {"download.uuid": "no test with this UUID was run on this server"}
    with engine.connect() as conn:
        assert conn.execute(select(survey_response)).first() is None


def test_location_is_dropped_without_consent(engine: Engine, tmp_path: Any) -> None:
    from netatlas.broadband.form import form_from_mapping

    form = form_from_mapping(
        {"consent_required": False, "fields": [{"name": "isp", "type": "text"}]}
    )
    add_test(engine, "h_1_D", "download")
    service = SurveyService(engine, form, "local", NoAsn(), None)
    result = service.submit(
        {
            "answers": {"isp": "x"},
            "consent": False,
            "download": {"uuid": "h_1_D"},
            "location": {"latitude": 1.0, "longitude": 2.0},
        },
        "192.0.2.1",
    )
    row = saved(engine, result.id)
    assert row["consent"] is False and row["lat"] is None and row["lon"] is None


def test_mlab_mode_records_mlabs_test_ids(engine: Engine) -> None:
    asn = MaxMindAsn(str(DATA / "maxmind/GeoLite2-ASN-Test.mmdb"))
    service = SurveyService(engine, DEFAULT_FORM, "mlab", asn, None)
    tcp = {
        "BytesAcked": 48_396_999,
        "BytesSent": 57_838_400,
        "BytesRetrans": 6_957_479,
        "ElapsedTime": 10_000_921,
        "MinRTT": 285_804,
    }
    result = service.submit(
        body(
            download={"uuid": "ndt-knwp4_1583603744_000000000000590E", "tcpinfo": tcp},
            upload={
                "uuid": "ndt-knwp4_1583603744_0000000000005CF2",
                "tcpinfo": {
                    "BytesReceived": 3_356_080,
                    "ElapsedTime": 10_000_111,
                    "MinRTT": 173_733,
                },
            },
        ),
        "1.128.0.1",
    )
    down = get_measurement(engine, "ndt-knwp4_1583603744_000000000000590E")
    assert down is not None and down["id"] == result.download
    assert down["source"] == "mlab"
    assert round(down["mean_mbps"], 3) == 38.714 and down["min_rtt_ms"] == 285.804
    assert down["loss_rate"] == pytest.approx(6_957_479 / 57_838_400)
    assert (down["asn"], down["isp"]) == (1221, "Telstra Pty Ltd")
    up = get_measurement(engine, "ndt-knwp4_1583603744_0000000000005CF2")
    assert up is not None and round(up["mean_mbps"], 3) == 2.685
    with pytest.raises(SurveyError) as info:
        service.submit(
            body(download={"uuid": "ndt-knwp4_1583603744_000000000000590E", "tcpinfo": tcp}),
            "1.128.0.1",
        )
    assert info.value.fields == {"download.uuid": "this test is already recorded"}
    with pytest.raises(SurveyError) as info:
        service.submit(body(download={"uuid": "x_1_2", "tcpinfo": {"MinRTT": -1}}), None)
    assert info.value.fields == {
        "download.tcpinfo.MinRTT": "must be a non-negative number",
        "download.tcpinfo.ElapsedTime": "required",
    }
