"""The admin side of self-service keys, over HTTP on both backends: the sign-up switch (off,
open, approve) and its address block list, approving, revoking and restoring keys, per-key
blocks, keyless clients by family — each change audited."""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from netatlas.admin import auth
from netatlas.admin.models import audit_log
from netatlas.location.models import key_block
from netatlas.settings import Settings
from tests.location._keys import error_reason, key_app

PASSWORD = "correct horse battery"


def _login(app: Any, client: TestClient) -> str:
    auth.set_password(app.state.services.engine, "admin", PASSWORD)
    page = client.get("/admin/login").text
    nonce = re.search(r'name="nonce" value="([^"]+)"', page)
    assert nonce is not None
    data = {"nonce": nonce.group(1), "user": "admin", "password": PASSWORD, "next": "/admin"}
    assert client.post("/admin/login", data=data, follow_redirects=False).status_code == 303
    return _csrf(client)


def _csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/keys").text)
    assert found is not None
    return found.group(1)


def _post(client: TestClient, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf": _csrf(client), **data}, follow_redirects=False)


def _audit(app: Any) -> list[tuple[str, str | None]]:
    with app.state.services.engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    return [(r.action, r.target) for r in rows if r.action.startswith(("key", "keys"))]


def _signup(client: TestClient, **headers: str) -> Any:
    return client.post("/api/v1/keys", json={"contact": "c@example.org"}, headers=headers)


def test_the_switch_turns_signup_off_open_and_approve(settings: Settings) -> None:
    with key_app(settings) as (app, client, _):
        _login(app, client)
        assert _signup(client).status_code == 403  # the setting: off
        res = _post(client, "/admin/signup", mode="open", daily_limit="20", blocked="")
        assert res.status_code == 303
        made = _signup(client)
        assert made.status_code == 201 and made.json()["daily_limit"] == 20
        assert made.json()["status"] == "active"

        _post(client, "/admin/signup", mode="approve", daily_limit="", blocked="")
        pending = _signup(client).json()
        assert pending["status"] == "pending" and pending["daily_limit"] is None
        key, key_id = pending["key"], pending["key_id"]
        assert client.post(f"/v1/geolocate?key={key}", json={}).status_code == 400
        page = client.get("/admin/keys").text
        assert key_id in page and key not in page and "c@example.org" in page
        assert _post(client, f"/admin/keys/{key_id}/status", action="approve").status_code == 303
        assert client.post(f"/v1/geolocate?key={key}", json={}).status_code == 200

        _post(client, "/admin/signup", mode="off", daily_limit="", blocked="")
        assert _signup(client).status_code == 403
        # Forgetting the saved choice brings the setting back (off here).
        _post(client, "/admin/signup", action="reset")
        assert _signup(client).status_code == 403
        assert ("key.approve", key_id) in _audit(app)
        assert [a for a, _ in _audit(app)].count("keys.signup.save") == 3
        assert ("keys.signup.reset", "key_signup") in _audit(app)


def test_a_bad_policy_form_changes_nothing(settings: Settings) -> None:
    with key_app(settings, key_signup="open") as (app, client, _):
        _login(app, client)
        res = _post(client, "/admin/signup", mode="sometimes", daily_limit="-3", blocked="nowhere")
        assert res.status_code == 400
        for word in ("off, open or approve", "whole number", "nowhere"):
            assert word in res.text
        assert _signup(client).status_code == 201
        assert _audit(app) == []


def test_signup_address_block_list(settings: Settings) -> None:
    with key_app(settings, key_signup="open") as (app, client, _):
        _login(app, client)
        _post(
            client, "/admin/signup", mode="open", daily_limit="", blocked="10.0.0.0/8\n81.2.69.0/24"
        )
        refused = _signup(client)
        assert refused.status_code == 403 and error_reason(refused) == "signupBlocked"
        _post(client, "/admin/signup", mode="open", daily_limit="", blocked="10.0.0.0/8")
        assert _signup(client).status_code == 201


def test_revoke_restore_and_block_a_key(settings: Settings) -> None:
    with key_app(settings, key_signup="open", start=None) as (app, client, clock):
        _login(app, client)
        made = _signup(client).json()
        key, key_id = made["key"], made["key_id"]

        _post(client, f"/admin/keys/{key_id}/status", action="revoke")
        revoked = client.post(f"/v1/geolocate?key={key}", json={})
        assert revoked.status_code == 400 and "revoked" in revoked.json()["error"]["message"]
        assert client.get("/api/v1/keys/usage", params={"key": key}).json()["status"] == "revoked"
        _post(client, f"/admin/keys/{key_id}/status", action="restore")
        assert client.post(f"/v1/geolocate?key={key}", json={}).status_code == 200

        bad = _post(client, f"/admin/keys/{key_id}/blocks", network="not a net", hours="x")
        assert bad.status_code == 400 and "address or network" in bad.text
        res = _post(client, f"/admin/keys/{key_id}/blocks", network="81.2.69.192", reason="spam")
        assert res.status_code == 303
        blocked = client.post(f"/v1/geolocate?key={key}", json={})
        assert blocked.status_code == 403 and error_reason(blocked) == "keyBlocked"
        page = client.get(f"/admin/keys/{key_id}").text
        assert "81.2.69.192/32" in page and "spam" in page
        block_id = re.search(rf"/admin/keys/{key_id}/blocks/(\d+)/delete", page)
        assert block_id is not None

        _post(client, f"/admin/keys/{key_id}/blocks", network="", hours="3")
        clock.set(time.time())  # the block's end is stamped by the real time
        usage = client.get("/api/v1/keys/usage", params={"key": key}).json()
        assert usage["blocked"] and 3 * 3600 - 60 < usage["blocked_seconds"] <= 3 * 3600
        assert usage["network_blocks"] == 1

        _post(client, f"/admin/keys/{key_id}/blocks/{block_id.group(1)}/delete")
        assert client.get("/api/v1/keys/usage", params={"key": key}).json()["network_blocks"] == 0
        actions = [a for a, t in _audit(app) if t == key_id]
        assert actions == ["key.revoke", "key.restore", "key.block", "key.block", "key.unblock"]
        # Deleting the key takes its blocks with it.
        assert _post(client, f"/admin/keys/{key_id}/delete").status_code == 303
        assert client.get("/api/v1/keys/usage", params={"key": key}).status_code == 400
        with app.state.services.engine.connect() as conn:
            assert conn.execute(select(key_block)).all() == []


def test_unknown_keys_and_actions_are_not_found(settings: Settings) -> None:
    with key_app(settings) as (app, client, _):
        _login(app, client)
        assert _post(client, "/admin/keys/nokey/status", action="revoke").status_code == 404
        assert _post(client, "/admin/keys/nokey/blocks/1/delete").status_code == 404
        res = _post(client, "/admin/keys/nokey/blocks", network="", hours="")
        assert res.status_code == 404


def test_the_keys_page_counts_keyless_clients_by_family(settings: Settings) -> None:
    with key_app(settings) as (app, client, _):
        _login(app, client)

        def counted(family: str) -> int:
            page = client.get("/admin/keys").text
            row = re.search(rf"<th scope=\"row\">{family}</th><td class=\"num\">(\d+)</td>", page)
            assert row is not None
            return int(row.group(1))

        before = counted("geoclue")
        for _ in range(3):
            client.post("/v1/geolocate", json={}, headers={"User-Agent": "geoclue/2.7.2"})
        assert counted("geoclue") == before + 3
