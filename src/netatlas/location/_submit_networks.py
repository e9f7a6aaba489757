"""Per-entry clean-up of WiFi, Bluetooth and cell entries (private to ``submit``).

Each ``parse_*`` function takes the raw JSON value of one report's array and returns the entries
worth keeping, counting every dropped entry under a reason in ``dropped``. A bad entry never fails
the request. Within one report a network seen twice is kept once, the better observation winning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from netatlas.location._submit_fields import (
    INT_MAX,
    LONG_MAX,
    MAX_AGE,
    BadValue,
    as_code,
    int_in,
    normalize_mac,
)
from netatlas.location.report import BlueBeacon, CellTower, WifiAccessPoint

MacCache = dict[str, tuple[str, None] | tuple[None, str]]

_INF: Final = float("inf")

# Radio vocabulary: umts is Ichnaea's alias for wcdma; "5g" is what some clients call nr. cdma and
# anything else are refused (the cell is dropped and counted as "cell.radio").
_RADIOS: Final = {"gsm": "gsm", "wcdma": "wcdma", "umts": "wcdma", "lte": "lte", "nr": "nr"}
_RADIOS_EXTRA: Final = {"5g": "nr", "5gnr": "nr", "5g-nr": "nr", "5g nr": "nr"}

# Key ranges per radio (after "unknown" sentinels are removed). LAC/TAC 65534 and 65535 are
# reserved values in 2G/3G/4G; NR TACs are 24-bit; cell ids: GSM CI 16-bit, UTRAN/E-UTRAN 28-bit,
# NR NCI 36-bit.
_LAC_MAX: Final = {"gsm": 65533, "wcdma": 65533, "lte": 65533, "nr": 2**24 - 1}
_CID_MAX: Final = {"gsm": 65535, "wcdma": 2**28 - 1, "lte": 2**28 - 1, "nr": 2**36 - 1}
# Scrambling code / physical cell id ranges (GSM has none; Ichnaea's generic 0..511 is kept).
_PSC_MAX: Final = {"gsm": 511, "wcdma": 511, "lte": 503, "nr": 1007}
# Timing advance: GSM 0..63, LTE 0..1282 (Android's range), NR TA index 0..3846; WCDMA has no TA.
_TA_MAX: Final = {"gsm": 63, "wcdma": -1, "lte": 1282, "nr": 3846}
# Highest (U/E/NR-)ARFCN per radio.
_ARFCN_MAX: Final = {"gsm": 1023, "wcdma": 16383, "lte": 262143, "nr": 3279165}

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


@dataclass(frozen=True, slots=True)
class EntryNames:
    """The JSON member names of the entries, which differ between the submit APIs."""

    mac: str  # WiFi and Bluetooth
    signal: str
    wifi_radio: str
    cell_radio: str
    mcc: str
    mnc: str
    lac: str
    cid: str
    psc: str
    psc_alias: str
    ta: str


def count(dropped: dict[str, int], reason: str) -> None:
    dropped[reason] = dropped.get(reason, 0) + 1


def _not_a_list(value: object, reason: str, dropped: dict[str, int]) -> bool:
    if type(value) is list:
        return False
    if value is not None:
        count(dropped, reason)
    return True


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


def wifi_frequency(channel: int) -> int | None:
    """Ichnaea's frequency for a bare channel number (2.4/5 GHz read; 4.9 GHz for 186..199).

    A bare channel below 200 is ambiguous with the 6 GHz band and is read as 2.4/5 GHz like
    Ichnaea did; channels 200..233 exist only in the 6 GHz band.
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


def _wifi_frequency_in_range(value: object) -> int | None:
    frequency = int_in(value, 2400, 71000)
    if frequency is None or 7125 < frequency < 57000:
        return None
    return frequency


def _wifi_radio(value: object) -> str | None:
    """The 802.11 standard ("802.11ax"); free text otherwise is not kept."""
    if type(value) is not str:
        return None
    text = value.strip().lower()
    return text if text.startswith("802.11") and 7 <= len(text) <= 9 else None


def parse_wifis(
    entries: object, names: EntryNames, macs: MacCache, dropped: dict[str, int]
) -> list[WifiAccessPoint]:
    if _not_a_list(entries, "wifi.invalid", dropped):
        return []
    assert type(entries) is list
    kept: dict[str, WifiAccessPoint] = {}
    mac_name, signal_name, radio_name = names.mac, names.signal, names.wifi_radio
    for entry in entries:
        if type(entry) is not dict:
            count(dropped, "wifi.invalid")
            continue
        raw = entry.get(mac_name)
        if type(raw) is not str:  # missing, null, or a number (a 400 in Ichnaea: case 18)
            count(dropped, "wifi.invalid_mac")
            continue
        normal = macs.get(raw)
        if normal is None:
            normal = macs[raw] = normalize_mac(raw)
        mac, why = normal
        if mac is None:
            count(dropped, "wifi." + str(why))
            continue
        ssid = entry.get("ssid")
        if type(ssid) is str:
            if not ssid.strip("\x00"):  # hidden network: empty or NUL-only SSID
                count(dropped, "wifi.hidden")
                continue
            lowered = ssid.lower()
            if lowered.endswith("_nomap") or "_optout" in lowered:  # Google / Microsoft opt-out
                count(dropped, "wifi.nomap")
                continue
        channel = int_in(entry.get("channel"), 1, 233)
        frequency = _wifi_frequency_in_range(entry.get("frequency"))
        if channel is None:
            if frequency is not None:
                channel = wifi_channel(frequency)
        elif frequency is None:
            frequency = wifi_frequency(channel)
        radio = entry.get(radio_name)
        wifi = WifiAccessPoint(
            macAddress=mac,
            age=int_in(entry.get("age"), -MAX_AGE, MAX_AGE),
            channel=channel,
            frequency=frequency,
            radioType=None if radio is None else _wifi_radio(radio),
            signalStrength=int_in(entry.get(signal_name), -100, -10),
            signalToNoiseRatio=int_in(entry.get("signalToNoiseRatio"), 1, 100),
        )  # the SSID is never kept
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
    entries: object, names: EntryNames, macs: MacCache, dropped: dict[str, int]
) -> list[BlueBeacon]:
    if _not_a_list(entries, "blue.invalid", dropped):
        return []
    assert type(entries) is list
    kept: dict[str, BlueBeacon] = {}
    mac_name, signal_name = names.mac, names.signal
    for entry in entries:
        if type(entry) is not dict:
            count(dropped, "blue.invalid")
            continue
        raw = entry.get(mac_name)
        if type(raw) is not str:
            count(dropped, "blue.invalid_mac")
            continue
        normal = macs.get(raw)
        if normal is None:
            normal = macs[raw] = normalize_mac(raw)
        mac, why = normal
        if mac is None:
            count(dropped, "blue." + str(why))
            continue
        name = entry.get("name")
        blue = BlueBeacon(
            macAddress=mac,
            age=int_in(entry.get("age"), -MAX_AGE, MAX_AGE),
            name=name if type(name) is str and name else None,
            signalStrength=int_in(entry.get(signal_name), -127, 0),
        )
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


def radio_name(value: object) -> str | None:
    """Normalised radio type, or ``None`` for cdma, unknown values and non-strings."""
    if type(value) is not str:
        return None
    lowered = value.strip().lower()
    return _RADIOS.get(lowered) or _RADIOS_EXTRA.get(lowered)


def parse_cells(
    entries: object, names: EntryNames, default_radio: object, dropped: dict[str, int]
) -> list[CellTower]:
    if _not_a_list(entries, "cell.invalid", dropped):
        return []
    assert type(entries) is list
    kept: dict[tuple[str, int, int, int, int], CellTower] = {}
    for entry in entries:
        if type(entry) is not dict:
            count(dropped, "cell.invalid")
            continue
        try:
            cell = _cell(entry, names, default_radio, dropped)
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


def _cell(
    entry: dict[str, object], names: EntryNames, default_radio: object, dropped: dict[str, int]
) -> CellTower | None:
    nr_cell_id = entry.get("newRadioCellId")  # Google's field for the NR cell identity
    raw_radio = entry.get(names.cell_radio)
    if raw_radio is None:
        raw_radio = default_radio if default_radio is not None or nr_cell_id is None else "nr"
    radio = radio_name(raw_radio)
    if radio is None:
        count(dropped, "cell.radio")
        return None
    mcc = as_code(entry.get(names.mcc))
    if mcc is None:  # NeoStumbler's string copy, which keeps leading zeros
        mcc = as_code(entry.get("mobileCountryCodeStr"))
    mnc = as_code(entry.get(names.mnc))
    if mnc is None:
        mnc = as_code(entry.get("mobileNetworkCodeStr"))
    lac = as_code(entry.get(names.lac))
    cid = as_code(nr_cell_id) if radio == "nr" and nr_cell_id is not None else None
    if cid is None:
        cid = as_code(entry.get(names.cid))

    # "Unknown" sentinels become absent (see _UNKNOWN_* above).
    if mcc in _UNKNOWN_MCC:
        mcc = None
    if mnc in _UNKNOWN_MNC:
        mnc = None
    if lac in _UNKNOWN_LAC[radio]:
        lac = None
    if cid in _UNKNOWN_CID[radio]:
        cid = None
    elif radio == "gsm" and cid is not None and cid > 65535:  # UMTS cell reported as GSM (Ichnaea)
        radio = "wcdma"
    if mcc is None or mnc is None or lac is None or cid is None:  # e.g. PSC-only neighbours
        count(dropped, "cell.incomplete")
        return None
    if not (
        1 <= mcc <= 999
        and 0 <= mnc <= 999
        and 1 <= lac <= _LAC_MAX[radio]
        and 1 <= cid <= _CID_MAX[radio]
    ):
        count(dropped, "cell.out_of_range")
        return None

    psc = entry.get(names.psc)
    if psc is None:
        psc = entry.get(names.psc_alias)
    serving = entry.get("serving")
    if type(serving) is bool:
        serving = int(serving)
    return CellTower(
        radioType=radio,
        mobileCountryCode=mcc,
        mobileNetworkCode=mnc,
        locationAreaCode=lac,
        cellId=cid,
        age=int_in(entry.get("age"), -MAX_AGE, MAX_AGE),
        asu=int_in(entry.get("asu"), -5, 97),  # 99 / 255 mean "unknown" and fall outside
        primaryScramblingCode=int_in(psc, 0, _PSC_MAX[radio]),
        serving=int_in(serving, 0, 1),
        signalStrength=int_in(entry.get(names.signal), -156, -25),  # NR SS-RSRP floor -156
        timingAdvance=int_in(entry.get(names.ta), 0, _TA_MAX[radio]),
        arfcn=int_in(entry.get("arfcn"), 0, _ARFCN_MAX[radio]),
    )
