"""The providers' wire formats: the request bodies as msgspec Structs, and the answers.

``ichnaea/v1`` and ``combain/v1`` take the geolocate body, with ``fallbacks: {lacf: <the
query's value>, ipf: false}`` so the provider never locates *our* address; ``googlemaps/v1``
takes it without Bluetooth, PSC or SSID and with ``considerIp: false``; ``unwiredlabs/v1``
renames the fields, carries the token (the URL's fragment) in the body and answers with
``status`` / ``message``. Empty fields are left out of every body.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urldefrag

import msgspec

from netatlas.location.fallback.config import SCHEMAS
from netatlas.location.fallback.query import (
    BlueNetwork,
    CellNetwork,
    FallbackQuery,
    WifiNetwork,
    mac12,
)
from netatlas.location.fallback.result import SCORE, SCORE_LACF, FallbackResult

__all__ = [
    "Body",
    "GeolocateBody",
    "ProviderError",
    "UnwiredBody",
    "build_body",
    "parse_answer",
]


# --------------------------------------------------------------------------- geolocate bodies


class _Entry(msgspec.Struct, omit_defaults=True, rename="camel"):
    """An entry of the geolocate body; fields left None are not sent."""


class GeolocateBlue(_Entry):
    mac_address: str
    age: int | None = None
    signal_strength: int | None = None


class GeolocateCell(_Entry):
    radio_type: str
    mobile_country_code: int
    mobile_network_code: int
    location_area_code: int
    cell_id: int | None = None
    primary_scrambling_code: int | None = None  # never sent to Google
    age: int | None = None
    signal_strength: int | None = None
    timing_advance: int | None = None


class GeolocateWifi(_Entry):
    mac_address: str
    age: int | None = None
    channel: int | None = None
    signal_strength: int | None = None
    signal_to_noise_ratio: int | None = None
    ssid: str | None = None  # never sent to Google


class GeolocateFallbacks(msgspec.Struct):
    lacf: bool
    ipf: bool


class GeolocateBody(_Entry):
    """The body of ``ichnaea/v1``, ``combain/v1`` (with ``fallbacks``) and
    ``googlemaps/v1`` (with ``considerIp``)."""

    bluetooth_beacons: list[GeolocateBlue] = []
    cell_towers: list[GeolocateCell] = []
    wifi_access_points: list[GeolocateWifi] = []
    consider_ip: bool | None = None
    fallbacks: GeolocateFallbacks | None = None


# --------------------------------------------------------------------------- Unwired Labs bodies


class UnwiredCell(msgspec.Struct, omit_defaults=True):
    radio: str  # "umts" for WCDMA
    mcc: int
    mnc: int
    lac: int
    cid: int | None = None
    signal: int | None = None
    ta: int | None = msgspec.field(default=None, name="tA")
    psc: int | None = None
    asu: int | None = None


class UnwiredWifi(msgspec.Struct, omit_defaults=True):
    bssid: str
    channel: int | None = None
    frequency: int | None = None
    signal: int | None = None
    snr: int | None = msgspec.field(default=None, name="signalToNoiseRatio")


class UnwiredFallbacks(msgspec.Struct):
    lacf: int
    ipf: int


class UnwiredBody(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The body of ``unwiredlabs/v1``."""

    cells: list[UnwiredCell] = []
    wifi: list[UnwiredWifi] = []
    token: str
    fallbacks: UnwiredFallbacks
    address: int  # 0: no street address wanted


Body = GeolocateBody | UnwiredBody

_UNWIRED_RADIO = {"wcdma": "umts"}


# --------------------------------------------------------------------------- building


def _colon_mac(mac: str) -> str | None:
    value = mac12(mac)
    return None if value is None else ":".join(value[i : i + 2] for i in range(0, 12, 2))


_N = TypeVar("_N")
_E = TypeVar("_E")


def _entries(networks: Iterable[_N], entry: Callable[[_N], _E | None]) -> list[_E]:
    """The outbound entries; networks with an invalid MAC are left out."""
    return [e for e in (entry(network) for network in networks) if e is not None]


def _geolocate_blue(blue: BlueNetwork) -> GeolocateBlue | None:
    mac = _colon_mac(blue.mac)
    if mac is None:
        return None
    return GeolocateBlue(mac_address=mac, age=blue.age, signal_strength=blue.signal)


def _geolocate_cell(cell: CellNetwork, *, google: bool) -> GeolocateCell:
    return GeolocateCell(
        radio_type=cell.radio,
        mobile_country_code=cell.mcc,
        mobile_network_code=cell.mnc,
        location_area_code=cell.lac,
        cell_id=cell.cid,
        primary_scrambling_code=None if google else cell.psc,
        age=cell.age,
        signal_strength=cell.signal,
        timing_advance=cell.ta,
    )


def _geolocate_wifi(wifi: WifiNetwork, *, google: bool) -> GeolocateWifi | None:
    mac = _colon_mac(wifi.mac)
    if mac is None:
        return None
    return GeolocateWifi(
        mac_address=mac,
        age=wifi.age,
        channel=wifi.channel,
        signal_strength=wifi.signal,
        signal_to_noise_ratio=wifi.snr,
        ssid=None if google else wifi.ssid,
    )


def _geolocate_body(query: FallbackQuery, *, google: bool) -> GeolocateBody | None:
    body = GeolocateBody(
        bluetooth_beacons=[] if google else _entries(query.blues, _geolocate_blue),
        cell_towers=[_geolocate_cell(cell, google=google) for cell in query.cells],
        wifi_access_points=_entries(query.wifis, lambda w: _geolocate_wifi(w, google=google)),
    )
    if not (body.bluetooth_beacons or body.cell_towers or body.wifi_access_points):
        return None
    if google:
        body.consider_ip = False
    else:
        body.fallbacks = GeolocateFallbacks(lacf=query.lacf, ipf=False)
    return body


def _unwired_cell(cell: CellNetwork) -> UnwiredCell:
    return UnwiredCell(
        radio=_UNWIRED_RADIO.get(cell.radio, cell.radio),
        mcc=cell.mcc,
        mnc=cell.mnc,
        lac=cell.lac,
        cid=cell.cid,
        signal=cell.signal,
        ta=cell.ta,
        psc=cell.psc,
        asu=cell.asu,
    )


def _unwired_wifi(wifi: WifiNetwork) -> UnwiredWifi | None:
    mac = _colon_mac(wifi.mac)
    if mac is None:
        return None
    return UnwiredWifi(
        bssid=mac, channel=wifi.channel, frequency=wifi.frequency, signal=wifi.signal, snr=wifi.snr
    )


def _unwired_body(query: FallbackQuery, token: str) -> UnwiredBody | None:
    cells = [_unwired_cell(cell) for cell in query.cells]
    wifi = _entries(query.wifis, _unwired_wifi)
    if not (cells or wifi):
        return None
    return UnwiredBody(
        cells=cells,
        wifi=wifi,
        token=token,
        fallbacks=UnwiredFallbacks(lacf=int(query.lacf), ipf=0),
        address=0,
    )


def build_body(schema: str, url: str, query: FallbackQuery) -> tuple[str, Body | None]:
    """The URL to POST to and the body for ``schema``; None for the body means the schema
    cannot carry any of the query's networks (e.g. Bluetooth to Google)."""
    if schema == "unwiredlabs/v1":
        plain, token = urldefrag(url)
        return plain, _unwired_body(query, token)
    if schema not in SCHEMAS:
        raise ValueError(f"unknown fallback schema {schema!r}")
    plain, _fragment = urldefrag(url)
    return plain, _geolocate_body(query, google=schema == "googlemaps/v1")


# --------------------------------------------------------------------------- answers


class ProviderError(Exception):
    """The provider could not be asked, or its answer is unusable: no result, nothing cached."""


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _make_result(lat: object, lon: object, accuracy: object, fallback: object) -> FallbackResult:
    la, lo, acc = _number(lat), _number(lon), _number(accuracy)
    if la is None or lo is None or acc is None:
        raise ProviderError("answer without lat, lon and accuracy")
    if not (-90.0 <= la <= 90.0 and -180.0 <= lo <= 180.0) or acc <= 0:
        raise ProviderError("answer out of range")
    flag = "lacf" if fallback == "lacf" else None
    return FallbackResult(
        lat=la, lon=lo, accuracy=acc, score=SCORE_LACF if flag else SCORE, fallback=flag
    )


def parse_answer(schema: str, data: Any) -> FallbackResult | None:
    """The result in a 2xx answer's JSON; None for "not found"; ProviderError if malformed.

    The answer is read field by field rather than decoded into a Struct: a ``fallback`` of
    any other value is ignored, and only missing or non-numeric positions are malformed.
    """
    if not isinstance(data, dict):
        raise ProviderError("answer is not a JSON object")
    if schema == "unwiredlabs/v1":
        if data.get("status") != "ok":
            if data.get("message") == "No matches found":
                return None
            raise ProviderError(f"provider error: {data.get('message')!r}")
        return _make_result(
            data.get("lat"), data.get("lon"), data.get("accuracy"), data.get("fallback")
        )
    location = data.get("location")
    if not isinstance(location, dict):
        raise ProviderError("answer without location")
    return _make_result(
        location.get("lat"), location.get("lng"), data.get("accuracy"), data.get("fallback")
    )
