"""Self-service sign-up through the JSON API and the /keys page, in each mode, on both
backends: the key works, is shown once, is kept only as a hash, and sign-ups are limited."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select

from netatlas.location.models import api_key
from netatlas.settings import Settings
from tests.location._keys import error_reason, key_app


def _rows(app: object) -> list[dict[str, object]]:
    with app.state.services.engine.connect() as conn:  # type: ignore[attr-defined]
        return [dict(r._mapping) for r in conn.execute(select(api_key)).all()]


def test_signup_off_refuses_both_ways(settings: Settings) -> None:
    with key_app(settings) as (app, client, _):  # key_signup defaults to off
        res = client.post("/api/v1/keys", json={"contact": "a@example.org"})
        assert res.status_code == 403 and error_reason(res) == "signupClosed"
        page = client.get("/keys")
        assert page.status_code == 200 and 'action="/keys"' not in page.text
        assert _rows(app) == []


def test_open_signup_gives_a_working_key_shown_once(settings: Settings) -> None:
    changes = {"key_signup": "open", "key_signup_daily_limit": 50, "keyless_rate_per_minute": 7}
    with key_app(settings, **changes) as (app, client, _):
        res = client.post(
            "/api/v1/keys", json={"contact": "ops@example.org", "purpose": "a tracker"}
        )
        assert res.status_code == 201
        assert res.headers["cache-control"] == "no-store"
        made = res.json()
        key = made["key"]
        assert made["status"] == "active" and made["daily_limit"] == 50
        assert len(key) <= 40 and key.startswith(made["key_id"] + "-")

        # Kept as a hash under the public id: the key itself is nowhere in the table.
        (row,) = _rows(app)
        assert row["valid_key"] == made["key_id"]
        assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
        assert key not in repr(row)
        assert (row["contact"], row["purpose"], row["maxreq"]) == (
            "ops@example.org",
            "a tracker",
            50,
        )

        # It works, and counts against its own limit.
        located = client.post(f"/v1/geolocate?key={key}", json={})
        assert located.headers["x-ratelimit-limit"] == "50"
        # The id alone is not the key (it counts as no key), and nothing reads the key back.
        by_id = client.post(f"/v1/geolocate?key={made['key_id']}", json={})
        assert by_id.headers["x-ratelimit-limit"] == "7"
        usage = client.get("/api/v1/keys/usage", params={"key": key}).json()
        assert usage["key_id"] == made["key_id"] and "key" not in usage
        assert key not in client.get("/keys").text
        assert client.get("/api/v1/keys/usage", params={"key": made["key_id"]}).status_code == 400


def test_approve_mode_keys_wait_for_an_administrator(settings: Settings) -> None:
    with key_app(settings, key_signup="approve") as (app, client, _):
        made = client.post("/api/v1/keys", json={}).json()
        assert made["status"] == "pending"
        res = client.post(f"/v1/geolocate?key={made['key']}", json={})
        assert res.status_code == 400 and error_reason(res) == "keyInvalid"
        assert "approval" in res.json()["error"]["message"]
        assert _rows(app)[0]["status"] == "pending"


def test_the_html_form_needs_its_nonce_and_shows_the_key_once(settings: Settings) -> None:
    with key_app(settings, key_signup="open") as (app, client, _):
        page = client.get("/keys")
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
        assert nonce is not None
        # Without the nonce (a forged form), or from another site: refused, nothing made.
        assert client.post("/keys", data={"nonce": "x"}).status_code == 400
        foreign = client.post(
            "/keys", data={"nonce": nonce.group(1)}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        assert _rows(app) == []

        page = client.get("/keys")
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
        assert nonce is not None
        made = client.post(
            "/keys", data={"nonce": nonce.group(1), "contact": "me", "purpose": "testing"}
        )
        assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
        shown = re.search(r'id="new-key">([^<]+)<', made.text)
        assert shown is not None
        key = shown.group(1)
        assert client.post(f"/v1/geolocate?key={key}", json={}).headers["x-ratelimit-limit"]
        # The page that shows a key's use does not show the key.
        usage = client.post("/keys/usage", data={"key": key})
        assert usage.status_code == 200 and key not in usage.text
        assert _rows(app)[0]["valid_key"] in usage.text
        # The nonce was used up: the same form cannot be replayed.
        assert client.post("/keys", data={"nonce": nonce.group(1)}).status_code == 400


def test_bad_signups_get_the_error_envelope(settings: Settings) -> None:
    with key_app(settings, key_signup="open") as (app, client, _):
        long = client.post("/api/v1/keys", json={"contact": "x" * 300})
        assert long.status_code == 400
        assert "contact" in long.json()["error"]["details"]["validation"]
        extra = client.post("/api/v1/keys", json={"admin": True})
        assert extra.status_code == 400 and error_reason(extra) == "parseError"
        broken = client.post(
            "/api/v1/keys", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert broken.status_code == 400
        form = client.post("/api/v1/keys", data={"contact": "x"})  # a cross-site form's type
        assert form.status_code == 400
        control = client.post("/api/v1/keys", json={"purpose": "a\u202eb"})
        assert control.status_code == 400
        assert _rows(app) == []


def test_signups_are_limited_per_address_and_day(settings: Settings) -> None:
    with key_app(settings, key_signup="open", key_signup_ip_per_day=2) as (app, client, clock):
        assert [client.post("/api/v1/keys", json={}).status_code for _ in range(2)] == [201, 201]
        over = client.post("/api/v1/keys", json={})
        assert over.status_code == 429 and error_reason(over) == "rateLimitExceeded"
        assert 0 < int(over.headers["retry-after"]) <= 86400
        other = client.post("/api/v1/keys", json={}, headers={"X-Forwarded-For": "198.51.100.7"})
        assert other.status_code == 429  # not a trusted proxy: still the same address
        clock.advance(86400)
        assert client.post("/api/v1/keys", json={}).status_code == 201
        assert len(_rows(app)) == 3
