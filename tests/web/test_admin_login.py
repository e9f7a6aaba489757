"""Admin login hardening: odd cookies and form fields are refused (never a 500), failed logins
are counted per address bucket, a lock-out never reaches an address that has not failed, and
concurrent wrong logins get no more tries than the limit."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from netatlas.web.admin import auth
from tests.web.test_admin import PASSWORD, _csrf, _login, _nonce

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
