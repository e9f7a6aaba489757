"""Answering /v1/geolocate and /v1/country: keys and limits, sources, learning from queries.

The domain step behind the locate views; it knows nothing about HTTP. Sources, in order:
internal stations (BLE, WiFi, cells, then cell areas), GeoIP, then the key's external fallback
provider when the first two do not satisfy the query.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass
from typing import Any, Literal

from netatlas.geo.regions import genc_code, get_regions, region_name
from netatlas.http.errors import ApiError, KeyBlocked, KeyInvalid, NotFound
from netatlas.http.metrics import keyless_client, learning, locate_answer
from netatlas.http.quota import Usage, seconds_to_day_end
from netatlas.location.fallback import (
    BlueNetwork,
    CellNetwork,
    FallbackConfig,
    FallbackQuery,
    WifiNetwork,
)
from netatlas.location.keys import ApiKey, well_formed
from netatlas.location.locate.query import Query
from netatlas.location.locate.result import RegionResult, Result
from netatlas.location.locate.service import locate, region
from netatlas.location.services import Services
from netatlas.location.submit.intake import INCOMING
from netatlas.location.submit.report import Position, Report, Submission, encode_submission
from netatlas.queue import QueueUnavailable

Endpoint = Literal["geolocate", "country"]
_ENDPOINT_METRIC = {"geolocate": "v1.geolocate", "country": "v1.country"}


@dataclass(frozen=True)
class Caller:
    """Who asks: the raw ``key`` parameter, the client address, the opt-in header and the
    User-Agent."""

    key: str | None
    ip: str | None
    contribute: bool = False
    agent: str | None = None


@dataclass(frozen=True)
class Answer:
    """A locate answer's body and the headers that go with it (``X-RateLimit-*``)."""

    body: dict[str, Any]
    headers: dict[str, str]


def _refused_key(key: ApiKey) -> KeyInvalid:
    if key.status == "pending":
        return KeyInvalid("This API key awaits an administrator's approval.")
    return KeyInvalid("This API key was revoked.")


def authorise(
    services: Services, caller: Caller, endpoint: Endpoint
) -> tuple[ApiKey | None, Usage | None]:
    """The caller's key row after the key and rate-limit rules, and the caller's standing in
    the limit that counted the request (None when none did); raises the API errors.

    With ``NETATLAS_REQUIRE_API_KEY`` a known key is needed (Ichnaea's behaviour). Otherwise
    keyless callers, and callers with an unknown key, are let in under the per-address limit.
    A known key that is not allowed this endpoint, pending approval, revoked or blocked for the
    caller is refused either way.
    """
    name = well_formed(caller.key)
    key = services.keys.lookup(name) if name else None
    if key is None:
        if services.settings.require_api_key:
            raise KeyInvalid()
        keyless_client(endpoint, caller.agent)
        return None, services.limiter.check_keyless(caller.ip)
    if not key.active:
        raise _refused_key(key)
    now = services.limiter.clock()
    block = key.block_for(caller.ip, now)
    if block is not None:
        retry = None if block.until is None else max(1, int(block.until - now + 0.999))
        raise KeyBlocked(retry_after=retry)
    if endpoint == "geolocate" and not key.allow_locate:
        raise KeyInvalid()
    if endpoint == "country" and not key.allow_region:
        raise KeyInvalid()
    # Ichnaea compatibility: the region API is neither counted nor limited.
    if endpoint == "geolocate" and key.maxreq:
        try:
            count = services.limiter.check_daily(
                key.valid_key, _ENDPOINT_METRIC[endpoint], key.maxreq
            )
        except ApiError as error:
            error.headers.update(Usage(key.maxreq, key.maxreq, seconds_to_day_end(now)).headers())
            raise
        if count is not None:
            return key, Usage(key.maxreq, count, seconds_to_day_end(now))
    return key, None


def _headers(usage: Usage | None) -> dict[str, str]:
    return usage.headers() if usage is not None else {}


def _geoip(services: Services, query: Query, ip: str | None) -> Any:
    if services.geoip is None or ip is None or not query.ipf:
        return None
    return services.geoip.lookup(ip)


def geolocate(services: Services, query: Query, caller: Caller) -> Answer:
    """The /v1/geolocate answer for ``query``; NotFound when no source knows the place."""
    key, usage = authorise(services, caller, "geolocate")
    try:
        body = _geolocate(services, query, caller, key)
    except ApiError as error:
        error.headers.update(_headers(usage))
        raise
    return Answer(body, _headers(usage))


def _geolocate(
    services: Services, query: Query, caller: Caller, key: ApiKey | None
) -> dict[str, Any]:
    found = _geoip(services, query, caller.ip)
    geoip = None
    if found is not None:
        # A pure IP lookup carries no fallback marker; one that had network data does.
        marker = "ipf" if query.network_count else None
        geoip = Result(found.lat, found.lon, found.accuracy, found.score, marker, "geoip")
    results = locate(services.read_engine, query, geoip)
    config = FallbackConfig.from_key(key) if key is not None else None
    if (
        config is not None
        and query.network_count
        and not results.satisfied(query.expected_accuracy(caller.ip is not None))
    ):
        answer = services.fallback.locate(config, _fallback_query(query))
        if answer is not None:
            results.add(
                Result(
                    answer.lat,
                    answer.lon,
                    answer.accuracy,
                    answer.score,
                    answer.fallback,
                    "fallback",
                )
            )
    best = results.best()
    locate_answer("geolocate", best.source if best is not None else None)
    if best is None:
        raise NotFound()
    if best.source == "internal":
        _learn(services, query, best, key, caller)
    body: dict[str, Any] = {
        "location": {"lat": round(best.lat, 7), "lng": round(best.lon, 7)},
        "accuracy": round(best.accuracy, 7),
    }
    if best.fallback:
        body["fallback"] = best.fallback
    return body


def country(services: Services, query: Query, caller: Caller) -> Answer:
    """The /v1/country answer for ``query``; NotFound when no region can be named."""
    _, usage = authorise(services, caller, "country")
    try:
        body = _country(services, query, caller)
    except ApiError as error:
        error.headers.update(_headers(usage))
        raise
    return Answer(body, _headers(usage))


def _country(services: Services, query: Query, caller: Caller) -> dict[str, Any]:
    regions = get_regions()
    found = _geoip(services, query, caller.ip)
    geoip = None
    if found is not None:
        marker = "ipf" if query.network_count else None
        geoip = RegionResult(found.region, found.region_radius, found.score, marker, "geoip")
    found_regions = region(services.read_engine, query, geoip, region_radius=regions.max_radius)
    best = found_regions.best()
    locate_answer("country", best.source if best is not None else None)
    if best is None:
        raise NotFound()
    code = genc_code(best.region)
    body: dict[str, Any] = {"country_code": code, "country_name": region_name(code)}
    if best.fallback:
        body["fallback"] = best.fallback
    return body


def _fallback_query(query: Query) -> FallbackQuery:
    return FallbackQuery(
        wifis=[
            WifiNetwork(
                w.macAddress, w.signalStrength, w.age, w.channel, w.frequency, w.signalToNoiseRatio
            )
            for w in query.wifis
        ],
        cells=[
            CellNetwork(
                c.radioType or "",
                c.mobileCountryCode or 0,
                c.mobileNetworkCode or 0,
                c.locationAreaCode or 0,
                c.cellId,
                c.primaryScramblingCode,
                c.age,
                c.signalStrength,
                c.timingAdvance,
                c.asu,
            )
            for c in (*query.cells, *query.area_cells)
        ],
        blues=[BlueNetwork(b.macAddress, b.signalStrength, b.age) for b in query.blues],
        lacf=query.lacf,
    )


def _learn(
    services: Services, query: Query, best: Result, key: ApiKey | None, caller: Caller
) -> None:
    """Queue the query as a "query" observation when the caller allows it.

    Only answers from our own stations are learnt from (never GeoIP or the fallback provider),
    and only when the client opted in (``X-Ichnaea-Contribute-Opt-In: 1``) or its key's
    ``store_sample_locate`` picks it; a growing pipeline backlog samples these down (see
    ``backpressure``). Learning is best effort: a full queue never fails the answer.
    """
    chosen = key is not None and random.random() * 100 < key.store_sample_locate
    if not (caller.contribute or chosen):
        return
    learnt = services.backpressure.learn()
    learning(learnt)
    if not learnt:
        return
    now = int(time.time() * 1000)
    report = Report(
        timestamp=now,
        position=Position(
            latitude=best.lat, longitude=best.lon, accuracy=best.accuracy, source="query"
        ),
        wifiAccessPoints=list(query.wifis),
        bluetoothBeacons=list(query.blues),
        cellTowers=list(query.cells),
    )
    item = encode_submission(
        Submission(reports=[report], api_key=key.valid_key if key else None, received=now)
    )
    with contextlib.suppress(QueueUnavailable):
        services.queue.push(INCOMING, [item])
