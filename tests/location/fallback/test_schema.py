"""The four providers' request bodies and how their answers are read, through the client
and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from dataclasses import replace

import pytest

from netatlas.location.fallback import FallbackClient, FallbackQuery
from tests.location.fallback import test_client
from tests.location.fallback.test_client import (
    BLUES,
    EVERYTHING,
    Provider,
    config,
    wifi_query,
)

provider = test_client.provider  # the fixture: a provider on 127.0.0.1
client = test_client.client  # the fixture: the client as the settings build it


@pytest.mark.parametrize("schema", ["ichnaea/v1", "combain/v1"])
def test_geolocate_schemas(client: FallbackClient, provider: Provider, schema: str) -> None:
    provider.position(51.5, -0.1, 120.5)
    outcome = client.lookup(config(provider, schema), EVERYTHING)
    assert outcome.status == "ok" and not outcome.cached
    result = outcome.result
    assert result is not None
    assert (result.lat, result.lon, result.accuracy) == (51.5, -0.1, 120.5)
    assert (result.score, result.fallback, result.source) == (10.0, None, "fallback")

    [request] = provider.requests
    assert request.path == "/v1/geolocate?key=k"
    assert request.headers["user-agent"] == "NetAtlas"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "bluetoothBeacons": [
            {"macAddress": "a0:b1:c2:d3:e4:f5", "age": 200, "signalStrength": -75},
            {"macAddress": "a0:b1:c2:d3:e4:f6"},
        ],
        "cellTowers": [
            {
                "radioType": "wcdma",
                "mobileCountryCode": 234,
                "mobileNetworkCode": 30,
                "locationAreaCode": 1200,
                "cellId": 5000,
                "primaryScramblingCode": 12,
                "age": 100,
                "signalStrength": -80,
            }
        ],
        "wifiAccessPoints": [
            {
                "macAddress": "01:23:45:67:89:ab",
                "age": 1500,
                "channel": 6,
                "signalStrength": -60,
                "signalToNoiseRatio": 30,
                "ssid": "x",
            },
            {"macAddress": "01:23:45:67:89:ac", "signalStrength": -70},
        ],
        "fallbacks": {"lacf": False, "ipf": False},
    }


def test_lacf_answers_score_less(client: FallbackClient, provider: Provider) -> None:
    provider.position(51.5, -0.1, 50000.0, fallback="lacf")
    result = client.locate(config(provider), replace(EVERYTHING, lacf=True))
    assert result is not None and (result.score, result.fallback) == (5.0, "lacf")
    assert provider.requests[0].body["fallbacks"] == {"lacf": True, "ipf": False}


def test_other_fallback_values_are_dropped(client: FallbackClient, provider: Provider) -> None:
    provider.position(51.5, -0.1, 5000.0, fallback="ipf")
    result = client.locate(config(provider), EVERYTHING)
    assert result is not None and (result.score, result.fallback) == (10.0, None)


def test_googlemaps_schema(client: FallbackClient, provider: Provider) -> None:
    result = client.locate(config(provider, "googlemaps/v1"), EVERYTHING)
    assert result is not None
    body = provider.requests[0].body
    assert set(body) == {"cellTowers", "wifiAccessPoints", "considerIp"}
    assert body["considerIp"] is False
    assert "primaryScramblingCode" not in body["cellTowers"][0]
    assert body["cellTowers"][0]["cellId"] == 5000
    assert all("ssid" not in ap for ap in body["wifiAccessPoints"])
    assert body["wifiAccessPoints"][0]["macAddress"] == "01:23:45:67:89:ab"


def test_googlemaps_cannot_carry_bluetooth(client: FallbackClient, provider: Provider) -> None:
    outcome = client.lookup(config(provider, "googlemaps/v1"), FallbackQuery(blues=BLUES))
    assert outcome.status == "skipped"
    assert provider.requests == []


def test_unwiredlabs_schema(client: FallbackClient, provider: Provider) -> None:
    provider.answer(200, {"status": "ok", "balance": 99, "lat": 51.5, "lon": -0.1, "accuracy": 80})
    result = client.locate(config(provider, "unwiredlabs/v1"), EVERYTHING)
    assert result is not None
    assert (result.lat, result.lon, result.accuracy, result.score) == (51.5, -0.1, 80.0, 10.0)
    [request] = provider.requests
    assert request.path == "/v2/process.php"  # the token is not sent in the URL
    assert request.body == {
        "token": "s3cret-token",
        "cells": [
            {
                "radio": "umts",
                "mcc": 234,
                "mnc": 30,
                "lac": 1200,
                "cid": 5000,
                "signal": -80,
                "psc": 12,
                "asu": 20,
            }
        ],
        "wifi": [
            {
                "bssid": "01:23:45:67:89:ab",
                "channel": 6,
                "frequency": 2437,
                "signal": -60,
                "signalToNoiseRatio": 30,
            },
            {"bssid": "01:23:45:67:89:ac", "signal": -70},
        ],
        "fallbacks": {"lacf": 0, "ipf": 0},
        "address": 0,
    }


def test_unwiredlabs_no_match_is_cached(client: FallbackClient, provider: Provider) -> None:
    provider.answer(200, {"status": "error", "message": "No matches found", "balance": 98})
    query = wifi_query("0123456789ab", "0123456789ac")
    cfg = config(provider, "unwiredlabs/v1")
    assert client.lookup(cfg, query).status == "not_found"
    again = client.lookup(cfg, query)
    assert (again.status, again.cached) == ("not_found", True)
    assert len(provider.requests) == 1


def test_unwiredlabs_errors(client: FallbackClient, provider: Provider) -> None:
    provider.answer(200, {"status": "error", "message": "Invalid token"})
    query = wifi_query("0123456789ab", "0123456789ac")
    cfg = config(provider, "unwiredlabs/v1")
    assert client.lookup(cfg, query).status == "error"
    assert client.lookup(cfg, query).status == "error"
    assert len(provider.requests) == 2  # errors are not cached
