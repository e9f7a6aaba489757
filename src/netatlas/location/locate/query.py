"""The /v1/geolocate and /v1/country request body, sanitised into a :class:`Query`.

Fields (reference/ichnaea.md 1.3; unknown fields are ignored, JSON ``null`` means absent):
``considerIp``, ``fallbacks`` {``lacf``, ``ipf``}, ``radioType`` (default for cells without
their own), ``cellTowers``, ``wifiAccessPoints``, ``bluetoothBeacons``, ``carrier``,
``homeMobileCountryCode``, ``homeMobileNetworkCode``.

* ``fallbacks`` absent: ``ipf = considerIp`` (default true). ``fallbacks`` present, even ``{}``:
  ``considerIp`` is ignored and each flag defaults to true. Booleans may be ``true``/``false``,
  ``"true"``/``"false"`` or 0/1.
* Only a structurally unusable body is an error (:class:`ParseError` with
  ``details.validation``, as Ichnaea): JSON that is not an object, a network list that is not an
  array, ``fallbacks`` that is not an object, a flag that is not a boolean. Not-JSON is a
  ``details.decode`` error. An empty body (or ``null``) is ``{}``, an IP-only query.
* Everything below is lenient where Ichnaea returned 400: an entry that is not an object, or
  whose members have unusable types (``"macAddress": 10``), is dropped or loses those members;
  radio types ``umts`` (read as wcdma), ``nr`` and ``5g`` are accepted (an unknown radio type only
  makes the cells using it unusable); MCC/MNC/LAC/cell id may be numeric strings; MACs may use
  ``:``, ``-``, ``.`` or no separators.
* WiFi and Bluetooth entries are cleaned like submitted ones (see ``_submit_networks``): invalid,
  multicast and locally administered (randomised) MACs, hidden and ``_nomap`` networks are
  dropped; out-of-range signal/age values become unknown; a MAC given twice keeps its better
  entry. Fewer than two distinct valid WiFi networks, or Bluetooth beacons, and that whole list is
  discarded (privacy: one network must never reveal a position).
* Cells need a radio (gsm, wcdma, lte, nr), a valid MCC, an MNC and a LAC/TAC in range; with a
  valid cell id too they are exact cells, without one (missing, an "unknown" sentinel, out of
  range) they are only usable as cell-area lookups. Cells without a LAC are not usable at all.
  GSM cells with a cell id above 65535 are read as WCDMA (Ichnaea). Field ranges per radio:
  ``netatlas.location.radio``.
* At most :data:`MAX_NETWORKS` (100) networks of each kind are kept - WiFi, Bluetooth, exact
  cells, area-only cells - the strongest signals first (an entry without a signal counts as the
  weakest; equal signals keep request order); the others are dropped and counted as
  ``<kind>.over_limit``. No device hears more, and the cap bounds every database lookup a query
  makes, whatever it sends (one statement can bind only so many keys).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

import msgspec

from netatlas.geo.mcc import is_valid_mcc
from netatlas.http.errors import ParseError
from netatlas.location.locate.result import HIGH, LOW, MEDIUM, NONE
from netatlas.location.radio import (
    ASU_MAX,
    ASU_MIN,
    MNC_MAX,
    MNC_MIN,
    RADIOS,
    SIGNAL_MAX,
    SIGNAL_MIN,
    cell_radio,
)
from netatlas.location.submit.fields import MAX_AGE, BadValue, as_code, clean_text
from netatlas.location.submit.networks import (
    _UNKNOWN_CID,
    _UNKNOWN_LAC,
    _UNKNOWN_MCC,
    _UNKNOWN_MNC,
    MacCache,
    count,
    parse_blues,
    parse_wifis,
    radio_name,
)
from netatlas.location.submit.report import BlueBeacon, CellTower, WifiAccessPoint
from netatlas.location.submit.schema import BlueIn, WifiIn, salvage
from netatlas.location.submit.schema import CellIn as _SubmitCellIn

__all__ = [
    "MAX_NETWORKS",
    "CellIn",
    "Fallbacks",
    "LocateRequest",
    "Query",
    "build_query",
    "parse_query",
]

MIN_MACS: Final = 2  # Ichnaea's MIN_WIFIS_IN_QUERY / MIN_BLUES_IN_QUERY
MAX_NETWORKS: Final = 100  # networks of each kind kept in a query, strongest signals first
_MAX_SHOWN: Final = 100
_Code = int | str | None


class CellIn(_SubmitCellIn):
    """A ``cellTowers`` entry; ``radio`` is the old Firefox OS spelling of ``radioType``.

    ``mcc``, ``mnc``, ``lac`` and ``tac`` are the short names some clients and scripts send
    (OpenCellID's and Unwired Labs' vocabulary); the Google/Ichnaea names win when both appear.
    """

    radio: str | None = None
    mcc: _Code = None
    mnc: _Code = None
    lac: _Code = None
    tac: _Code = None


class Fallbacks(msgspec.Struct):
    lacf: bool | None = None
    ipf: bool | None = None


class LocateRequest(msgspec.Struct):
    """The request body as decoded (lax: numeric strings are numbers, "true" is true)."""

    carrier: str | None = None
    considerIp: bool | None = None
    homeMobileCountryCode: _Code = None
    homeMobileNetworkCode: _Code = None
    radioType: str | None = None
    fallbacks: Fallbacks | None = None
    bluetoothBeacons: list[BlueIn] | None = None
    cellTowers: list[CellIn] | None = None
    wifiAccessPoints: list[WifiIn] | None = None


_decode_request: Final = msgspec.json.Decoder(LocateRequest, strict=False).decode
_decode_any: Final = msgspec.json.Decoder().decode
_ARRAYS: Final[dict[str, type[msgspec.Struct]]] = {
    "bluetoothBeacons": BlueIn,
    "cellTowers": CellIn,
    "wifiAccessPoints": WifiIn,
}


@dataclass(slots=True)
class Query:
    """A sanitised locate/region query.

    ``cells`` hold exact cells (``cellId`` set); ``area_cells`` entries usable only for their
    area (``cellId`` is ``None``). ``dropped`` counts discarded entries by reason.
    """

    wifis: list[WifiAccessPoint] = field(default_factory=list)
    blues: list[BlueBeacon] = field(default_factory=list)
    cells: list[CellTower] = field(default_factory=list)
    area_cells: list[CellTower] = field(default_factory=list)
    ipf: bool = True
    lacf: bool = True
    carrier: str | None = None
    home_mcc: int | None = None
    home_mnc: int | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def network_count(self) -> int:
        """Usable networks: WiFi and Bluetooth lists that passed the privacy rule, cells, areas.

        A GeoIP answer carries ``"fallback": "ipf"`` only when this is not zero.
        """
        return len(self.wifis) + len(self.blues) + len(self.cells) + len(self.area_cells)

    def area_keys(self) -> list[tuple[str, int, int, int]]:
        """Distinct (radio, mcc, mnc, lac) of every cell and area-only entry, in query order."""
        seen: dict[tuple[str, int, int, int], None] = {}
        for c in (*self.cells, *self.area_cells):
            key = (c.radioType or "", c.mobileCountryCode or 0, c.mobileNetworkCode or 0)
            seen[(*key, c.locationAreaCode or 0)] = None
        return list(seen)

    def expected_accuracy(self, ip_known: bool = True) -> float:
        """The accuracy class a good answer should reach (reference/ichnaea.md 4.2)."""
        if self.wifis or self.blues:
            return HIGH
        if self.cells:
            return MEDIUM
        if (self.area_cells and self.lacf) or (ip_known and self.ipf):
            return LOW
        return NONE


def parse_query(text: str | bytes) -> Query:
    """Parse a decoded request body (see :mod:`netatlas.http.body`) into a :class:`Query`."""
    if not text or not text.strip():
        return Query()
    try:
        request = _decode_request(text)
    except (msgspec.DecodeError, RecursionError):
        request = _salvage(_load(text))
    return build_query(request)


def _load(text: str | bytes) -> object:
    try:
        return _decode_any(text)
    except (msgspec.DecodeError, RecursionError):
        pass
    # The stdlib reads NaN/Infinity and huge numbers; what it refuses is a decode error carrying
    # the repr of its exception, as Ichnaea reported.
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError.decode_error(repr(exc)) from None


def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."


def _flag(value: object, path: str) -> bool | None:
    try:
        return msgspec.convert(value, bool | None, strict=False)
    except msgspec.ValidationError:
        raise ParseError.validation_error(
            {path: f'"{_shown(value)}" is neither in (false, 0) nor in (true, 1)'}
        ) from None


def _salvage(body: object) -> LocateRequest:
    """A body that did not decode as a whole: check its structure, keep what converts."""
    if body is None:  # a JSON null body: like an empty one
        return LocateRequest()
    if type(body) is not dict:
        message = (
            f'"{_shown(body)}" is not a mapping type: Does not implement dict-like functionality.'
        )
        raise ParseError.validation_error({"": message})
    request = LocateRequest()
    for name, struct in _ARRAYS.items():
        value = body.get(name)
        if value is None:
            continue
        if type(value) is not list:
            raise ParseError.validation_error({name: f'"{_shown(value)}" is not iterable'})
        entries = [salvage(e, struct) for e in value if type(e) is dict]
        setattr(request, name, entries)
    fallbacks = body.get("fallbacks")
    if fallbacks is not None:
        if type(fallbacks) is not dict:
            raise ParseError.validation_error(
                {"fallbacks": f'"{_shown(fallbacks)}" is not a mapping type'}
            )
        request.fallbacks = Fallbacks(
            lacf=_flag(fallbacks.get("lacf"), "fallbacks.lacf"),
            ipf=_flag(fallbacks.get("ipf"), "fallbacks.ipf"),
        )
    request.considerIp = _flag(body.get("considerIp"), "considerIp")
    # Members that are only informative lose a value of the wrong type.
    for name, kind in (("carrier", str), ("radioType", str)):
        value = body.get(name)
        if type(value) is kind:
            setattr(request, name, value)
    for name in ("homeMobileCountryCode", "homeMobileNetworkCode"):
        value = body.get(name)
        if type(value) in (int, str):
            setattr(request, name, value)
    return request


def build_query(request: LocateRequest) -> Query:
    """Sanitise a decoded request (see the module docstring)."""
    query = Query()
    dropped = query.dropped
    fallbacks = request.fallbacks
    if fallbacks is None:
        query.ipf = request.considerIp is not False
    else:
        query.ipf = fallbacks.ipf is not False
        query.lacf = fallbacks.lacf is not False
    macs: MacCache = {}
    wifis = parse_wifis(request.wifiAccessPoints, macs, dropped)
    if len(wifis) >= MIN_MACS:
        query.wifis = _strongest(wifis, "wifi", dropped)
    elif wifis:
        count(dropped, "wifi.too_few")
    blues = parse_blues(request.bluetoothBeacons, macs, dropped)
    if len(blues) >= MIN_MACS:
        query.blues = _strongest(blues, "blue", dropped)
    elif blues:
        count(dropped, "blue.too_few")
    if request.cellTowers:
        _cells(request.cellTowers, request.radioType, query)
    query.carrier = clean_text(request.carrier, 255)
    try:
        mcc = as_code(request.homeMobileCountryCode)
        mnc = as_code(request.homeMobileNetworkCode)
    except BadValue:
        mcc = mnc = None
    query.home_mcc = mcc if mcc is not None and 1 <= mcc <= 999 else None
    query.home_mnc = mnc if mnc is not None and 0 <= mnc <= 999 else None
    return query


_Network = TypeVar("_Network", WifiAccessPoint, BlueBeacon, CellTower)


def _signal(entry: WifiAccessPoint | BlueBeacon | CellTower) -> int:
    return -(entry.signalStrength if entry.signalStrength is not None else -999)


def _strongest(entries: list[_Network], kind: str, dropped: dict[str, int]) -> list[_Network]:
    """At most :data:`MAX_NETWORKS` entries, the strongest; the rest counted as over the limit."""
    over = len(entries) - MAX_NETWORKS
    if over <= 0:
        return entries
    dropped[f"{kind}.over_limit"] = dropped.get(f"{kind}.over_limit", 0) + over
    return sorted(entries, key=_signal)[:MAX_NETWORKS]


def _in(value: int | None, low: int, high: int) -> int | None:
    return value if value is not None and low <= value <= high else None


def _rank(cell: CellTower) -> tuple[float, float, float]:
    """Higher is better: smaller timing advance, stronger signal, fresher age."""
    inf = float("inf")
    return (
        -inf if cell.timingAdvance is None else -cell.timingAdvance,
        -inf if cell.signalStrength is None else cell.signalStrength,
        -inf if cell.age is None else -abs(cell.age),
    )


def _cells(entries: Sequence[CellIn], default_radio: str | None, query: Query) -> None:
    dropped = query.dropped
    exact: dict[tuple[str, int, int, int, int], CellTower] = {}
    areas: dict[tuple[str, int, int, int], CellTower] = {}
    for entry in entries:
        try:
            cell = _cell(entry, default_radio)
        except BadValue:
            cell = None
        if cell is None:
            count(dropped, "cell.invalid")
            continue
        radio = cell.radioType or ""
        mcc = cell.mobileCountryCode or 0
        mnc = cell.mobileNetworkCode or 0
        lac = cell.locationAreaCode or 0
        if cell.cellId is None:
            old = areas.get((radio, mcc, mnc, lac))
            if old is None or _rank(cell) > _rank(old):
                areas[(radio, mcc, mnc, lac)] = cell
            continue
        key = (radio, mcc, mnc, lac, cell.cellId)
        old = exact.get(key)
        if old is not None:
            count(dropped, "cell.duplicate")
            if _rank(cell) <= _rank(old):
                continue
        exact[key] = cell
    query.cells = _strongest(list(exact.values()), "cell", dropped)
    kept = {id(c) for c in query.cells}
    known = {key[:4] for key, c in exact.items() if id(c) in kept}
    query.area_cells = _strongest(
        [c for k, c in areas.items() if k not in known], "cell_area", dropped
    )


def _first_code(*values: _Code) -> int | None:
    for value in values:
        code = as_code(value)
        if code is not None:
            return code
    return None


def _cell(entry: CellIn, default_radio: str | None) -> CellTower | None:
    raw_radio = entry.radioType or entry.radio
    nr_cid = entry.newRadioCellId
    if raw_radio is None:
        raw_radio = default_radio if nr_cid is None else "nr"
    radio = radio_name(raw_radio)
    if radio is None:
        return None
    mcc = _first_code(entry.mobileCountryCode, entry.mobileCountryCodeStr, entry.mcc)
    mnc = _first_code(entry.mobileNetworkCode, entry.mobileNetworkCodeStr, entry.mnc)
    lac = _first_code(entry.locationAreaCode, entry.lac, entry.tac)
    if (
        mcc is None
        or mnc is None
        or lac is None
        or mcc in _UNKNOWN_MCC
        or mnc in _UNKNOWN_MNC
        or lac in _UNKNOWN_LAC[radio]
        or not is_valid_mcc(mcc)
        or not MNC_MIN <= mnc <= MNC_MAX
    ):
        return None
    cid = as_code(nr_cid) if radio == "nr" else None
    if cid is None:
        cid = as_code(entry.cellId)
    if cid in _UNKNOWN_CID[radio]:
        cid = None
    else:
        radio = cell_radio(radio, cid)
    ranges = RADIOS[radio]
    if not ranges.has_lac(lac):
        return None
    if cid is not None and not ranges.has_cid(cid):
        cid = None
    psc = entry.primaryScramblingCode
    if psc is None:
        psc = entry.psc
    return CellTower(
        radioType=radio,
        mobileCountryCode=mcc,
        mobileNetworkCode=mnc,
        locationAreaCode=lac,
        cellId=cid,
        age=_in(entry.age, -MAX_AGE, MAX_AGE),
        asu=_in(entry.asu, ASU_MIN, ASU_MAX),
        primaryScramblingCode=_in(psc, 0, ranges.psc_max),
        signalStrength=_in(entry.signalStrength, SIGNAL_MIN, SIGNAL_MAX),
        timingAdvance=_in(entry.timingAdvance, 0, ranges.ta_max),
    )
