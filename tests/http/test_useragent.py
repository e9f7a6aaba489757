"""Client families from User-Agent headers, and their counts in /metrics and the admin: a
fixed, small label set whatever clients send."""

from __future__ import annotations

import random
import re
import string

import pytest

from netatlas.http.useragent import FAMILIES, client_family
from netatlas.settings import Settings
from tests.location._keys import key_app

# What the clients send (reference/peers-and-clients.md), and what they are.
AGENTS = [
    ("microG/0.3.6.244735 (Linux; Android 14; com.google.android.gms)", "microg"),
    ("Ichnaea (Linux; Android 13; com.google.android.gms)", "microg"),
    ("UnifiedNlp/1.6.8 IchnaeaNlpBackend", "microg"),
    ("geoclue/2.7.2", "geoclue"),
    ("GeoClue 2.7.1", "geoclue"),
    ("NeoStumbler/1.4.2", "neostumbler"),
    ("NeoStumbler/18 (Linux; Android 14)", "neostumbler"),
    ("TowerCollector/2.17.2", "tower_collector"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "firefox"),
    ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", "firefox"),
    ("curl/8.5.0", "other"),
    ("Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A)", "other"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0", "other"),
    ("", "none"),
    ("   ", "none"),
    (None, "none"),
]


@pytest.mark.parametrize(("agent", "family"), AGENTS)
def test_known_clients_are_recognised(agent: str | None, family: str) -> None:
    assert client_family(agent) == family


def test_a_huge_header_is_classified_without_reading_it_all() -> None:
    assert client_family("x" * 100_000 + "NeoStumbler/1") == "other"
    assert client_family("NeoStumbler/1 " + "x" * 100_000) == "neostumbler"


_LINE = re.compile(r'^netatlas_keyless_clients_total\{api="([^"]*)",family="([^"]*)"\} (\S+)$')


def _counts(text: str) -> dict[tuple[str, str], float]:
    found = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            found[(m.group(1), m.group(2))] = float(m.group(3))
    return found


def _random_agent(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + " /;.()-_"
    body = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 120)))
    # Now and then a real client's name inside the noise.
    if rng.random() < 0.2:
        body += rng.choice(["NeoStumbler/", "geoclue/", "Firefox/", "microG", "TowerCollector/"])
    return body


def test_metrics_label_set_stays_bounded_under_random_agents(settings: Settings) -> None:
    rng = random.Random(1642)
    agents = [_random_agent(rng) for _ in range(1000)]
    with key_app(settings, keyless_rate_per_minute=0, geoip_city_path="") as (_, client, _c):
        before = _counts(client.get("/metrics").text)
        for agent in agents:
            res = client.post("/v1/geolocate", json={}, headers={"User-Agent": agent})
            assert res.status_code == 404
        for agent in agents[:50]:
            res = client.post("/v2/geosubmit", json={"items": []}, headers={"User-Agent": agent})
            assert res.status_code == 200
        after = _counts(client.get("/metrics").text)
    expected: dict[tuple[str, str], int] = {}
    for agent in agents:
        key = ("geolocate", client_family(agent))
        expected[key] = expected.get(key, 0) + 1
    for agent in agents[:50]:
        key = ("submit", client_family(agent))
        expected[key] = expected.get(key, 0) + 1
    # At most one series per API and family, whatever the 1,000 agents were ...
    assert {family for _, family in after} <= set(FAMILIES)
    assert {api for api, _ in after} <= {"geolocate", "country", "submit"}
    assert len(after) <= 3 * len(FAMILIES)
    # ... and every request counted under its family.
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert {k: int(v) for k, v in delta.items() if v} == expected
    assert expected[("geolocate", "other")] > 500
    assert sum(n for (api, fam), n in expected.items() if fam != "other") > 50


def test_keyed_requests_are_not_counted_as_keyless(settings: Settings) -> None:
    from tests.location._keys import add_key

    with key_app(settings, geoip_city_path="") as (app, client, _):
        add_key(app, "known-key")
        before = _counts(client.get("/metrics").text)
        ua = {"User-Agent": "NeoStumbler/1.0"}
        client.post("/v1/geolocate?key=known-key", json={}, headers=ua)
        client.post("/v2/geosubmit?key=known-key", json={"items": []}, headers=ua)
        client.post("/v1/country", json={}, headers=ua)
        after = _counts(client.get("/metrics").text)
    delta = {k: int(after.get(k, 0) - before.get(k, 0)) for k in after}
    assert {k: v for k, v in delta.items() if v} == {("country", "neostumbler"): 1}
