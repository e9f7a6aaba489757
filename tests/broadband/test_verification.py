"""Results a browser reports (mode mlab) stay out of the statistics until an administrator
verifies their survey or M-Lab's record of the test is imported; both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import Engine, select, text
from starlette.testclient import TestClient

from netatlas.admin import auth
from netatlas.broadband.aggregate.models import stats_state
from netatlas.broadband.aggregate.update import update_statistics
from netatlas.broadband.form import DEFAULT_FORM
from netatlas.broadband.measurements import get_measurement
from netatlas.broadband.mlab.files import convert_row
from netatlas.broadband.mlab.importer import import_items
from netatlas.broadband.survey import SurveyService
from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade
from netatlas.geo.asn import NoAsn
from netatlas.settings import Settings
from tests.admin.test_admin import PASSWORD, _csrf, _login
from tests.broadband.test_aggregate import T0, bins, load, row
from tests.broadband.test_survey import ANSWERS
from tests.conftest import PG_URL, _pg_url

UUID = "ndt-abc12_1709251200_0000000000000A01"
# What a browser claims M-Lab's server measured: 8 Gbit/s.
BOASTFUL = {"BytesAcked": 10_000_000_000, "ElapsedTime": 10_000_000, "MinRTT": 1000}


def aggregations(tmp_path: Path) -> str:
    path = tmp_path / "aggregations.json"
    path.write_text(json.dumps({"aggregation": [{"name": "all", "time": "all", "min_tests": 1}]}))
    return str(path)


@pytest.fixture
def mlab(settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, Engine, str]]:
    """The app in mode mlab, with an administrator logged in."""
    from netatlas.app import create_app

    path = aggregations(tmp_path)
    app = create_app(replace(settings, ndt7_mode="mlab", aggregations_path=path), run_jobs=False)
    engine = app.state.services.engine
    auth.set_password(engine, "admin", PASSWORD)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert _login(client).status_code == 303
        yield client, engine, path
    engine.dispose()


def state(engine: Engine) -> tuple[str, int]:
    with engine.connect() as conn:
        row = conn.execute(select(stats_state.c.fingerprint, stats_state.c.version)).one()
    return row.fingerprint, int(row.version)


def counted(engine: Engine, path: str) -> tuple[int, float]:
    """Update the statistics; the tests they count and the fastest download."""
    for report in update_statistics(engine, path):
        assert report.error is None
    (b,) = bins(engine)
    return int(b["tests"]), b["dl_max"]


def test_reported_results_count_once_an_administrator_verifies_them(
    mlab: tuple[TestClient, Engine, str],
) -> None:
    client, engine, path = mlab
    load(engine, [row("imported-1", 40.0)])  # M-Lab's own data always counts
    survey = {
        "answers": ANSWERS,
        "consent": True,
        "download": {"uuid": UUID, "tcpinfo": BOASTFUL},
    }
    res = client.post("/api/v1/survey", json=survey, headers={"X-Forwarded-For": "192.0.2.5"})
    assert res.status_code == 201, res.text
    survey_id = res.json()["id"]
    stored = get_measurement(engine, UUID)
    assert stored is not None and stored["verification"] == "pending"
    assert stored["mean_mbps"] == 8000.0
    assert counted(engine, path) == (1, 40.0)  # the claim is left out

    version = state(engine)[1]
    keep = {"csrf": _csrf(client, "/admin/surveys")}
    assert client.post(f"/admin/surveys/{survey_id}/verify", data=keep).status_code == 200
    # Marked for a rebuild, and an update that read the tests before now cannot claim it.
    assert state(engine) == ("stale", version + 1)
    assert get_measurement(engine, UUID)["verification"] == "admin"  # type: ignore[index]
    assert counted(engine, path) == (2, 8000.0)  # rebuilt with the verified test

    client.post(f"/admin/surveys/{survey_id}/unverify", data=keep)
    assert get_measurement(engine, UUID)["verification"] == "rejected"  # type: ignore[index]
    assert counted(engine, path) == (1, 40.0)


def test_mlabs_record_of_the_same_test_confirms_it_with_mlabs_figures(
    engine: Engine, tmp_path: Path
) -> None:
    path = aggregations(tmp_path)
    service = SurveyService(engine, DEFAULT_FORM, "mlab", NoAsn(), None)
    survey = {"answers": ANSWERS, "consent": True, "download": {"uuid": UUID, "tcpinfo": BOASTFUL}}
    saved = service.submit(survey, "192.0.2.5")
    other = "ndt-abc12_1709251200_0000000000000A02"
    service.submit({**survey, "download": {"uuid": other, "tcpinfo": BOASTFUL}}, "192.0.2.5")
    load(engine, [row("imported-1", 40.0)])
    assert counted(engine, path) == (1, 40.0)

    # M-Lab publishes the first test (25 Mbit/s, as its server measured it); its upload
    # with the second one's id is another test and confirms nothing.
    report = import_items(
        engine,
        (convert_row(r) for r in (row(UUID, 25.0, when=T0), row(other, 30.0, direction="upload"))),
    )
    assert (report.inserted, report.duplicates, report.confirmed) == (0, 2, 1)
    confirmed = get_measurement(engine, UUID)
    assert confirmed is not None and confirmed["id"] == saved.download
    assert confirmed["verification"] == "mlab" and confirmed["mean_mbps"] == 25.0
    assert confirmed["test_time"] == T0.replace(tzinfo=None)
    assert get_measurement(engine, other)["verification"] == "pending"  # type: ignore[index]
    assert counted(engine, path) == (2, 40.0)

    # An administrator's verdict no longer changes a test M-Lab's record confirmed.
    from netatlas.admin.audit import Actor
    from netatlas.admin.surveys import review

    review(engine, Actor("admin", None), saved.id, False)
    assert get_measurement(engine, UUID)["verification"] == "mlab"  # type: ignore[index]
    assert counted(engine, path) == (2, 40.0)


def test_tests_measured_here_or_imported_always_count(engine: Engine, tmp_path: Path) -> None:
    from tests.broadband.test_survey import add_test

    add_test(engine, "here_1_A", "download")
    load(engine, [row("imported-1", 40.0)])
    assert get_measurement(engine, "here_1_A")["verification"] is None  # type: ignore[index]
    assert get_measurement(engine, "imported-1")["verification"] is None  # type: ignore[index]
    assert counted(engine, aggregations(tmp_path)) == (2, 100.0)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_holds_back_results_reported_before_it(backend: str, tmp_path: Path) -> None:
    admin = None
    schema = f"v_{uuid4().hex[:10]}"
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    elif not PG_URL:
        pytest.skip("NETATLAS_TEST_DATABASE_URL not set")
    else:
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(_pg_url(schema))
    try:
        upgrade(engine, "0008")
        with engine.begin() as conn:
            for uuid, source in (("reported", "mlab"), ("here", "local"), ("theirs", "import")):
                conn.execute(
                    text(
                        "INSERT INTO measurements (uuid, source, direction, test_time, mean_mbps)"
                        " VALUES (:uuid, :source, 'download', '2026-03-01 10:00:00', 50)"
                    ),
                    {"uuid": uuid, "source": source},
                )
            conn.execute(
                text(
                    "INSERT INTO stats_state (aggregation, fingerprint, watermark, version,"
                    " updated) VALUES ('all', 'abc', 3, 1, '2026-03-01 10:00:00')"
                )
            )
        upgrade(engine)
        with engine.connect() as conn:
            found = dict(conn.execute(text("SELECT uuid, verification FROM measurements")).all())
            fingerprint = conn.execute(text("SELECT fingerprint FROM stats_state")).scalar()
        assert found == {"reported": "pending", "here": None, "theirs": None}
        assert fingerprint == "stale"  # the statistics that counted it are rebuilt
    finally:
        engine.dispose()
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
