"""Admin login hardening: odd cookies and form fields are refused (never a 500), failed logins
are counted per address bucket, a lock-out never reaches an address that has not failed, and
concurrent wrong logins get no more tries than the limit."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from netatlas.admin import auth
from netatlas.admin.models import admin_lockout
from tests.admin.test_admin import PASSWORD, _csrf, _login, _nonce

NON_ASCII = ["é", "token.é", "\u2603.\u2603", "1²"]


# ---- non-ASCII cookies, nonces and CSRF tokens --------------------------------------------------


@pytest.mark.parametrize("value", ["abc.\xe9", "\xe9\xe9.\xff", "x" * 40 + ".\xe4"])
def test_a_non_ascii_session_cookie_is_a_login_redirect(client: TestClient, value: str) -> None:
    # Starlette reads the Cookie header as Latin-1: these bytes arrive as non-ASCII text.
    raw = b"netatlas_admin=" + value.encode("latin-1")
    res = client.get("/admin", headers={"Cookie": raw}, follow_redirects=False)  # type: ignore[dict-item]
    assert res.status_code == 303 and res.headers["location"].startswith("/admin/login")


@pytest.mark.parametrize("nonce", NON_ASCII)
def test_a_non_ascii_login_nonce_is_a_400(client: TestClient, engine: Engine, nonce: str) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    client.get("/admin/login")
    res = client.post("/admin/login", data={"nonce": nonce, "user": "admin", "password": PASSWORD})
    assert res.status_code == 400 and "expired" in res.text
    assert "netatlas_admin" not in client.cookies


def test_a_non_ascii_login_cookie_is_a_400(client: TestClient, engine: Engine) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    nonce = _nonce(client.get("/admin/login").text)
    client.cookies.clear()
    raw = b"netatlas_login=" + "\xe9t\xe9".encode("latin-1")
    res = client.post(
        "/admin/login",
        data={"nonce": nonce, "user": "admin", "password": PASSWORD},
        headers={"Cookie": raw},  # type: ignore[dict-item]
    )
    assert res.status_code == 400 and "expired" in res.text


@pytest.mark.parametrize("token", NON_ASCII)
def test_a_non_ascii_csrf_token_is_a_403(client: TestClient, engine: Engine, token: str) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    assert _login(client).status_code == 303
    data = {"csrf": token, "valid_key": "forged-key", "store_sample_locate": "100"}
    res = client.post("/admin/keys", data={**data, "store_sample_submit": "100"})
    assert res.status_code == 403 and "expired" in res.text
    # The right token still works afterwards.
    assert client.post("/admin/logout", data={"csrf": _csrf(client)}).status_code == 200


def test_digits_int_cannot_read_are_a_form_error(client: TestClient, engine: Engine) -> None:
    """'²' passes str.isdigit but not int(): a 400 naming the field, or the default page."""
    auth.set_password(engine, "admin", PASSWORD)
    assert _login(client).status_code == 303
    assert client.get("/admin/surveys", params={"page": "\u00b2"}).status_code == 200
    assert client.get("/admin/audit", params={"page": "\u00b2\u00b3"}).status_code == 200
    token = _csrf(client, "/admin/keys")
    key = {"csrf": token, "valid_key": "odd-key", "maxreq": "\u00b2"}
    res = client.post("/admin/keys", data={**key, "store_sample_locate": "100"})
    assert res.status_code == 400 and "whole number" in res.text
    target = {"csrf": token, "name": "odd", "schema": "dummy", "batch": "\u00b9", "max_age": "1"}
    res = client.post("/admin/exports", data=target)
    assert res.status_code == 400 and "whole number" in res.text


# ---- lock-out per address bucket ---------------------------------------------------------------


def _fail(engine: Engine, ip: str, times: int = 1, name: str = "admin") -> auth.LoginResult:
    result = auth.LoginResult(None)
    for _ in range(times):
        result = auth.login(engine, name, "wrong password!", ip)
        assert result.session is None
    return result


def test_an_ipv6_64_is_one_bucket(engine: Engine) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    for i in range(1, auth.MAX_FAILURES_IP + 1):  # five addresses of one /64
        _fail(engine, f"2001:db8:1:2::{i:x}")
    refused = auth.login(engine, "admin", PASSWORD, "2001:db8:1:2:ffff::1")
    assert refused.session is None and refused.retry_after > 800
    # The next /64 (another subscriber) is not affected.
    assert auth.login(engine, "admin", PASSWORD, "2001:db8:1:3::1").session is not None


def test_an_ipv4_address_and_its_mapped_form_are_one_bucket(engine: Engine) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    _fail(engine, "192.0.2.10", auth.MAX_FAILURES_IP - 1)
    last = _fail(engine, "::ffff:192.0.2.10")
    assert last.retry_after > 800
    assert auth.login(engine, "admin", PASSWORD, "192.0.2.10").retry_after > 0
    assert auth.login(engine, "admin", PASSWORD, "192.0.2.11").session is not None


def test_a_locked_out_address_does_not_lock_out_the_administrator(
    client: TestClient, engine: Engine
) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    # An attacker locks their own address out, over HTTP (the test client's address).
    for _ in range(auth.MAX_FAILURES_IP):
        res = _login(client, "wrong password!")
    assert res.status_code == 429
    assert _login(client).status_code == 429
    # The administrator, elsewhere, logs in.
    assert auth.login(engine, "admin", PASSWORD, "198.51.100.7").session is not None
    # Many attackers, each from an address of its own, exhaust the user name's allowance:
    # their addresses are refused, but not one that has not failed.
    for i in range(auth.MAX_FAILURES_USER + 5):
        _fail(engine, f"203.0.113.{i}")
    assert auth.login(engine, "admin", PASSWORD, "203.0.113.4").retry_after > 0
    assert auth.login(engine, "admin", PASSWORD, "198.51.100.8").session is not None
    # While the name is under attack, a new address gets one try, not five.
    _fail(engine, "198.51.100.9")
    assert auth.login(engine, "admin", PASSWORD, "198.51.100.9").retry_after > 0


def test_a_successful_login_clears_its_own_bucket_only(engine: Engine) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    _fail(engine, "192.0.2.20", auth.MAX_FAILURES_IP - 1)
    assert auth.login(engine, "admin", PASSWORD, "192.0.2.20").session is not None
    _fail(engine, "192.0.2.20", auth.MAX_FAILURES_IP - 1)  # a fresh allowance after success
    assert auth.login(engine, "admin", PASSWORD, "192.0.2.20").session is not None
    with engine.connect() as conn:
        subjects = set(conn.execute(select(admin_lockout.c.subject)).scalars())
    assert "ip:192.0.2.20" not in subjects and "user:admin" in subjects


@pytest.mark.parametrize("ip", ["192.0.2.30", "2001:db8:5::1"])
def test_concurrent_wrong_logins_get_no_more_tries_than_the_limit(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, ip: str
) -> None:
    """Twelve wrong logins at once from one address: the password is checked five times."""
    auth.set_password(engine, "admin", PASSWORD)
    checks: list[str] = []
    real = auth.verify_password

    def counted(password: str, stored: str) -> bool:
        checks.append(password)
        return real(password, stored)

    monkeypatch.setattr(auth, "verify_password", counted)
    start = threading.Barrier(12)
    results: list[auth.LoginResult] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        start.wait()
        result = auth.login(engine, "admin", f"guess number {n}", ip)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 12 and all(r.session is None for r in results)
    assert len(checks) == auth.MAX_FAILURES_IP, checks
    assert sum(1 for r in results if r.retry_after) >= 12 - auth.MAX_FAILURES_IP + 1
    # Locked now, right password or not; the lock runs its full time.
    assert auth.login(engine, "admin", PASSWORD, ip).retry_after > 800
    later = auth.utcnow() + auth.LOCK_TIME + dt.timedelta(seconds=2)
    assert auth.login(engine, "admin", PASSWORD, ip, now=later).session is not None


def test_counts_whose_window_ran_out_are_forgotten(engine: Engine) -> None:
    auth.set_password(engine, "admin", PASSWORD)
    start = dt.datetime(2026, 3, 1, 12, 0)
    for i in range(30):  # a spray of made-up names, each from its own address
        auth.login(engine, f"nobody{i}", "wrong password!", f"192.0.2.{i}", now=start)
    for _ in range(auth.MAX_FAILURES_IP):  # one address locks itself out
        auth.login(engine, "admin", "wrong password!", "198.51.100.1", now=start)
    with engine.connect() as conn:
        assert conn.execute(select(admin_lockout.c.subject)).all()
    # Still inside the window and the lock: everything is kept.
    during = start + auth.FAIL_WINDOW - dt.timedelta(minutes=1)
    assert auth.login(engine, "admin", PASSWORD, "198.51.100.1", now=during).retry_after > 0
    with engine.connect() as conn:
        kept = set(conn.execute(select(admin_lockout.c.subject)).scalars())
    assert {"user:nobody0", "ip:192.0.2.0", "ip:198.51.100.1"} <= kept
    # Past both, the next login leaves only its own fresh counts.
    later = start + auth.FAIL_WINDOW + auth.LOCK_TIME + dt.timedelta(minutes=1)
    assert auth.login(engine, "admin", PASSWORD, "203.0.113.5", now=later).session is not None
    with engine.connect() as conn:
        left = set(conn.execute(select(admin_lockout.c.subject)).scalars())
    assert left == {"user:admin"}
