"""IP address → position, from a MaxMind City database (GeoIP2 or GeoLite2).

Look-ups read the raw record dicts of the ``maxminddb`` reader (MODE_AUTO: the C extension
when installed, memory-mapped, safe to share between threads), with no model objects on the
hot path. A record becomes a :class:`GeoIPResult` by Ichnaea's rules:

* lat, lon and a country code are required; the code is turned into its GENC spelling
  (AX→FI, PS→XW, SJ→XR, UM→US) and named from the region table;
* accuracy starts at the region's maximum radius (5,000 km when the region is unknown), then
  is capped by MaxMind's ``accuracy_radius`` (km), by the largest subdivision of the country
  when the record names one, and by the city's radius when it names a city;
* score is 0.9 for a country-only answer, else a per-country confidence in MaxMind's city
  answers (0.3 where we know nothing better).

Addresses that can never be in the database (private, loopback, link-local, multicast,
reserved, …) are answered with None without a look-up, and so are strings that are no
address at all. A file that is missing or unreadable gives a service that answers None and
reports itself down in the heartbeat; nothing here raises on bad input.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import maxminddb

from netatlas.geo.regions import genc_code, get_regions, region_name
from netatlas.settings import Settings

__all__ = [
    "CITY_RADII",
    "CITY_RADIUS",
    "CITY_SCORE",
    "CITY_SCORES",
    "COUNTRY_SCORE",
    "REGION_RADIUS",
    "SUBDIVISION_RADII",
    "SUBDIVISION_RADIUS",
    "GeoIP",
    "GeoIPResult",
    "MaxMindGeoIP",
    "NoGeoIP",
    "geoip_from_settings",
    "lookup_address",
    "result_from_record",
]

log = logging.getLogger(__name__)

#: Accuracy when the region's own size is unknown (metres).
REGION_RADIUS = 5_000_000.0
#: Cap when the record names a subdivision of a country missing from SUBDIVISION_RADII.
SUBDIVISION_RADIUS = 400_000.0
#: Cap when the record names a city missing from CITY_RADII.
CITY_RADIUS = 25_000.0
#: Score of an answer that only knows the country.
COUNTRY_SCORE = 0.9
#: Score of a city answer in a country missing from CITY_SCORES.
CITY_SCORE = 0.3
#: Records decoded to check a database when it is opened and at each heartbeat.
CHECK_RECORDS = 64

#: Radius in metres of a circle round the centroid of each country's largest first-level
#: subdivision (state, province, oblast…), for countries where that is well above 400 km.
#: Rough figures rounded up: too large only loosens the cap, too small would overstate
#: the precision.
SUBDIVISION_RADII: Mapping[str, float] = {
    "AR": 700_000.0,
    "AU": 1_200_000.0,
    "BR": 1_000_000.0,
    "CA": 1_400_000.0,
    "CD": 600_000.0,
    "CL": 500_000.0,
    "CN": 1_000_000.0,
    "DZ": 900_000.0,
    "ID": 700_000.0,
    "IN": 600_000.0,
    "KZ": 600_000.0,
    "LY": 800_000.0,
    "ML": 700_000.0,
    "MN": 500_000.0,
    "MX": 600_000.0,
    "NE": 700_000.0,
    "PE": 500_000.0,
    "RU": 1_200_000.0,
    "SA": 900_000.0,
    "SD": 600_000.0,
    "TD": 700_000.0,
    "US": 1_200_000.0,
}

#: Radius in metres of the built-up area of big cities, keyed by (GENC country code,
#: MaxMind's English city name). Names, unlike geoname ids, can be checked by reading; a
#: country code keeps London, GB apart from London, CA. Any other city gets CITY_RADIUS.
CITY_RADII: Mapping[tuple[str, str], float] = {
    ("AR", "Buenos Aires"): 40_000.0,
    ("AU", "Sydney"): 50_000.0,
    ("BD", "Dhaka"): 30_000.0,
    ("BR", "Rio de Janeiro"): 40_000.0,
    ("BR", "São Paulo"): 50_000.0,
    ("CA", "Toronto"): 40_000.0,
    ("CN", "Beijing"): 55_000.0,
    ("CN", "Guangzhou"): 50_000.0,
    ("CN", "Shanghai"): 60_000.0,
    ("CN", "Shenzhen"): 40_000.0,
    ("DE", "Berlin"): 30_000.0,
    ("EG", "Cairo"): 40_000.0,
    ("ES", "Madrid"): 30_000.0,
    ("FR", "Paris"): 40_000.0,
    ("GB", "London"): 40_000.0,
    ("ID", "Jakarta"): 40_000.0,
    ("IN", "Bengaluru"): 30_000.0,
    ("IN", "Delhi"): 35_000.0,
    ("IN", "Kolkata"): 30_000.0,
    ("IN", "Mumbai"): 35_000.0,
    ("IR", "Tehran"): 35_000.0,
    ("JP", "Osaka"): 30_000.0,
    ("JP", "Tokyo"): 45_000.0,
    ("KR", "Seoul"): 35_000.0,
    ("MX", "Mexico City"): 40_000.0,
    ("NG", "Lagos"): 40_000.0,
    ("PE", "Lima"): 35_000.0,
    ("PH", "Manila"): 30_000.0,
    ("PK", "Karachi"): 35_000.0,
    ("RU", "Moscow"): 45_000.0,
    ("TH", "Bangkok"): 40_000.0,
    ("TR", "Istanbul"): 50_000.0,
    ("US", "Chicago"): 45_000.0,
    ("US", "Houston"): 50_000.0,
    ("US", "Los Angeles"): 60_000.0,
    ("US", "New York"): 45_000.0,
}

#: Confidence in MaxMind's city-level answers per country (our judgement of how often the
#: city is right: high where fixed broadband dominates and registries are detailed).
CITY_SCORES: Mapping[str, float] = {
    "AT": 0.7,
    "AU": 0.7,
    "BE": 0.7,
    "CA": 0.7,
    "CH": 0.7,
    "CZ": 0.5,
    "DE": 0.8,
    "DK": 0.7,
    "ES": 0.6,
    "FI": 0.7,
    "FR": 0.7,
    "GB": 0.8,
    "IE": 0.6,
    "IT": 0.6,
    "JP": 0.7,
    "KR": 0.6,
    "NL": 0.8,
    "NO": 0.7,
    "NZ": 0.6,
    "PL": 0.5,
    "PT": 0.5,
    "SE": 0.7,
    "US": 0.8,
}


@dataclass(frozen=True, slots=True)
class GeoIPResult:
    """One GeoIP answer. ``accuracy`` and ``region_radius`` are metres."""

    lat: float
    lon: float
    accuracy: float
    score: float
    region: str  # GENC code, e.g. "GB"
    region_name: str  # e.g. "United Kingdom"
    city: bool  # the record named a city (else it only knew the country)
    region_radius: float  # the whole region's radius: the accuracy for region answers
    source: str = "geoip"
    fallback: str | None = None  # the locate layer sets "ipf" when network data was sent


class GeoIP(Protocol):
    def lookup(self, ip: str) -> GeoIPResult | None:
        """The position of a public IPv4/IPv6 address, or None. Never raises."""

    def heartbeat(self) -> dict[str, Any]:
        """``{"up", "time" (ms), "age_in_days", "version"}`` for /__heartbeat__."""

    def close(self) -> None:
        """Release the database file."""


def lookup_address(ip: str) -> str | None:
    """The canonical text of ``ip`` if it could be in a GeoIP database, else None.

    IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``) become plain IPv4. Private, loopback,
    link-local, multicast, reserved, unspecified and documentation ranges give None.
    """
    try:
        addr = ipaddress.ip_address(ip.strip())
    except (ValueError, AttributeError):
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        elif addr.scope_id:
            return None  # scoped addresses are link-local by nature
    if addr.is_multicast or not addr.is_global:
        return None
    return str(addr)


def _default_max_radius(code: str) -> float | None:
    """The region's radius from the region table (loaded on first use, about 0.5 s)."""
    try:
        return get_regions().max_radius(code)
    except KeyError:
        return None


def _name(code: str, record_name: str | None) -> str:
    try:
        return region_name(code)
    except KeyError:
        return record_name or code


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _english(part: object) -> str | None:
    if not isinstance(part, Mapping):
        return None
    names = part.get("names")
    if isinstance(names, Mapping):
        name = names.get("en")
        if isinstance(name, str) and name:
            return name
    return None


def result_from_record(
    record: Mapping[str, Any],
    max_radius: Callable[[str], float | None] = _default_max_radius,
) -> GeoIPResult | None:
    """Turn a raw MaxMind City record into a result; None without lat, lon and country."""
    location = record.get("location")
    country = record.get("country")
    if not isinstance(location, Mapping) or not isinstance(country, Mapping):
        return None
    lat = _float(location.get("latitude"))
    lon = _float(location.get("longitude"))
    iso = country.get("iso_code")
    if lat is None or lon is None or not isinstance(iso, str) or len(iso) != 2:
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    code = genc_code(iso)

    region_radius = max_radius(code) or REGION_RADIUS
    radius = region_radius
    accuracy_km = _float(location.get("accuracy_radius"))
    if accuracy_km:
        radius = min(radius, accuracy_km * 1000.0)
    if record.get("subdivisions"):
        radius = min(radius, SUBDIVISION_RADII.get(code, SUBDIVISION_RADIUS))

    city_record = record.get("city")
    city_name = _english(city_record)
    has_city = city_name is not None or (
        isinstance(city_record, Mapping) and bool(city_record.get("geoname_id"))
    )
    if has_city:
        city_radius = CITY_RADIUS
        if city_name is not None:
            city_radius = CITY_RADII.get((code, city_name), CITY_RADIUS)
        radius = min(radius, city_radius)
        score = CITY_SCORES.get(code, CITY_SCORE)
    else:
        score = COUNTRY_SCORE

    return GeoIPResult(
        lat=lat,
        lon=lon,
        accuracy=radius,
        score=score,
        region=code,
        region_name=_name(code, _english(country)),
        city=has_city,
        region_radius=region_radius,
    )


def _down() -> dict[str, Any]:
    return {"up": False, "time": 0, "age_in_days": -1, "version": None}


class NoGeoIP:
    """No database configured: every look-up answers None."""

    def lookup(self, ip: str) -> GeoIPResult | None:
        return None

    def heartbeat(self) -> dict[str, Any]:
        return _down()

    def close(self) -> None:
        pass


class MaxMindGeoIP:
    """A MaxMind City database, opened once and shared by all threads.

    The file is checked when opened by decoding its first records, so that a database with
    a corrupt data section (which ``open_database`` alone accepts) is reported down at once
    instead of failing on every look-up.
    """

    def __init__(
        self,
        path: str,
        *,
        max_radius: Callable[[str], float | None] = _default_max_radius,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._max_radius = max_radius
        self._clock = clock
        self._reader: Any = None
        self._build_epoch = 0
        self.error: str | None = None
        try:
            reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("GeoIP database %s not usable: %s", path, self.error)
            return
        try:
            self._check(reader)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("GeoIP database %s is corrupt: %s", path, self.error)
            reader.close()
            return
        self._reader = reader
        self._build_epoch = int(reader.metadata().build_epoch)

    @staticmethod
    def _check(reader: Any) -> None:
        # Decodes the first records in tree order (about 1 ms); a corrupt data section
        # raises. One record is not enough: the first is often a bare city name, while
        # corruption tends to sit in the location doubles of full records.
        for _ in itertools.islice(reader, CHECK_RECORDS):
            pass

    @property
    def up(self) -> bool:
        return self._reader is not None

    def lookup(self, ip: str) -> GeoIPResult | None:
        reader = self._reader
        if reader is None:
            return None
        address = lookup_address(ip)
        if address is None:
            return None
        try:
            record = reader.get(address)
        except (ValueError, OSError, maxminddb.InvalidDatabaseError) as exc:
            log.warning("GeoIP look-up of %s failed: %s", address, exc)
            return None
        if not isinstance(record, Mapping):
            return None
        return result_from_record(record, self._max_radius)

    def heartbeat(self) -> dict[str, Any]:
        reader = self._reader
        if reader is None:
            return _down()
        start = time.perf_counter()
        try:
            self._check(reader)
        except (ValueError, OSError, maxminddb.InvalidDatabaseError):
            return _down()
        elapsed = int((time.perf_counter() - start) * 1000)
        age = max(0, int((self._clock() - self._build_epoch) // 86400))
        built = datetime.fromtimestamp(self._build_epoch, UTC)
        return {"up": True, "time": elapsed, "age_in_days": age, "version": built.isoformat()}

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()


def geoip_from_settings(settings: Settings) -> GeoIP:
    """MaxMind when ``NETATLAS_GEOIP_CITY_PATH`` is set, else the always-None service."""
    if settings.geoip_city_path:
        return MaxMindGeoIP(settings.geoip_city_path)
    return NoGeoIP()
