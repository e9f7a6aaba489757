"""The admin pages: login, sessions, CSRF, lock-out, keys, exports, survey review, CSV
exports, the audit log and ``netatlas admin set-password`` — in-process on both backends."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sys
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select
from starlette.testclient import TestClient

from netatlas.admin import auth
from netatlas.admin.models import admin_session, audit_log, survey_review
from netatlas.admin.security import Signer, same_origin
from netatlas.broadband.aggregate.config import aggregations_source
from netatlas.broadband.aggregate.update import update_statistics
from netatlas.broadband.form import DEFAULT_FORM, form_as_document
from netatlas.broadband.models import measurements, survey_response
from netatlas.cli import main
from netatlas.db.documents import config_document, delete_document, put_document
from netatlas.export.models import export_config
from netatlas.http.secret import KEY_FILE, site_secret
from netatlas.location.models import api_key
from netatlas.settings import Settings

PASSWORD = "correct horse battery"


def _nonce(html: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _csrf(client: TestClient, path: str = "/admin") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def _login(client: TestClient, password: str = PASSWORD, user: str = "admin") -> Any:
    nonce = _nonce(client.get("/admin/login").text)
    data = {"nonce": nonce, "user": user, "password": password, "next": "/admin/keys"}
    return client.post("/admin/login", data=data, follow_redirects=False)


@pytest.fixture
def admin(client: TestClient, engine: Engine) -> TestClient:
    auth.set_password(engine, "admin", PASSWORD)
    res = _login(client)
    assert res.status_code == 303 and res.headers["location"] == "/admin/keys"
    return client


def _audit(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    return [(r.action, r.target) for r in rows]


# ---- login, sessions, CSRF, lock-out -----------------------------------------------------------


def test_pages_need_a_login(client: TestClient) -> None:
    for path in ("/admin", "/admin/keys", "/admin/surveys", "/admin/surveys.csv", "/admin/audit"):
        res = client.get(path, follow_redirects=False)
        assert res.status_code == 303, path
        assert res.headers["location"] == f"/admin/login?next={path}"
    res = client.post("/admin/keys", data={"valid_key": "sneaky"}, follow_redirects=False)
    assert res.status_code == 303
    page = client.get("/admin/login").text
    assert "netatlas admin set-password" in page  # no administrator yet


def test_login_sets_a_strict_cookie_and_logout_ends_the_session(
    client: TestClient, engine: Engine
) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    res = _login(client)
    cookie = res.headers["set-cookie"]
    assert "netatlas_admin=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Path=/admin" in cookie
    assert res.headers["cache-control"] == "no-store"
    page = client.get("/admin")
    assert page.status_code == 200 and "Signed in as <strong>admin</strong>" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    stolen = client.cookies.get("netatlas_admin")
    res = client.post("/admin/logout", data={"csrf": _csrf(client)}, follow_redirects=False)
    assert res.status_code == 303
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(admin_session)).scalar() == 0
    client.cookies.clear()
    client.cookies.set("netatlas_admin", stolen or "", path="/admin")
    assert client.get("/admin", follow_redirects=False).status_code == 303
    assert [a for a, _ in _audit(engine)] == ["admin.login", "admin.logout"]


def test_a_forged_or_foreign_cookie_is_refused(admin: TestClient, settings: Settings) -> None:
    token = admin.cookies.get("netatlas_admin") or ""
    other = Signer(site_secret("another site's secret", settings.data_dir))
    admin.cookies.clear()
    admin.cookies.set("netatlas_admin", token, path="/admin")  # the real one still works
    assert admin.get("/admin", follow_redirects=False).status_code == 200
    admin.cookies.clear()
    admin.cookies.set("netatlas_admin", other.cookie(token.rpartition(".")[0]), path="/admin")
    assert admin.get("/admin", follow_redirects=False).status_code == 303
    admin.cookies.set("netatlas_admin", "x" * 500, path="/admin")
    assert admin.get("/admin", follow_redirects=False).status_code == 303


def test_wrong_passwords_lock_the_address_out(client: TestClient, engine: Engine) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    for _ in range(auth.MAX_FAILURES_IP - 1):
        res = _login(client, "wrong password!")
        assert res.status_code == 401 and "Wrong user name or password" in res.text
    res = _login(client, "wrong password!")
    assert res.status_code == 429 and int(res.headers["retry-after"]) > 800
    res = _login(client)  # the right password does not help while locked
    assert res.status_code == 429 and "Try again in 15 minutes" in res.text
    assert "netatlas_admin" not in client.cookies
    # An unknown user counts the same (and takes as long).
    assert auth.login(engine, "nobody", PASSWORD, "10.0.0.9").session is None
    # After the lock-out, logins work again.
    later = auth.utcnow() + auth.LOCK_TIME + dt.timedelta(seconds=1)
    assert auth.login(engine, "admin", PASSWORD, "testclient", now=later).session is not None


def test_many_addresses_lock_the_user_out_of_those_addresses_only(engine: Engine) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    for i in range(auth.MAX_FAILURES_USER):
        auth.login(engine, "admin", "guess", f"10.0.{i}.1")
    result = auth.login(engine, "admin", PASSWORD, "10.0.3.1")  # one that failed
    assert result.session is None and result.retry_after > 0
    # An address that has not failed still gets in: no lock-out from elsewhere.
    assert auth.login(engine, "admin", PASSWORD, "10.9.9.9").session is not None
    auth.set_password(engine, "admin", PASSWORD + "!")  # a new password lifts the user lock
    assert auth.login(engine, "admin", PASSWORD + "!", "10.9.9.9").session is not None


def test_sessions_expire_and_end_with_a_new_password(engine: Engine) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    now = auth.utcnow()
    session = auth.login(engine, "admin", PASSWORD, None, now=now).session
    assert session is not None
    assert auth.get_session(engine, session.token, now + auth.IDLE / 2) is not None
    later = now + auth.IDLE / 2 + auth.IDLE + dt.timedelta(seconds=1)
    assert auth.get_session(engine, session.token, later) is None
    again = auth.login(engine, "admin", PASSWORD, None).session
    assert again is not None and auth.get_session(engine, again.token) is not None
    auth.set_password(engine, "admin", "a different password")
    assert auth.get_session(engine, again.token) is None


def test_passwords_are_scrypt_hashes() -> None:
    stored = auth.hash_password(PASSWORD)
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert auth.verify_password(PASSWORD, stored)
    assert not auth.verify_password(PASSWORD + "x", stored)
    assert not auth.verify_password(PASSWORD, "garbage")
    assert not auth.verify_password(PASSWORD, "md5$1$2$3$4$5")
    with pytest.raises(auth.PasswordError):
        auth.set_password(None, "admin", "short")  # type: ignore[arg-type]
    with pytest.raises(auth.PasswordError):
        auth.set_password(None, "no spaces please", PASSWORD)  # type: ignore[arg-type]


def test_posts_need_the_csrf_token_and_this_origin(admin: TestClient, engine: Engine) -> None:
    data = {"valid_key": "forged-key", "store_sample_locate": "100", "store_sample_submit": "100"}
    assert admin.post("/admin/keys", data=data).status_code == 403
    assert admin.post("/admin/keys", data={**data, "csrf": "nope"}).status_code == 403
    token = _csrf(admin, "/admin/keys")
    cross = admin.post(
        "/admin/keys", data={**data, "csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403 and "another site" in cross.text
    raw = admin.post(
        "/admin/keys",
        content=json.dumps({**data, "csrf": token}),
        headers={"Content-Type": "application/json"},
    )
    assert raw.status_code == 403
    with engine.connect() as conn:
        assert conn.execute(select(api_key)).first() is None
    assert same_origin("site.example", "https://site.example", None)
    assert same_origin("site.example", None, "https://site.example/admin/keys")
    assert not same_origin("site.example", None, "https://evil.example/")


def test_login_form_needs_its_nonce(client: TestClient, engine: Engine) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    client.get("/admin/login")
    res = client.post(
        "/admin/login", data={"nonce": "guess", "user": "admin", "password": PASSWORD}
    )
    assert res.status_code == 400 and "expired" in res.text
    assert "netatlas_admin" not in client.cookies


def test_login_never_redirects_off_site(client: TestClient, engine: Engine) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    for target in ("https://evil.example/", "//evil.example/admin", "/admin//evil", "/elsewhere"):
        nonce = _nonce(client.get("/admin/login").text)
        data = {"nonce": nonce, "user": "admin", "password": PASSWORD, "next": target}
        res = client.post("/admin/login", data=data, follow_redirects=False)
        assert res.headers["location"] == "/admin", target


def test_the_secret_is_generated_once_and_kept(settings: Settings) -> None:
    first = site_secret("", settings.data_dir)
    assert (settings.data_dir / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert site_secret("", settings.data_dir) == first
    assert site_secret("a configured secret, long enough", settings.data_dir) != first


# ---- API keys ----------------------------------------------------------------------------------


def test_admin_creates_edits_and_deletes_a_key(admin: TestClient, engine: Engine) -> None:
    token = _csrf(admin, "/admin/keys")
    form = {
        "csrf": token,
        "valid_key": "city-app",
        "maxreq": "5000",
        "allow_locate": "on",
        "store_sample_locate": "50",
        "store_sample_submit": "100",
    }
    res = admin.post("/admin/keys", data=form)
    assert res.status_code == 200 and "The key was created." in res.text
    with engine.connect() as conn:
        row = conn.execute(select(api_key)).one()
    assert (row.valid_key, row.maxreq, row.allow_locate, row.allow_region) == (
        "city-app",
        5000,
        True,
        False,
    )
    assert row.store_sample_locate == 50
    res = admin.post("/admin/keys/city-app", data={**form, "maxreq": "", "allow_region": "on"})
    assert "The key was saved" in res.text
    with engine.connect() as conn:
        row = conn.execute(select(api_key)).one()
    assert row.maxreq is None and row.allow_region
    assert admin.get("/admin/keys/city-app").status_code == 200
    assert admin.get("/admin/keys/no-such").status_code == 404
    res = admin.post("/admin/keys/city-app/delete", data={"csrf": token})
    assert "The key was deleted." in res.text
    assert admin.post("/admin/keys/city-app/delete", data={"csrf": token}).status_code == 404
    actions = _audit(engine)
    assert actions[1:] == [
        ("key.create", "city-app"),
        ("key.update", "city-app"),
        ("key.delete", "city-app"),
    ]
    with engine.connect() as conn:
        query = select(audit_log.c.detail).where(audit_log.c.action == "key.create")
        detail = conn.execute(query).scalar()
    assert json.loads(detail or "{}")["maxreq"] == 5000


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"valid_key": "no"}, "valid_key"),
        ({"valid_key": "bad key!"}, "valid_key"),
        ({"maxreq": "-3"}, "maxreq"),
        ({"maxreq": "lots"}, "maxreq"),
        ({"store_sample_locate": "101"}, "store_sample_locate"),
        ({"store_sample_submit": ""}, "store_sample_submit"),
        ({"fallback_schema": "carrier-pigeon/1"}, "fallback_schema"),
        ({"fallback_url": "ftp://x"}, "fallback_url"),
        ({"fallback_name": "x" * 41}, "fallback_name"),
        ({"allow_fallback": "on"}, "allow_fallback"),
        ({"fallback_ratelimit_interval": "0"}, "fallback_ratelimit_interval"),
    ],
)
def test_bad_key_forms_change_nothing(
    admin: TestClient, engine: Engine, changes: dict[str, str], field: str
) -> None:
    form = {
        "csrf": _csrf(admin, "/admin/keys"),
        "valid_key": "good-key",
        "store_sample_locate": "100",
        "store_sample_submit": "100",
        **changes,
    }
    res = admin.post("/admin/keys", data=form)
    assert res.status_code == 400
    assert "Nothing was changed" in res.text and field.replace("_", " ") in res.text
    with engine.connect() as conn:
        assert conn.execute(select(api_key)).first() is None
    assert [a for a, _ in _audit(engine)] == ["admin.login"]


def test_a_key_cannot_be_created_twice(admin: TestClient) -> None:
    form = {"csrf": _csrf(admin, "/admin/keys"), "valid_key": "twice"}
    form |= {"store_sample_locate": "1", "store_sample_submit": "1"}
    assert admin.post("/admin/keys", data=form).status_code == 200
    res = admin.post("/admin/keys", data=form)
    assert res.status_code == 400 and "the key twice exists" in res.text


# ---- export targets ----------------------------------------------------------------------------


def test_admin_manages_export_targets(admin: TestClient, engine: Engine) -> None:
    token = _csrf(admin, "/admin/exports")
    form = {
        "csrf": token,
        "name": "upstream",
        "schema": "geosubmit",
        "url": "https://location.example/v2/geosubmit",
        "batch": "50",
        "max_age": "600",
        "skip_keys": "test-key, other",
        "skip_query": "on",
    }
    res = admin.post("/admin/exports", data=form)
    assert "The export target was created." in res.text
    with engine.connect() as conn:
        row = conn.execute(select(export_config).where(export_config.c.name == "upstream")).one()
    assert (row.batch, row.max_age, row.skip_keys, row.skip_sources) == (
        50,
        600,
        "other,test-key",
        "query",
    )
    bad = admin.post("/admin/exports", data={**form, "name": "other", "url": "not a url"})
    assert bad.status_code == 400 and "https" in bad.text
    bad = admin.post("/admin/exports", data={**form, "schema": "fax"})
    assert bad.status_code == 400
    assert admin.post("/admin/exports", data=form).status_code == 400  # exists
    res = admin.post("/admin/exports/upstream", data={**form, "batch": "10"})
    assert "The export target was saved." in res.text
    assert admin.post("/admin/exports/upstream", data={**form, "batch": "0"}).status_code == 400
    # An emptied URL box removes the URL: refused while the schema needs one, else saved.
    assert admin.post("/admin/exports/upstream", data={**form, "url": ""}).status_code == 400
    res = admin.post("/admin/exports/upstream", data={**form, "schema": "dummy", "url": ""})
    assert "The export target was saved." in res.text
    with engine.connect() as conn:
        row = conn.execute(select(export_config).where(export_config.c.name == "upstream")).one()
    assert (row.schema, row.url) == ("dummy", None)
    assert admin.get("/admin/exports/upstream").status_code == 200
    assert admin.get("/admin/exports/nothing").status_code == 404
    res = admin.post("/admin/exports/upstream/delete", data={"csrf": token})
    assert "The export target was deleted." in res.text
    assert [a for a, _ in _audit(engine)][1:] == [
        "export.create",
        "export.update",
        "export.update",
        "export.delete",
    ]


# ---- survey responses --------------------------------------------------------------------------


def _surveys(engine: Engine, count: int) -> list[int]:
    ids = []
    start = dt.datetime(2025, 3, 1)
    with engine.begin() as conn:
        for i in range(count):
            moment = start + dt.timedelta(hours=i)
            pair = []
            for direction, mbps in (("download", 10.0 + i), ("upload", 50.0 - i % 7)):
                pair.append(
                    conn.execute(
                        insert(measurements)
                        .values(
                            uuid=f"test_{i}_{direction}",
                            source="local",
                            direction=direction,
                            test_time=moment,
                            mean_mbps=mbps,
                            min_rtt_ms=20.0 + i % 5,
                            client_ip="192.0.2.7",
                            isp="Example Cable" if i % 2 else "Fibre Co",
                            asn=64500,
                        )
                        .returning(measurements.c.id)
                    ).scalar_one()
                )
            answers = {"isp": f"ISP {i}", "connection_type": "wired", "advertised_download": 100}
            ids.append(
                conn.execute(
                    insert(survey_response)
                    .values(
                        created=moment,
                        form="piecewise",
                        answers=answers,
                        consent=True,
                        lat=51.5,
                        lon=-0.1,
                        client_ip="192.0.2.7",
                        download_id=pair[0],
                        upload_id=pair[1],
                    )
                    .returning(survey_response.c.id)
                ).scalar_one()
            )
    return ids


def _listed(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-survey="(\d+)">', html)]


def test_survey_review_pages_and_sorts(admin: TestClient, engine: Engine) -> None:
    ids = _surveys(engine, 55)
    first = admin.get("/admin/surveys").text
    assert _listed(first) == ids[::-1][:50]  # newest first, 50 a page
    assert "Page 1 of 2" in first and "To review (55)" in first
    second = admin.get("/admin/surveys?page=2").text
    assert _listed(second) == ids[::-1][50:]
    by_speed = admin.get("/admin/surveys?sort=download&order=asc").text
    assert _listed(by_speed)[:3] == ids[:3]
    assert 'aria-sort="ascending"' in by_speed
    # Garbage in the query string falls back to the defaults.
    odd = admin.get("/admin/surveys?sort=drop+table&order=sideways&status=x&page=-4")
    assert odd.status_code == 200 and _listed(odd.text) == ids[::-1][:50]
    assert _listed(admin.get("/admin/surveys?page=99").text) == ids[::-1][50:]


def test_verify_unverify_and_delete_responses(admin: TestClient, engine: Engine) -> None:
    ids = _surveys(engine, 3)
    token = _csrf(admin, "/admin/surveys")
    keep = {"csrf": token, "status": "all", "sort": "id", "order": "asc", "page": "1"}
    res = admin.post(f"/admin/surveys/{ids[0]}/verify", data=keep, follow_redirects=False)
    assert res.status_code == 303
    assert res.headers["location"].startswith("/admin/surveys?")
    assert (
        "sort=id" in res.headers["location"] and "done=survey-verified" in res.headers["location"]
    )
    admin.post(f"/admin/surveys/{ids[1]}/unverify", data=keep)
    verified = admin.get("/admin/surveys?status=verified").text
    assert _listed(verified) == [ids[0]] and "Verified (1)" in verified
    assert _listed(admin.get("/admin/surveys?status=unverified").text) == [ids[1]]
    assert _listed(admin.get("/admin/surveys?status=new").text) == [ids[2]]
    admin.post(f"/admin/surveys/{ids[0]}/unverify", data=keep)  # changes its mind
    with engine.connect() as conn:
        reviews = conn.execute(select(survey_review).order_by(survey_review.c.survey_id)).all()
    assert [(r.survey_id, r.verified, r.reviewer) for r in reviews] == [
        (ids[0], False, "admin"),
        (ids[1], False, "admin"),
    ]
    res = admin.post(f"/admin/surveys/{ids[0]}/delete", data=keep)
    assert "The response was deleted." in res.text
    assert admin.post(f"/admin/surveys/{ids[0]}/delete", data=keep).status_code == 404
    assert admin.post("/admin/surveys/999999/verify", data=keep).status_code == 404
    with engine.connect() as conn:
        left = conn.execute(select(survey_response.c.id)).scalars().all()
        tests = conn.execute(select(func.count()).select_from(measurements)).scalar()
    assert sorted(left) == ids[1:] and tests == 6  # the tests stay
    assert [a for a, _ in _audit(engine)][1:] == [
        "survey.verify",
        "survey.unverify",
        "survey.unverify",
        "survey.delete",
    ]


def test_csv_exports_of_surveys_and_tests(admin: TestClient, engine: Engine) -> None:
    ids = _surveys(engine, 3)
    admin.post(f"/admin/surveys/{ids[1]}/verify", data={"csrf": _csrf(admin, "/admin/surveys")})
    res = admin.get("/admin/surveys.csv")
    assert res.headers["content-type"].startswith("text/csv")
    assert 'filename="netatlas-surveys.csv"' in res.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(res.text)))
    assert [int(r["id"]) for r in rows] == ids
    assert rows[1]["status"] == "verified" and rows[0]["status"] == "new"
    assert rows[2]["download_mbps"] == "12.0" and rows[2]["isp"] == "Fibre Co"
    assert rows[0]["answer_connection_type"] == "wired"
    assert rows[0]["answer_advertised_download"] == "100"
    assert "192.0.2.7" not in res.text  # no client addresses
    tests = list(csv.DictReader(io.StringIO(admin.get("/admin/tests.csv").text)))
    assert len(tests) == 6 and {t["direction"] for t in tests} == {"download", "upload"}
    assert "client_ip" not in tests[0]


def _post_document(admin: TestClient, name: str, document: Any, action: str = "save") -> Any:
    text = document if isinstance(document, str) else json.dumps(document)
    data = {"csrf": _csrf(admin, "/admin/settings"), "action": action, "document": text}
    return admin.post(f"/admin/settings/{name}", data=data, follow_redirects=False)


def _stored_documents(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(config_document.c.name)).scalars())


def test_admin_edits_the_survey_form(admin: TestClient, engine: Engine) -> None:
    html = admin.get("/admin/settings").text
    assert "connection_type" in html and "the built-in form" in html  # in force, as JSON
    form = form_as_document(DEFAULT_FORM)
    # Bad documents: a 400 naming the problem, the text kept in the editor, nothing stored.
    res = _post_document(admin, "survey", '{"fields": [')
    assert res.status_code == 400 and "not valid JSON" in res.text
    assert "{&#34;fields&#34;: [" in res.text or '{"fields": [' in res.text
    bad = {**form, "fields": [{"name": "speed", "type": "slider"}]}
    res = _post_document(admin, "survey", bad)
    assert res.status_code == 400 and "fields[0].type" in res.text
    assert _stored_documents(engine) == []

    form["fields"].append(
        {"name": "plan_name", "label": "What is your plan called?", "type": "text"}
    )
    res = _post_document(admin, "survey", form)
    assert res.status_code == 303 and res.headers["location"].startswith("/admin/settings?done=")
    location = res.headers["location"]
    fields = [f["name"] for f in admin.get("/api/v1/speedtest/config").json()["form"]["fields"]]
    assert fields[-1] == "plan_name" and "connection_type" in fields
    assert 'name="plan_name"' in admin.get("/speedtest").text
    html = admin.get(location).text
    assert "saved here" in html and "by admin" in html and "The survey form was saved" in html

    res = _post_document(admin, "survey", "", action="reset")
    assert res.status_code == 303
    fields = [f["name"] for f in admin.get("/api/v1/speedtest/config").json()["form"]["fields"]]
    assert "plan_name" not in fields
    assert _stored_documents(engine) == []
    assert [a for a in _audit(engine) if a[0].startswith("settings.")] == [
        ("settings.survey.save", "survey"),
        ("settings.survey.reset", "survey"),
    ]


def test_admin_edits_the_aggregations(admin: TestClient, engine: Engine) -> None:
    html = admin.get("/admin/settings").text
    assert "hex8" in html and "the built-in aggregations" in html
    names = [a["name"] for a in admin.get("/api/v1/broadband/aggregations").json()["aggregations"]]
    assert names == ["countries", "hex8", "tiles"]
    unknown = {"aggregation": [{"name": "wards", "area": "city_wards", "time": "month"}]}
    res = _post_document(admin, "aggregations", unknown)
    assert res.status_code == 400 and "city_wards" in res.text and "areas import" in res.text
    res = _post_document(
        admin, "aggregations", {"aggregation": [{"name": "x", "time": "fortnight"}]}
    )
    assert res.status_code == 400 and "time must be one of" in res.text
    assert _stored_documents(engine) == []

    daily = {"name": "daily", "area": "countries", "time": "day", "isp": True, "min_tests": 3}
    document = {"aggregation": [daily]}
    assert _post_document(admin, "aggregations", document).status_code == 303
    listed = admin.get("/api/v1/broadband/aggregations").json()["aggregations"]
    assert [(a["name"], a["time"], a["min_tests"]) for a in listed] == [("daily", "day", 3)]
    assert admin.get("/api/v1/broadband/stats/hex8").status_code == 400  # no longer declared
    # The statistics job follows the saved document too.
    (report,) = update_statistics(engine, "")
    assert report.name == "daily" and report.rebuilt and not report.error

    assert _post_document(admin, "aggregations", "", action="reset").status_code == 303
    listed = admin.get("/api/v1/broadband/aggregations").json()["aggregations"]
    assert [a["name"] for a in listed] == ["countries", "hex8", "tiles"]
    assert ("settings.aggregations.save", "aggregations") in _audit(engine)


def test_admin_edits_the_use_case_table(admin: TestClient, engine: Engine) -> None:
    """The use cases and their weights travel in the aggregations document."""
    html = admin.get("/admin/settings").text
    assert "video_conferencing" in html and "percentile" in html  # shown in the editor
    bad = {"aggregation": [{"name": "all"}], "use_case": [{"key": "x", "download": 5}]}
    res = _post_document(admin, "aggregations", bad)
    assert res.status_code == 400 and "upload is required" in res.text
    case = {"key": "streaming", "label": "Streaming", "download": 15, "upload": 2,
            "latency": 150, "loss": 2, "weights": {"latency": 2}}  # fmt: skip
    document = {"aggregation": [{"name": "all"}], "scores": {"percentile": 95}, "use_case": [case]}
    assert _post_document(admin, "aggregations", document).status_code == 303
    (listed,) = admin.get("/api/v1/broadband/aggregations").json()["aggregations"]
    assert listed["score_percentile"] == 95
    assert [u["key"] for u in listed["use_cases"]] == ["streaming"]
    assert listed["use_cases"][0]["weights"]["latency"] == 2
    assert "score_streaming" in listed["stats"] and "score_gaming" not in listed["stats"]
    config = admin.get("/api/v1/speedtest/config").json()
    assert [(u["key"], u["min_download"]) for u in config["use_cases"]] == [("streaming", 15)]


def test_other_processes_pick_up_a_saved_document(engine: Engine) -> None:
    # A second server process holds its own source: it sees a save once its recheck is due.
    source = aggregations_source(engine, "")
    assert [a.name for a in source.current()] == ["countries", "hex8", "tiles"]
    with engine.begin() as conn:
        put_document(conn, "aggregations", {"aggregation": [{"name": "all"}]}, "someone")
    assert [a.name for a in source.current()] == ["countries", "hex8", "tiles"]  # not yet due
    source.forget()
    assert [a.name for a in source.current()] == ["all"]
    quick = aggregations_source(engine, "")
    quick._recheck = 0.0
    assert [a.name for a in quick.current()] == ["all"]
    with engine.begin() as conn:
        delete_document(conn, "aggregations")
    assert [a.name for a in quick.current()] == ["countries", "hex8", "tiles"]


def test_overview_and_audit_pages(admin: TestClient, engine: Engine) -> None:
    _surveys(engine, 2)
    html = admin.get("/admin").text
    assert "Responses to review" in html and ">2<" in html
    audit = admin.get("/admin/audit").text
    assert "admin.login" in audit


# ---- netatlas admin set-password ----------------------------------------------------------------


def test_set_password_command(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("NETATLAS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NETATLAS_DATABASE_URL", settings.database_url)
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["admin", "set-password"]) == 0
    assert "created administrator admin" in capsys.readouterr().out
    assert auth.login(engine, "admin", PASSWORD, None).session is not None
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["admin", "set-password", "--user", "ops"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("another good password\n"))
    assert main(["admin", "set-password"]) == 0
    assert "changed the password of admin" in capsys.readouterr().out
    assert auth.login(engine, "admin", PASSWORD, None).session is None
    assert [a for a, _ in _audit(engine)] == ["admin.create", "admin.set-password"]
