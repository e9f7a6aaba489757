"""From queued reports to validated, weighted observations (the "internal export" transform).

A :class:`~netatlas.location.submit.report.Report` carries one position and the networks heard
there.
:func:`observations_from_report` checks the position, range-checks every network's fields
(Ichnaea's observation-level validation), makes network ages relative to the GPS fix, keeps the
better of duplicated networks, weighs each observation and drops those weighing nothing. What
survives is pushed to the shard queues (:func:`queue_for`) in chunks encoded by
:func:`encode_chunk` and read back by the station updater with :func:`decode_chunk`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal, TypeAlias, TypeVar, overload

import msgspec

from netatlas.geo.protocols import RegionLookup
from netatlas.location.ids import mac_shard
from netatlas.location.models import SOURCE_CODE
from netatlas.location.radio import MCC_MAX, MCC_MIN, MNC_MAX, MNC_MIN, RADIOS, cell_radio
from netatlas.location.submit.report import Position, Report, report_source

Kind: TypeAlias = Literal["wifi", "blue", "cell"]

_pow = math.pow
_replace = msgspec.structs.replace


# Observations travel in shard-queue chunks and thousands are decoded per updater batch, so
# they are array-like (no field names on the wire) and untracked by the garbage collector.
class WifiObservation(msgspec.Struct, array_like=True, gc=False, frozen=True):
    mac: str  # 12 lowercase hex characters
    lat: float
    lon: float
    accuracy: float | None
    age: int | None  # ms, relative to the GPS fix
    speed: float | None
    signal: int | None
    snr: int | None
    source: int  # SOURCE_CODE of the report's position
    weight: float
    contributor: int = 0  # who submitted it (see submit.intake.contributor_id); 0: unknown


class BlueObservation(msgspec.Struct, array_like=True, gc=False, frozen=True):
    mac: str
    lat: float
    lon: float
    accuracy: float | None
    age: int | None
    speed: float | None
    signal: int | None
    source: int
    weight: float
    contributor: int = 0


class CellObservation(msgspec.Struct, array_like=True, gc=False, frozen=True):
    radio: str  # gsm | wcdma | lte | nr
    mcc: int
    mnc: int
    lac: int
    cid: int
    psc: int | None
    lat: float
    lon: float
    accuracy: float | None
    age: int | None
    speed: float | None
    signal: int | None
    asu: int | None
    ta: int | None
    source: int
    weight: float
    contributor: int = 0


Observation: TypeAlias = WifiObservation | BlueObservation | CellObservation


class ReportObservations(msgspec.Struct):
    """What one report yielded, and why anything was dropped (reason → count)."""

    blues: list[BlueObservation]
    cells: list[CellObservation]
    wifis: list[WifiObservation]
    drops: Counter[str]
    lat: float | None = None  # the report's position when it passed validation (datamap input)
    lon: float | None = None

    @property
    def empty(self) -> bool:
        return not (self.blues or self.cells or self.wifis)


# --- constants (Ichnaea's, see reference/ichnaea.md 1.3, 1.6, 3.1) ----------------------------

MAX_LAT = 85.051  # Web-Mercator bound
MAX_LON = 180.0
MAX_ACCURACY = 1_000_000.0
MAX_SPEED = 300.0
MAX_NETWORK_AGE = 3_600_000  # ms, either way

BLUE_MAX_ACCURACY = 100.0
WIFI_MAX_ACCURACY = 200.0
CELL_MAX_ACCURACY = 1000.0
MAX_OBSERVATION_AGE = 20_000  # ms
MAX_OBSERVATION_SPEED = 50.0  # m/s

_INVALID_MACS = frozenset({"000000000000", "ffffffffffff", "01005e901000"})

GNSS_SOURCES = frozenset({SOURCE_CODE["fixed"], SOURCE_CODE["gnss"], SOURCE_CODE["fused"]})
_GNSS_CODE = SOURCE_CODE["gnss"]

# Per radio: the default signal (dBm) and the offset for the signal weight, so that the radio's
# median signal weighs 1.0. The field ranges are the table in netatlas.location.radio.
#
# A typical NR cell is heard about 5 dB weaker than an LTE one, so its default signal is
# -110 dBm with an offset of +10: like every other radio, the median lands on -100 and weighs 1.0.
_SIGNAL_WEIGHT: dict[str, tuple[int, int]] = {
    "gsm": (-95, -5),
    "wcdma": (-100, 0),
    "lte": (-105, 5),
    "nr": (-110, 10),
}
# Ichnaea keeps a timing advance of 0..63 on observations, whatever the radio's own range.
OBSERVED_TA_MAX = 63


# --- weights ----------------------------------------------------------------------------------


def accuracy_weight(accuracy: float | None, max_accuracy: float) -> float:
    acc = 10.0 if accuracy is None else max(abs(accuracy), 10.0)
    if acc > max_accuracy:
        return 0.0
    return math.sqrt(10.0 / acc)


def age_weight(age: int | None) -> float:
    value = 2000 if age is None else max(abs(age), 2000)
    if value > MAX_OBSERVATION_AGE:
        return 0.0
    return math.sqrt(2000.0 / value)


def speed_weight(speed: float | None) -> float:
    value = 1.0 if speed is None else max(abs(speed), 1.0)
    if value > MAX_OBSERVATION_SPEED:
        return 0.0
    return min(math.sqrt(5.0 / value), 1.0)


def mac_signal_weight(signal: int | None) -> float:
    """WiFi and Bluetooth: ``10 ^ ((signal + 80) / 20)``, 1.0 at -80 dBm (or no signal).

    A factor of ten per 20 dB, i.e. the received field strength: the observations made close
    to the station count most. Ichnaea's ``(10⁴ / (signal - 20)²)²`` separated -50 from -90 dBm
    by a factor of 6 and Bluetooth signals not at all; this separates them by 100. Chosen on
    the tuning worlds of ``bench/worlds.py`` (factors of 10 per 10 dB and per 40 dB were worse:
    too few observations left to average GPS noise, or too much street bias). Capped at -30 dBm.
    """
    s = -80 if signal is None else (signal if signal < -30 else -30)
    return _pow(10.0, (s + 80) * 0.05)


def wifi_signal_weight(signal: int | None) -> float:
    return mac_signal_weight(signal)


def cell_signal_weight(radio: str, signal: int | None) -> float:
    default, offset = _SIGNAL_WEIGHT[radio]
    s = (default if signal is None else signal) + offset
    if s == 0:  # only reachable with out-of-range input; avoid the division by zero
        return 0.0
    return (1e4 / float(s * s)) ** 2


def observation_weight(
    kind: Kind,
    accuracy: float | None,
    age: int | None,
    speed: float | None,
    signal: int | None,
    radio: str = "lte",
) -> float:
    """Ichnaea's observation weight: accuracy * age * speed * signal (0 = unusable).

    The signal factor of WiFi and Bluetooth is :func:`mac_signal_weight`; cells keep Ichnaea's.
    """
    if kind == "wifi":
        acc_w = accuracy_weight(accuracy, WIFI_MAX_ACCURACY)
        sig_w = wifi_signal_weight(signal)
    elif kind == "blue":
        acc_w = accuracy_weight(accuracy, BLUE_MAX_ACCURACY)
        sig_w = mac_signal_weight(signal)
    else:
        acc_w = accuracy_weight(accuracy, CELL_MAX_ACCURACY)
        sig_w = cell_signal_weight(radio, signal)
    return acc_w * age_weight(age) * speed_weight(speed) * sig_w


# --- the transform ----------------------------------------------------------------------------


def _in(value: int | None, low: int, high: int) -> int | None:
    if value is None or value < low or value > high:
        return None
    return value


def _age(value: int | None, pos_age: int | None) -> int | None:
    """Range-check a network age, then make it relative to the GPS fix."""
    if value is None or value < -MAX_NETWORK_AGE or value > MAX_NETWORK_AGE:
        return None
    if pos_age is not None:
        return value - pos_age
    return value


def _age_rank(age: int | None) -> int:
    return -abs(age) if age is not None else -(10**12)


def observations_from_report(
    report: Report,
    regions: RegionLookup,
    mcc_regions: Callable[[int], tuple[str, ...]],
    contributor: int = 0,
) -> ReportObservations:
    """Validate one report and turn its networks into weighted observations.

    ``contributor`` (the submitter's id, 0 when unknown) is carried by every observation.

    Drop reasons are counted in ``drops``: ``report_no_position``, ``report_bad_position``,
    ``report_outside_regions`` (the whole report), and per network ``<kind>_invalid``,
    ``<kind>_duplicate``, ``<kind>_zero_weight``, ``cell_outside_mcc``.
    """
    drops: Counter[str] = Counter()
    out = ReportObservations(blues=[], cells=[], wifis=[], drops=drops)
    pos = report.position
    if pos is None or pos.latitude is None or pos.longitude is None:
        drops["report_no_position"] += 1
        return out
    lat = pos.latitude
    lon = pos.longitude
    # Written so that NaN fails too.
    if not (-MAX_LAT <= lat <= MAX_LAT and -MAX_LON <= lon <= MAX_LON):
        drops["report_bad_position"] += 1
        return out
    if not regions.in_any_region(lat, lon):
        drops["report_outside_regions"] += 1
        return out
    out.lat = lat
    out.lon = lon

    accuracy = pos.accuracy
    if accuracy is not None and not 0.0 <= accuracy <= MAX_ACCURACY:
        accuracy = None
    speed = pos.speed
    if speed is not None and not 0.0 <= speed <= MAX_SPEED:
        speed = None
    pos_age = _in(pos.age, -MAX_NETWORK_AGE, MAX_NETWORK_AGE)
    source = SOURCE_CODE.get(report_source(report), _GNSS_CODE)
    speed_w = speed_weight(speed)

    if report.wifiAccessPoints:
        out.wifis = _wifis(report, lat, lon, accuracy, speed, speed_w, pos_age, source, drops)
    if report.bluetoothBeacons:
        out.blues = _blues(report, lat, lon, accuracy, speed, speed_w, pos_age, source, drops)
    if report.cellTowers:
        out.cells = _cells(
            report, pos, regions, mcc_regions, accuracy, speed, speed_w, pos_age, source, drops
        )
    if contributor:
        out.wifis = [_replace(o, contributor=contributor) for o in out.wifis]
        out.blues = [_replace(o, contributor=contributor) for o in out.blues]
        out.cells = [_replace(o, contributor=contributor) for o in out.cells]
    return out


def _wifis(
    report: Report,
    lat: float,
    lon: float,
    accuracy: float | None,
    speed: float | None,
    speed_w: float,
    pos_age: int | None,
    source: int,
    drops: Counter[str],
) -> list[WifiObservation]:
    pos_w = accuracy_weight(accuracy, WIFI_MAX_ACCURACY) * speed_w
    best: dict[str, tuple[_Rank, WifiObservation]] = {}
    for ap in report.wifiAccessPoints:
        mac = ap.macAddress
        if len(mac) != 12 or mac in _INVALID_MACS:
            drops["wifi_invalid"] += 1
            continue
        signal = _in(ap.signalStrength, -100, -10)
        snr = _in(ap.signalToNoiseRatio, 1, 100)
        age = _age(ap.age, pos_age)
        weight = pos_w * age_weight(age) * wifi_signal_weight(signal) if pos_w else 0.0
        rank = (
            signal if signal is not None else -1000,
            snr if snr is not None else 0,
            _age_rank(age),
        )
        obs = WifiObservation(mac, lat, lon, accuracy, age, speed, signal, snr, source, weight)
        _keep_better(best, mac, rank, obs, "wifi", drops)
    return _weighted(best, "wifi", drops)


def _blues(
    report: Report,
    lat: float,
    lon: float,
    accuracy: float | None,
    speed: float | None,
    speed_w: float,
    pos_age: int | None,
    source: int,
    drops: Counter[str],
) -> list[BlueObservation]:
    pos_w = accuracy_weight(accuracy, BLUE_MAX_ACCURACY) * speed_w
    best: dict[str, tuple[_Rank, BlueObservation]] = {}
    for beacon in report.bluetoothBeacons:
        mac = beacon.macAddress
        if len(mac) != 12 or mac in _INVALID_MACS:
            drops["blue_invalid"] += 1
            continue
        signal = _in(beacon.signalStrength, -127, 0)
        age = _age(beacon.age, pos_age)
        weight = pos_w * age_weight(age) * mac_signal_weight(signal) if pos_w else 0.0
        rank = (signal if signal is not None else -1000, _age_rank(age))
        obs = BlueObservation(mac, lat, lon, accuracy, age, speed, signal, source, weight)
        _keep_better(best, mac, rank, obs, "blue", drops)
    return _weighted(best, "blue", drops)


_CellKey = tuple[str, int, int, int, int]


def _cells(
    report: Report,
    pos: Position,
    regions: RegionLookup,
    mcc_regions: Callable[[int], tuple[str, ...]],
    accuracy: float | None,
    speed: float | None,
    speed_w: float,
    pos_age: int | None,
    source: int,
    drops: Counter[str],
) -> list[CellObservation]:
    lat = pos.latitude
    lon = pos.longitude
    assert lat is not None and lon is not None
    pos_w = accuracy_weight(accuracy, CELL_MAX_ACCURACY) * speed_w
    inside_mcc: dict[int, int] = {}  # mcc → 1 inside, 0 outside, -1 not a real MCC
    best: dict[_CellKey, tuple[_Rank, CellObservation]] = {}
    for tower in report.cellTowers:
        radio = tower.radioType
        mcc = tower.mobileCountryCode
        mnc = tower.mobileNetworkCode
        lac = tower.locationAreaCode
        cid = tower.cellId
        if radio is not None:
            radio = cell_radio(radio, cid)
        ranges = RADIOS.get(radio) if radio is not None else None
        if (
            ranges is None
            or radio is None
            or mcc is None
            or mnc is None
            or lac is None
            or cid is None
            or not MCC_MIN <= mcc <= MCC_MAX
            or not MNC_MIN <= mnc <= MNC_MAX
            or not ranges.has_lac(lac)
            or not ranges.has_cid(cid)
        ):
            drops["cell_invalid"] += 1
            continue
        inside = inside_mcc.get(mcc)
        if inside is None:
            codes = mcc_regions(mcc)
            if not codes:
                inside = -1
            else:
                inside = int(any(regions.in_region(lat, lon, code) for code in codes))
            inside_mcc[mcc] = inside
        if inside <= 0:
            drops["cell_invalid" if inside < 0 else "cell_outside_mcc"] += 1
            continue

        signal = tower.signalStrength
        asu = tower.asu
        if asu is not None and asu < -5 and (signal is None or signal >= 0):
            signal, asu = asu, signal  # Ichnaea compatibility: clients that swapped the two
        signal = _in(signal, ranges.signal_min, ranges.signal_max)
        asu = _in(asu, ranges.asu_min, ranges.asu_max)
        if signal is None and asu is not None:
            if radio == "gsm":
                signal = 2 * asu - 113
            elif radio == "wcdma":
                signal = asu - 116
            else:  # lte and nr
                signal = asu - 140
        ta = _in(tower.timingAdvance, 0, min(ranges.ta_max, OBSERVED_TA_MAX))  # WCDMA: none
        psc = _in(tower.primaryScramblingCode, 0, ranges.psc_max)
        age = _age(tower.age, pos_age)
        if pos_w:
            default, offset = _SIGNAL_WEIGHT[radio]
            s = (default if signal is None else signal) + offset
            sig_w = (1e4 / float(s * s)) ** 2 if s else 0.0
            weight = pos_w * age_weight(age) * sig_w
        else:
            weight = 0.0
        rank = (
            -ta if ta is not None else -1000,
            signal if signal is not None else -1000,
            asu if asu is not None else -1000,
            _age_rank(age),
        )
        obs = CellObservation(
            radio, mcc, mnc, lac, cid, psc, lat, lon, accuracy, age, speed, signal, asu, ta,
            source, weight,
        )  # fmt: skip
        _keep_better(best, (radio, mcc, mnc, lac, cid), rank, obs, "cell", drops)
    return _weighted(best, "cell", drops)


_K = TypeVar("_K")
_O = TypeVar("_O", WifiObservation, BlueObservation, CellObservation)
_Rank: TypeAlias = tuple[int, ...]


def _keep_better(
    best: dict[_K, tuple[_Rank, _O]], key: _K, rank: _Rank, obs: _O, kind: str, drops: Counter[str]
) -> None:
    """Within one report a network heard twice keeps its better entry (the first on a tie)."""
    seen = best.get(key)
    if seen is not None:
        drops[kind + "_duplicate"] += 1
        if not rank > seen[0]:
            return
    best[key] = (rank, obs)


def _weighted(best: dict[_K, tuple[_Rank, _O]], kind: str, drops: Counter[str]) -> list[_O]:
    result = [obs for _, obs in best.values() if obs.weight > 0.0]
    zero = len(best) - len(result)
    if zero:
        drops[kind + "_zero_weight"] += zero
    return result


# --- shard queues and chunk encoding ----------------------------------------------------------


def shard_of(obs: Observation) -> str:
    """The station shard: the 5th MAC hex character for WiFi/BLE, the radio for cells."""
    if isinstance(obs, CellObservation):
        return obs.radio
    return mac_shard(obs.mac)


def queue_for(obs: Observation) -> str:
    """The shard queue an observation is pushed to (Ichnaea's queue names)."""
    if isinstance(obs, WifiObservation):
        return "update_wifi_" + obs.mac[4]
    if isinstance(obs, BlueObservation):
        return "update_blue_" + obs.mac[4]
    return "update_cell_" + obs.radio


def parse_queue(name: str) -> tuple[Kind, str]:
    """``update_wifi_3`` → ``("wifi", "3")``; the inverse of :func:`queue_for`."""
    prefix, sep, shard = name.rpartition("_")
    if sep:
        if prefix == "update_wifi":
            return "wifi", shard
        if prefix == "update_blue":
            return "blue", shard
        if prefix == "update_cell":
            return "cell", shard
    raise ValueError(f"not a station queue: {name!r}")


def group_by_queue(observations: Sequence[Observation]) -> dict[str, list[Observation]]:
    queues: dict[str, list[Observation]] = {}
    for obs in observations:
        name = queue_for(obs)
        group = queues.get(name)
        if group is None:
            queues[name] = [obs]
        else:
            group.append(obs)
    return queues


_encoder = msgspec.msgpack.Encoder()
_wifi_decoder = msgspec.msgpack.Decoder(list[WifiObservation])
_blue_decoder = msgspec.msgpack.Decoder(list[BlueObservation])
_cell_decoder = msgspec.msgpack.Decoder(list[CellObservation])


def encode_chunk(observations: Sequence[Observation]) -> bytes:
    """A msgpack array of observations, each a msgpack array of its fields in declared order."""
    return _encoder.encode(observations)


@overload
def decode_chunk(data: bytes, kind: Literal["wifi"]) -> list[WifiObservation]: ...
@overload
def decode_chunk(data: bytes, kind: Literal["blue"]) -> list[BlueObservation]: ...
@overload
def decode_chunk(data: bytes, kind: Literal["cell"]) -> list[CellObservation]: ...
@overload
def decode_chunk(data: bytes, kind: Kind) -> list[Observation]: ...
def decode_chunk(data: bytes, kind: Kind) -> Sequence[Observation]:
    """Decode a chunk written by :func:`encode_chunk` holding observations of ``kind``."""
    if kind == "wifi":
        return _wifi_decoder.decode(data)
    if kind == "blue":
        return _blue_decoder.decode(data)
    if kind == "cell":
        return _cell_decoder.decode(data)
    raise ValueError(f"unknown observation kind: {kind!r}")
