"""X-RateLimit-* and Retry-After on every locate answer, and keys refused for their state or
blocks with the MLS error envelope, on both backends."""

from __future__ import annotations

from sqlalchemy import update

from netatlas.location import keyblocks
from netatlas.location.models import api_key
from netatlas.settings import Settings
from tests.location._keys import add_key, error_reason, key_app, rate

DAY = 86400


def test_a_keys_quota_counts_down_refuses_and_resets(settings: Settings) -> None:
    with key_app(settings) as (app, client, clock):
        add_key(app, "quota-key", maxreq=3)
        seen = [rate(client.post("/v1/geolocate?key=quota-key", json={})) for _ in range(3)]
        assert [r[:2] for r in seen] == [("3", "2"), ("3", "1"), ("3", "0")]
        assert int(seen[0][2] or 0) == DAY // 2  # NOON: half a day to the next UTC day
        over = client.post("/v1/geolocate?key=quota-key", json={})
        assert over.status_code == 403 and error_reason(over) == "dailyLimitExceeded"
        assert rate(over)[:2] == ("3", "0")
        assert over.headers["retry-after"] == str(DAY // 2)
        # The holder sees the same figures (the refused request counted too).
        usage = client.get("/api/v1/keys/usage", params={"key": "quota-key"}).json()
        assert (usage["daily_limit"], usage["used_today"], usage["remaining_today"]) == (3, 4, 0)
        assert usage["reset_seconds"] == DAY // 2
        clock.advance(DAY // 2)
        fresh = client.post("/v1/geolocate?key=quota-key", json={})
        assert fresh.status_code == 200 and rate(fresh) == ("3", "2", str(DAY))
        usage = client.get("/api/v1/keys/usage", params={"key": "quota-key"}).json()
        assert (usage["used_today"], usage["remaining_today"]) == (1, 2)


def test_keyless_callers_see_their_minute(settings: Settings) -> None:
    with key_app(settings, keyless_rate_per_minute=2) as (_, client, clock):
        clock.advance(15)  # 45 s to the minute's end
        first = client.post("/v1/geolocate", json={})
        assert first.status_code == 200 and rate(first) == ("2", "1", "45")
        # /v1/country counts in the same limit, and answers carry the headers too.
        second = client.post("/v1/country", json={})
        assert second.status_code == 200 and rate(second) == ("2", "0", "45")
        over = client.post("/v1/geolocate", json={})
        assert over.status_code == 429 and error_reason(over) == "rateLimitExceeded"
        assert over.headers["retry-after"] == "45" and rate(over) == ("2", "0", "45")
        assert client.post("/v1/country", json={}).status_code == 429
        clock.advance(45)
        assert rate(client.post("/v1/geolocate", json={}))[:2] == ("2", "1")


def test_misses_carry_the_headers_and_uncounted_answers_none(settings: Settings) -> None:
    with key_app(settings, geoip_city_path="") as (app, client, _):
        add_key(app, "limited", maxreq=10)
        add_key(app, "unlimited")
        miss = client.post("/v1/geolocate?key=limited", json={})
        assert miss.status_code == 404 and rate(miss)[:2] == ("10", "9")
        # Not counted, so nothing to tell: a key without a limit, and keyed /v1/country
        # (Ichnaea compatibility: the region API is neither counted nor limited).
        assert rate(client.post("/v1/geolocate?key=unlimited", json={})) == (None, None, None)
        assert rate(client.post("/v1/country?key=limited", json={})) == (None, None, None)


def test_revoked_and_pending_keys_are_refused(settings: Settings) -> None:
    with key_app(settings) as (app, client, _):
        add_key(app, "gone-key", status="revoked")
        add_key(app, "wait-key", status="pending")
        for key, word in (("gone-key", "revoked"), ("wait-key", "approval")):
            for path in ("/v1/geolocate", "/v1/country"):
                res = client.post(f"{path}?key={key}", json={})
                assert res.status_code == 400 and error_reason(res) == "keyInvalid", (key, path)
                assert word in res.json()["error"]["message"]
                assert res.headers["access-control-allow-origin"] == "*"
        # Submissions with such a key count as keyless ones (accepted, under the address limit).
        submit = client.post("/v2/geosubmit?key=gone-key", json={"items": []})
        assert submit.status_code == 200


def test_blocks_by_network_and_by_period(settings: Settings) -> None:
    with key_app(settings, start=None) as (app, client, clock):
        engine = app.state.services.engine
        add_key(app, "blocky", maxreq=100)
        block = keyblocks.add_block(engine, "blocky", "81.2.69.0/24", None, "abuse", "admin")
        app.state.services.keys.clear()
        res = client.post("/v1/geolocate?key=blocky", json={})
        assert res.status_code == 403 and error_reason(res) == "keyBlocked"
        assert "retry-after" not in res.headers  # until removed
        keyblocks.remove_block(engine, "blocky", block)
        keyblocks.add_block(engine, "blocky", None, 2, None, "admin")
        app.state.services.keys.clear()
        timed = client.post("/v1/country?key=blocky", json={})
        assert timed.status_code == 403 and error_reason(timed) == "keyBlocked"
        assert 0 < int(timed.headers["retry-after"]) <= 2 * 3600 + 60
        clock.advance(2 * 3600 + 120)
        assert client.post("/v1/geolocate?key=blocky", json={}).status_code == 200


def test_a_blocked_network_spares_other_addresses(settings: Settings) -> None:
    with key_app(settings, address="2001:db8:1::5") as (app, client, _):
        add_key(app, "netkey")
        engine = app.state.services.engine
        keyblocks.add_block(engine, "netkey", "81.2.69.0/24", None, None, None)
        assert client.post("/v1/country?key=netkey", json={}).status_code != 403
        keyblocks.add_block(engine, "netkey", "2001:db8::/32", None, None, None)
        app.state.services.keys.clear()
        res = client.post("/v1/country?key=netkey", json={})
        assert res.status_code == 403 and error_reason(res) == "keyBlocked"
        with app.state.services.engine.begin() as conn:
            conn.execute(
                update(api_key).where(api_key.c.valid_key == "netkey").values(status="revoked")
            )
        app.state.services.keys.clear()
        assert error_reason(client.post("/v1/geolocate?key=netkey", json={})) == "keyInvalid"
