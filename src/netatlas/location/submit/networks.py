"""Per-entry clean-up of WiFi, Bluetooth and cell entries (private to ``submit``).

Each ``parse_*`` function takes one report's decoded array (see ``_submit_types``) and returns
the entries worth keeping, counting every dropped entry under a reason in ``dropped``. A bad entry
never fails the request. Within one report a network seen twice is kept once, the better
observation winning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from netatlas.location.radio import (
    ASU_MAX,
    ASU_MIN,
    MCC_MAX,
    MCC_MIN,
    MNC_MAX,
    MNC_MIN,
    RADIOS,
    SIGNAL_MAX,
    SIGNAL_MIN,
    cell_radio,
)
from netatlas.location.submit.fields import (
    INT_MAX,
    LONG_MAX,
    MAX_AGE,
    BadValue,
    as_code,
    normalize_mac,
)
from netatlas.location.submit.report import BlueBeacon, CellTower, WifiAccessPoint
from netatlas.location.submit.schema import BlueIn, CellIn, WifiIn

MacCache = dict[str, tuple[str, None] | tuple[None, str]]

_INF: Final = float("inf")

# 802.11 standards kept as a WiFi radioType; other free text is not stored.
_WIFI_STANDARDS: Final = {
    name: name
    for name in (
        "802.11a",
        "802.11b",
        "802.11g",
        "802.11n",
        "802.11ac",
        "802.11ax",
        "802.11be",
        "802.11bn",
        "802.11ad",
        "802.11ay",
        "802.11ah",
        "802.11af",
        "802.11p",
    )
}

# Radio vocabulary: umts is Ichnaea's alias for wcdma; "5g" is what some clients call nr. cdma and
# anything else are refused (the cell is dropped and counted as "cell.radio").
_RADIOS: Final = {"gsm": "gsm", "wcdma": "wcdma", "umts": "wcdma", "lte": "lte", "nr": "nr"}
_RADIOS_EXTRA: Final = {"5g": "nr", "5gnr": "nr", "5g-nr": "nr", "5g nr": "nr"}

# Field ranges per radio: the one table in netatlas.location.radio.

# "Unknown" sentinels, read as absent:
# - INT_MAX (Android CellInfo.UNAVAILABLE) in every field, LONG_MAX (UNAVAILABLE_LONG) in the NCI;
# - -1 and 0 for MCC, LAC and CID (old Android APIs and modem firmware use both for "unknown");
#   MNC 0 is a real network code (e.g. 234-00) and is kept, MNC -1 is unknown;
# - 65535 (0xFFFF) for a 2G/3G/4G LAC/TAC and for a GSM CI (GSM neighbour cells report it);
# - 268435455 (0xFFFFFFF, all 28 bits set) for a GSM/WCDMA/LTE cell id.
_UNKNOWN_MCC: Final = frozenset({-1, 0, INT_MAX})
_UNKNOWN_MNC: Final = frozenset({-1, INT_MAX})
_UNKNOWN_LAC_16: Final = frozenset({-1, 0, INT_MAX, 65535})
_UNKNOWN_LAC: Final = {
    "gsm": _UNKNOWN_LAC_16,
    "wcdma": _UNKNOWN_LAC_16,
    "lte": _UNKNOWN_LAC_16,
    "nr": frozenset({-1, 0, INT_MAX}),
}
_UNKNOWN_CID_28: Final = frozenset({-1, 0, INT_MAX, LONG_MAX, 2**28 - 1})
_UNKNOWN_CID: Final = {
    "gsm": _UNKNOWN_CID_28 | {65535},
    "wcdma": _UNKNOWN_CID_28,
    "lte": _UNKNOWN_CID_28,
    "nr": frozenset({-1, 0, INT_MAX, LONG_MAX}),
}


def count(dropped: dict[str, int], reason: str) -> None:
    dropped[reason] = dropped.get(reason, 0) + 1


def wifi_channel(frequency: int) -> int | None:
    """The channel of a frequency in MHz (2.4, 4.9, 5, 6 and 60 GHz bands), if on the raster."""
    if 2412 <= frequency <= 2472:
        channel, rest = divmod(frequency - 2407, 5)
    elif frequency == 2484:
        return 14
    elif 4915 <= frequency <= 4995:
        channel, rest = divmod(frequency - 4000, 5)
    elif 5075 <= frequency <= 5925:
        channel, rest = divmod(frequency - 5000, 5)
    elif frequency == 5935:  # 6 GHz channel 2, off the 5950 + 5 * ch raster
        return 2
    elif 5955 <= frequency <= 7115:
        channel, rest = divmod(frequency - 5950, 5)
    elif frequency >= 57000:  # 802.11ad/ay: 58.32 GHz + 2.16 GHz steps, channels 1..6
        channel, rest = divmod(frequency - 56160, 2160)
        return channel if rest == 0 and 1 <= channel <= 6 else None
    else:
        return None
    return channel if rest == 0 else None


def wifi_frequency(channel: int) -> int:
    """Ichnaea's frequency for a bare channel number 1..233.

    A bare channel below 200 is ambiguous with the 6 GHz band and is read as 2.4/5 GHz like
    Ichnaea did (4.9 GHz for 186..199); channels 200..233 exist only in the 6 GHz band.
    """
    if channel <= 13:
        return 2407 + 5 * channel
    if channel == 14:
        return 2484
    if channel <= 185:
        return 5000 + 5 * channel
    if channel <= 199:
        return 4000 + 5 * channel
    return 5950 + 5 * channel


def _wifi_standard(value: str) -> str | None:
    return _WIFI_STANDARDS.get(value.strip().lower())


def parse_wifis(
    entries: Sequence[WifiIn] | None, macs: MacCache, dropped: dict[str, int]
) -> list[WifiAccessPoint]:
    if not entries:
        return []
    kept: dict[str, WifiAccessPoint] = {}
    for entry in entries:
        raw = entry.macAddress
        if raw is None:
            count(dropped, "wifi.invalid_mac")
            continue
        normal = macs.get(raw)
        if normal is None:
            normal = macs[raw] = normalize_mac(raw)
        mac = normal[0]
        if mac is None:
            count(dropped, "wifi." + str(normal[1]))
            continue
        ssid = entry.ssid
        if ssid is not None:
            if not ssid or (ssid[0] == "\x00" and not ssid.strip("\x00")):  # hidden network
                count(dropped, "wifi.hidden")
                continue
            if "_" in ssid:
                lowered = ssid.lower()
                if lowered.endswith("_nomap") or "_optout" in lowered:  # Google/Microsoft opt-out
                    count(dropped, "wifi.nomap")
                    continue
        # Out-of-range values are dropped, not the entry. Channels 1..233 (6 GHz goes to 233);
        # frequencies 2.4 GHz to the top of the 6 GHz band, and the 60 GHz band.
        channel = entry.channel
        if channel is not None and not 1 <= channel <= 233:
            channel = None
        frequency = entry.frequency
        if frequency is not None and not (2400 <= frequency <= 7125 or 57000 <= frequency <= 71000):
            frequency = None
        if channel is None:
            if frequency is not None:
                channel = wifi_channel(frequency)
        elif frequency is None:
            frequency = wifi_frequency(channel)
        age = entry.age
        if age is not None and not -MAX_AGE <= age <= MAX_AGE:
            age = None
        signal = entry.signalStrength
        if signal is not None and not -100 <= signal <= -10:
            signal = None
        snr = entry.signalToNoiseRatio
        if snr is not None and not 1 <= snr <= 100:
            snr = None
        standard = entry.radioType
        if standard is not None:
            standard = _WIFI_STANDARDS.get(standard) or _wifi_standard(standard)
        # Positional for speed (report.py's field order; the tests pin it). The SSID is never kept.
        wifi = WifiAccessPoint(mac, age, channel, frequency, standard, signal, snr)
        old = kept.get(mac)
        if old is not None:
            count(dropped, "wifi.duplicate")
            if _wifi_rank(wifi) <= _wifi_rank(old):
                continue
        kept[mac] = wifi
    return list(kept.values())


def _wifi_rank(wifi: WifiAccessPoint) -> tuple[float, float, float]:
    """Higher is better: stronger signal, then better SNR, then a fresher (smaller) age."""
    return (
        -_INF if wifi.signalStrength is None else wifi.signalStrength,
        -_INF if wifi.signalToNoiseRatio is None else wifi.signalToNoiseRatio,
        -_INF if wifi.age is None else -abs(wifi.age),
    )


def parse_blues(
    entries: Sequence[BlueIn] | None, macs: MacCache, dropped: dict[str, int]
) -> list[BlueBeacon]:
    if not entries:
        return []
    kept: dict[str, BlueBeacon] = {}
    for entry in entries:
        raw = entry.macAddress
        if raw is None:
            count(dropped, "blue.invalid_mac")
            continue
        normal = macs.get(raw)
        if normal is None:
            normal = macs[raw] = normalize_mac(raw)
        mac = normal[0]
        if mac is None:
            count(dropped, "blue." + str(normal[1]))
            continue
        age = entry.age
        if age is not None and not -MAX_AGE <= age <= MAX_AGE:
            age = None
        signal = entry.signalStrength
        if signal is not None and not -127 <= signal <= 0:
            signal = None
        # Beacon names are not kept, like SSIDs: a phone or headset name can identify a person.
        blue = BlueBeacon(mac, age, None, signal)
        old = kept.get(mac)
        if old is not None:
            count(dropped, "blue.duplicate")
            if _blue_rank(blue) <= _blue_rank(old):
                continue
        kept[mac] = blue
    return list(kept.values())


def _blue_rank(blue: BlueBeacon) -> tuple[float, float]:
    """Higher is better: stronger signal, then a fresher age."""
    return (
        -_INF if blue.signalStrength is None else blue.signalStrength,
        -_INF if blue.age is None else -abs(blue.age),
    )


def radio_name(value: str | None) -> str | None:
    """Normalised radio type, or ``None`` for cdma, unknown values and absent ones."""
    if value is None:
        return None
    lowered = value.strip().lower()
    return _RADIOS.get(lowered) or _RADIOS_EXTRA.get(lowered)


def parse_cells(
    entries: Sequence[CellIn] | None, default_radio: str | None, dropped: dict[str, int]
) -> list[CellTower]:
    if not entries:
        return []
    kept: dict[tuple[str, int, int, int, int], CellTower] = {}
    for entry in entries:
        try:
            cell = _cell(entry, default_radio, dropped)
        except BadValue:
            count(dropped, "cell.invalid")
            continue
        if cell is None:
            continue
        key = (
            cell.radioType or "",
            cell.mobileCountryCode or 0,
            cell.mobileNetworkCode or 0,
            cell.locationAreaCode or 0,
            cell.cellId or 0,
        )
        old = kept.get(key)
        if old is not None:
            count(dropped, "cell.duplicate")
            if _cell_rank(cell) <= _cell_rank(old):
                continue
        kept[key] = cell
    return list(kept.values())


def _cell_rank(cell: CellTower) -> tuple[float, float, float, float]:
    """Higher is better: smaller timing advance, stronger signal, higher ASU, fresher age."""
    return (
        -_INF if cell.timingAdvance is None else -cell.timingAdvance,
        -_INF if cell.signalStrength is None else cell.signalStrength,
        -_INF if cell.asu is None else cell.asu,
        -_INF if cell.age is None else -abs(cell.age),
    )


def _in(value: int | None, low: int, high: int) -> int | None:
    return value if value is not None and low <= value <= high else None


def _cell(entry: CellIn, default_radio: str | None, dropped: dict[str, int]) -> CellTower | None:
    nr_cell_id = entry.newRadioCellId
    raw_radio = entry.radioType
    if raw_radio is None:
        raw_radio = default_radio if default_radio is not None or nr_cell_id is None else "nr"
    radio = radio_name(raw_radio)
    if radio is None:
        count(dropped, "cell.radio")
        return None
    mcc = as_code(entry.mobileCountryCode)
    if mcc is None:  # NeoStumbler's string copy
        mcc = as_code(entry.mobileCountryCodeStr)
    mnc = as_code(entry.mobileNetworkCode)
    if mnc is None:
        mnc = as_code(entry.mobileNetworkCodeStr)
    lac = as_code(entry.locationAreaCode)
    cid = as_code(nr_cell_id) if radio == "nr" else None
    if cid is None:
        cid = as_code(entry.cellId)

    # "Unknown" sentinels become absent (see _UNKNOWN_* above).
    if mcc in _UNKNOWN_MCC:
        mcc = None
    if mnc in _UNKNOWN_MNC:
        mnc = None
    if lac in _UNKNOWN_LAC[radio]:
        lac = None
    if cid in _UNKNOWN_CID[radio]:
        cid = None
    else:
        radio = cell_radio(radio, cid)
    if mcc is None or mnc is None or lac is None or cid is None:  # e.g. PSC-only neighbours
        count(dropped, "cell.incomplete")
        return None
    ranges = RADIOS[radio]
    if not (
        MCC_MIN <= mcc <= MCC_MAX
        and MNC_MIN <= mnc <= MNC_MAX
        and ranges.has_lac(lac)
        and ranges.has_cid(cid)
    ):
        count(dropped, "cell.out_of_range")
        return None

    psc = entry.primaryScramblingCode
    if psc is None:
        psc = entry.psc
    serving = entry.serving
    return CellTower(
        radioType=radio,
        mobileCountryCode=mcc,
        mobileNetworkCode=mnc,
        locationAreaCode=lac,
        cellId=cid,
        age=_in(entry.age, -MAX_AGE, MAX_AGE),
        asu=_in(entry.asu, ASU_MIN, ASU_MAX),  # 99 and 255 mean "unknown" and fall outside
        primaryScramblingCode=_in(psc, 0, ranges.psc_max),
        serving=None if serving is None else _in(int(serving), 0, 1),
        signalStrength=_in(entry.signalStrength, SIGNAL_MIN, SIGNAL_MAX),
        timingAdvance=_in(entry.timingAdvance, 0, ranges.ta_max),
        arfcn=_in(entry.arfcn, 0, ranges.arfcn_max),
    )
