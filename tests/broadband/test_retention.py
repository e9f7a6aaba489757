"""Retention: client addresses erased and ndt7 result files pruned or archived after their
periods, as of a given ``now`` (both backends)."""

from __future__ import annotations

import copy
import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select
from starlette.testclient import TestClient

from netatlas.app import create_app
from netatlas.broadband.aggregate.update import update_statistics
from netatlas.broadband.measurements import get_measurement, record_local_test
from netatlas.broadband.models import measurements, survey_response
from netatlas.broadband.ndt7.archive import Ndt7Result, make_uuid, write_result
from netatlas.broadband.retention import file_days
from netatlas.broadband.tasks import speedtest_retention
from netatlas.cli import main
from netatlas.features import job
from netatlas.geo.asn import NoAsn
from netatlas.jobs.context import Context
from netatlas.settings import Settings
from tests.broadband.ndt7.mlab_format import check_document, read, real_files
from tests.broadband.test_aggregate import bins, config, load, row

# Periods of 30 days (the defaults): on 31 March, days up to 28 February go, 1 March stays.
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
OLD = datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
KEPT = datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC)
CLIENT = "2001:db8:77::5"


def rows_by_uuid(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r.uuid: dict(r._mapping) for r in conn.execute(select(measurements))}


def add_survey(engine: Engine, created: datetime, ip: str) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(survey_response)
                .values(
                    created=created.replace(tzinfo=None),
                    form="piecewise",
                    answers={},
                    consent=False,
                    client_ip=ip,
                )
                .returning(survey_response.c.id)
            ).scalar_one()
        )


def test_client_addresses_are_erased_after_the_period(ctx: Context) -> None:
    engine = ctx.engine
    load(
        engine,
        [
            row("a1", 10.0, when=OLD, ip="192.0.2.1"),
            row("a2", 11.0, when=OLD + timedelta(hours=8), ip="192.0.2.1"),
            row("a3", 12.0, when=OLD - timedelta(days=1), ip="192.0.2.1"),
            row("b1", 13.0, when=OLD, ip="192.0.2.2"),
            row("kept", 14.0, when=KEPT, ip="192.0.2.1"),
            row("new", 15.0, when=NOW - timedelta(hours=1), ip="192.0.2.1"),
        ],
    )
    old_survey = add_survey(engine, OLD, "192.0.2.1")
    new_survey = add_survey(engine, KEPT, "192.0.2.1")
    before = rows_by_uuid(engine)

    report = speedtest_retention(ctx, now=NOW)
    assert (report.addresses, report.survey_addresses) == (4, 1)
    after = rows_by_uuid(engine)
    for uuid in ("a1", "a2", "a3", "b1"):
        assert after[uuid]["client_ip"] is None and after[uuid]["client_key"]
        # What was derived from the address stays.
        for key in ("asn", "isp", "lat", "lon", "region", "mean_mbps", "test_time"):
            assert after[uuid][key] == before[uuid][key], key
    for uuid in ("kept", "new"):
        assert after[uuid] == before[uuid]  # within the period: untouched
    # One stand-in per address and UTC day, unrelated to the address itself.
    keys = {uuid: after[uuid]["client_key"] for uuid in ("a1", "a2", "a3", "b1")}
    assert keys["a1"] == keys["a2"]
    assert len({keys["a1"], keys["a3"], keys["b1"]}) == 3
    assert not any("192" in k for k in keys.values())
    with engine.connect() as conn:
        ips = dict(conn.execute(select(survey_response.c.id, survey_response.c.client_ip)).all())
    assert ips == {old_survey: None, new_survey: "192.0.2.1"}

    # Nothing more to do on the same day; the next day takes the next one.
    assert speedtest_retention(ctx, now=NOW).addresses == 0
    next_day = speedtest_retention(ctx, now=NOW + timedelta(days=1))
    assert (next_day.addresses, next_day.survey_addresses) == (1, 1)
    assert rows_by_uuid(engine)["new"]["client_ip"] == "192.0.2.1"


def test_statistics_count_the_same_once_addresses_are_erased(ctx: Context, tmp_path: Path) -> None:
    # One test per client and day is counted: the stand-in keeps each day's tests together.
    engine = ctx.engine
    rows = [
        row(f"c{i}", 10.0 + i, when=OLD + timedelta(days=i // 4, minutes=i), ip=f"192.0.2.{i % 2}")
        for i in range(8)
    ]
    load(engine, rows)
    path = config(tmp_path, time="day", tests_per_client_day=1, isp=False)
    update_statistics(engine, path)
    counted = [(b["period"], b["tests"], len(b["client_set"])) for b in bins(engine)]
    assert [tests for _, tests, _ in counted] == [2, 2]

    assert speedtest_retention(ctx, now=NOW + timedelta(days=10)).addresses == 8
    update_statistics(engine, path, rebuild=True)
    assert [(b["period"], b["tests"], len(b["client_set"])) for b in bins(engine)] == counted


def result(start: datetime, ip: str = CLIENT) -> Ndt7Result:
    """A download as this server records one, started at ``start`` from ``ip``."""
    uuid = make_uuid(None)
    real = copy.deepcopy(real_files()[1]["Download"]["ServerMeasurements"])
    for m in real:
        m["ConnectionInfo"].update(Client=f"[{ip}]:63384", UUID=uuid)
    start_ns = int(start.timestamp() * 1e9)
    return Ndt7Result(
        uuid=uuid,
        direction="download",
        client_ip=ip,
        client_port=63384,
        server_ip="2001:db8::203",
        server_port=443,
        start_ns=start_ns,
        test_start_ns=start_ns + 54_000,
        end_ns=start_ns + 10_000_000_000,
        server_measurements=real,
        client_measurements=[{"ConnectionInfo": {"Client": f"[{ip}]:63384"}, "Origin": "client"}],
        client_metadata=(("client_name", "ist"),),
    )


def store_results(ctx: Context, *starts: datetime) -> list[str]:
    """Write and record one test per start; their uuids."""
    uuids = []
    for start in starts:
        r = result(start)
        archive = write_result(ctx.settings.data_dir, r)
        record_local_test(ctx.engine, r, archive, NoAsn(), None)
        uuids.append(r.uuid)
    return uuids


def test_old_result_files_are_deleted(ctx: Context) -> None:
    old, kept = store_results(ctx, OLD, KEPT)
    data_dir = Path(ctx.settings.data_dir)
    (data_dir / "ndt7/2026/02/28/.ndt7-download-x.json.gz.1.tmp").write_bytes(b"half")
    old_file = data_dir / get_measurement(ctx.engine, old)["archive"]  # type: ignore[index]
    kept_row = get_measurement(ctx.engine, kept)
    assert kept_row is not None and old_file.exists()

    report = speedtest_retention(ctx, now=NOW)
    assert (report.files_deleted, report.files_archived, report.errors) == (1, 0, [])
    assert not (data_dir / "ndt7/2026/02").exists()  # emptied day and month folders go
    assert (data_dir / kept_row["archive"]).exists()
    assert get_measurement(ctx.engine, old)["archive"] is None  # type: ignore[index]
    assert get_measurement(ctx.engine, kept) == kept_row


@pytest.mark.parametrize("where", ["directory", "s3"])
def test_old_result_files_move_to_the_archive_without_the_address(
    ctx: Context, where: str, request: pytest.FixtureRequest
) -> None:
    if where == "s3":
        bucket, s3 = request.getfixturevalue("s3_bucket")
        settings = replace(
            ctx.settings,
            ndt7_result_archive=f"s3://{bucket}/results",
            s3_endpoint_url=request.getfixturevalue("moto_endpoint"),
        )
    else:
        settings = replace(ctx.settings, ndt7_result_archive="ndt7-archive")
    ctx = replace(ctx, settings=settings)
    old, kept = store_results(ctx, OLD, KEPT)
    name = get_measurement(ctx.engine, old)["archive"]  # type: ignore[index]

    report = speedtest_retention(ctx, now=NOW)
    assert (report.files_deleted, report.files_archived, report.errors) == (0, 1, [])
    data_dir = Path(settings.data_dir)
    assert not (data_dir / name).exists()
    if where == "s3":
        raw = s3.get_object(Bucket=bucket, Key=f"results/{name}")["Body"].read()
    else:
        raw = (data_dir / "ndt7-archive" / name).read_bytes()
    text = gzip.decompress(raw).decode()
    assert CLIENT not in text  # the address is gone from every place it was
    doc = json.loads(text)
    test = check_document(doc)  # still a result file in M-Lab's format
    assert test["UUID"] == old and doc["ClientIP"] == "" and doc["ClientPort"] == 0
    assert test["ServerMeasurements"][-1]["TCPInfo"]["BytesAcked"] > 0  # the figures stay
    assert get_measurement(ctx.engine, old)["archive"] is None  # type: ignore[index]
    kept_row = get_measurement(ctx.engine, kept)
    assert kept_row is not None and (data_dir / kept_row["archive"]).exists()
    assert read(data_dir / kept_row["archive"])["ClientIP"] == CLIENT


def test_files_are_never_kept_longer_than_the_address(settings: Settings) -> None:
    assert file_days(settings) == 30
    assert file_days(replace(settings, client_ip_retention_days=7)) == 7
    assert file_days(replace(settings, ndt7_result_retention_days=3)) == 3
    assert file_days(replace(settings, ndt7_result_retention_days=0)) == 30
    off = replace(settings, ndt7_result_retention_days=0, client_ip_retention_days=0)
    assert file_days(off) == 0


def test_periods_of_zero_keep_everything(ctx: Context) -> None:
    ctx = replace(
        ctx,
        settings=replace(ctx.settings, ndt7_result_retention_days=0, client_ip_retention_days=0),
    )
    (uuid,) = store_results(ctx, OLD - timedelta(days=3000))
    before = get_measurement(ctx.engine, uuid)
    report = speedtest_retention(ctx, now=NOW)
    assert (report.addresses, report.files_deleted, report.files_archived) == (0, 0, 0)
    assert get_measurement(ctx.engine, uuid) == before


def test_the_job_is_in_the_table_and_the_command_runs_it(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    assert job("speedtest_retention").func is speedtest_retention
    assert not job("speedtest_retention").pipeline
    # The command works as of now: a test from 2020 is past any period, one from now is not.
    load(
        engine,
        [
            row("long-ago", 10.0, when=datetime(2020, 1, 1, tzinfo=UTC)),
            row("today", 10.0, when=datetime.now(UTC)),
        ],
    )
    monkeypatch.setenv("NETATLAS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NETATLAS_DATABASE_URL", settings.database_url)
    assert main(["retention"]) == 0
    assert "client addresses erased: 1 tests" in capsys.readouterr().out
    tests = rows_by_uuid(engine)
    assert tests["long-ago"]["client_ip"] is None and tests["today"]["client_ip"] == "192.0.2.1"


def test_the_privacy_page_states_the_periods(settings: Settings) -> None:
    for changes, said in (
        (
            {},
            ("kept for 30 days (whole days, UTC), then erased", "is kept for 30 days", "deleted."),
        ),
        (
            {"client_ip_retention_days": 7, "ndt7_result_archive": "old", "ndt7_mode": "mlab"},
            (
                "kept for 7 days",
                "is kept for 7 days",
                "archive without your IP address",
                "left out of the statistics until they are confirmed",
            ),
        ),
        (
            {"client_ip_retention_days": 0, "ndt7_result_retention_days": 0},
            ("IP address of each speed test and survey response with no time", "no time limit"),
        ),
    ):
        app = create_app(replace(settings, **changes), run_jobs=False)  # type: ignore[arg-type]
        with TestClient(app, base_url="http://127.0.0.1") as client:
            html = " ".join(client.get("/privacy").text.split())
        app.state.services.engine.dispose()
        assert "How long speed-test data is kept" in html
        for words in said:
            assert words in html, words
