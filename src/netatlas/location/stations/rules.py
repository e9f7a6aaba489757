"""The station updater's decisions, free of SQL: what a batch of observations does to a station.

Follows Ichnaea's station updater (reference/ichnaea.md section 3): observations of a blocked
station are ignored; otherwise GNSS observations are preferred to query ones, aggregated, checked
for consistency and compared with the stored position, and one transition is applied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Final, NamedTuple

import msgspec

from netatlas.geo.distance import distance
from netatlas.location.models import SOURCE_CODE
from netatlas.location.stations.observations import GNSS_SOURCES, Kind, Observation

# Movement threshold and consistency limit (bbox diagonal) per kind, metres.
MAX_DIST: Final[dict[Kind, float]] = {"blue": 100.0, "wifi": 5_000.0, "cell": 100_000.0}
# A station whose new GNSS observations centre this far from its stored position, and beyond its
# stored radius, has moved (within MAX_DIST) and restarts at the new place; None: never (cells).
MOVE_DIST: Final[dict[Kind, float | None]] = {"blue": None, "wifi": 150.0, "cell": None}
MOVE_MIN_OBSERVATIONS: Final = 2  # a single fix (maybe a GPS outlier) never moves a station
MAX_OLD_WEIGHT: Final = 10_000.0  # an old station's weight counts at most this much in a merge
MAX_OLD_AGE: Final = timedelta(days=365)  # a disagreeing station older than this is replaced
TEMPORARY_BLOCK_DAYS: Final = 2
BLOCK_MONTH_DAYS: Final = 30  # at most one block per 30 days of known life
MAX_SAMPLES: Final = 2**32 - 1
MAX_WEIGHT: Final = 1e9
MAX_BLOCK_COUNT: Final = 255  # Ichnaea's column is a tinyint unsigned
MAX_CONTRIBUTORS: Final = 2  # distinct contributors are counted up to this (packs need two)
MAX_DAYS: Final = 255
# What a station needs before a pack or the dump may publish it: its current position seen by
# this many distinct contributors, on this many distinct days.
PUBLISH_CONTRIBUTORS: Final = 2
PUBLISH_DAYS: Final = 2

GNSS: Final = SOURCE_CODE["gnss"]
QUERY: Final = SOURCE_CODE["query"]

# Transition names (also the keys of ApplyStats.transitions).
NEW: Final = "new"
NEW_BLOCK: Final = "new_block"
CONFIRM: Final = "confirm"
CHANGE: Final = "change"
REPLACE: Final = "replace"
MOVE: Final = "move"
BLOCK: Final = "block"
NOTHING: Final = "nothing"
BLOCKED: Final = "blocked"  # not a transition: the station is blocked, its observations ignored
TRANSITIONS: Final = (NEW, NEW_BLOCK, CONFIRM, CHANGE, REPLACE, MOVE, BLOCK, NOTHING, BLOCKED)


def corner_radius(
    lat: float, lon: float, max_lat: float, min_lat: float, max_lon: float, min_lon: float
) -> int:
    """Metres from a centre to the farthest corner of a bounding box, rounded."""
    # The farther longitude edge is always on the farthest corner (the haversine grows with
    # |dlon| for any pair of latitudes); which latitude edge wins depends on both terms.
    far_lon = max_lon if abs(max_lon - lon) >= abs(lon - min_lon) else min_lon
    if max_lat == min_lat:
        return round(distance(lat, lon, max_lat, far_lon))
    return round(max(distance(lat, lon, max_lat, far_lon), distance(lat, lon, min_lat, far_lon)))


class Station(msgspec.Struct, gc=False):
    """One station row's columns shared by every station table (in table column order)."""

    lat: float | None = None
    lon: float | None = None
    max_lat: float | None = None
    min_lat: float | None = None
    max_lon: float | None = None
    min_lon: float | None = None
    radius: int | None = None
    region: str | None = None
    samples: int | None = None
    source: int | None = None
    weight: float | None = None
    created: datetime | None = None
    modified: datetime | None = None
    last_seen: date | None = None
    block_first: date | None = None
    block_last: date | None = None
    block_count: int | None = None
    contributor: int | None = None
    contributors: int | None = None
    days: int | None = None


STATION_COLUMNS: Final = Station.__struct_fields__


class Aggregate(NamedTuple):
    """A consistent set of new observations, summarised."""

    lat: float
    lon: float
    max_lat: float
    min_lat: float
    max_lon: float
    min_lon: float
    radius: int
    samples: int
    weight: float


class Vouch(NamedTuple):
    """Who vouches for a station's current position (see :func:`restart` and :func:`carry`)."""

    contributor: int | None  # the first contributor's id while it is the only one
    contributors: int  # distinct contributors, up to MAX_CONTRIBUTORS
    days: int  # distinct days with observations, up to MAX_DAYS


NOBODY: Final = Vouch(None, 0, 0)


def _count(
    contributor: int | None, contributors: int, observations: Sequence[Observation]
) -> tuple[int | None, int]:
    for o in observations:
        if contributors >= MAX_CONTRIBUTORS:
            break
        c = o.contributor
        if not c or c == contributor:
            continue  # 0: unknown (older queue items, imports)
        if contributor is None:
            contributor, contributors = c, 1
        else:
            # Two are all that is ever asked for: the pseudonym is not kept past that.
            contributor, contributors = None, MAX_CONTRIBUTORS
    return contributor, contributors


def restart(observations: Sequence[Observation]) -> Vouch:
    """A position that starts with these observations: today is its first day."""
    contributor, contributors = _count(None, 0, observations)
    return Vouch(contributor, contributors, 1)


def carry(station: Station, observations: Sequence[Observation], today: date) -> Vouch:
    """A position these observations refine: new contributors and a new day are added."""
    contributor, contributors = _count(station.contributor, station.contributors or 0, observations)
    days = station.days or 0
    if days == 0 or station.last_seen != today:
        days = min(days + 1, MAX_DAYS)
    return Vouch(contributor, contributors, days)


class Decision(NamedTuple):
    transition: str
    station: Station | None  # the row to write; None when nothing is written
    lookup_region: bool  # the row's region must be looked up from its (new) centre


def is_blocked(station: Station, today: date) -> bool:
    """Temporarily (blocked in the last 2 days) or long-term (≥ 1 block per 30 days of life)."""
    block_last = station.block_last
    if block_last is not None and (today - block_last).days < TEMPORARY_BLOCK_DAYS:
        return True
    count = station.block_count
    created = station.created
    if count and created is not None:
        months = round((today - created.date()).days / BLOCK_MONTH_DAYS)  # Python rounding
        if count >= months:
            return True
    return False


def aggregate(observations: Sequence[Observation], max_dist: float) -> Aggregate | None:
    """Summarise observations, or None when their bounding box is wider than ``max_dist``."""
    if len(observations) == 1:
        o = observations[0]
        return Aggregate(o.lat, o.lon, o.lat, o.lat, o.lon, o.lon, 0, 1, o.weight)
    lats = [o.lat for o in observations]
    lons = [o.lon for o in observations]
    max_lat = max(lats)
    min_lat = min(lats)
    max_lon = max(lons)
    min_lon = min(lons)
    if distance(min_lat, min_lon, max_lat, max_lon) > max_dist:
        return None
    weights = [o.weight for o in observations]
    total = math.fsum(weights)
    if total > 0.0:
        lat = math.fsum(a * w for a, w in zip(lats, weights, strict=True)) / total
        lon = math.fsum(a * w for a, w in zip(lons, weights, strict=True)) / total
    else:
        lat = math.fsum(lats) / len(lats)
        lon = math.fsum(lons) / len(lons)
    radius = corner_radius(lat, lon, max_lat, min_lat, max_lon, min_lon)
    return Aggregate(lat, lon, max_lat, min_lat, max_lon, min_lon, radius, len(lats), total)


def split_sources(observations: Sequence[Observation]) -> tuple[Sequence[Observation], int]:
    """GNSS (gnss, fixed, fused) observations when there are any, else the query ones."""
    for o in observations:
        if o.source != QUERY:
            break
    else:
        return observations, QUERY
    for o in observations:
        if o.source == QUERY:
            return [o for o in observations if o.source != QUERY], GNSS
    return observations, GNSS


def decide(
    station: Station | None,
    observations: Sequence[Observation],
    max_dist: float,
    now: datetime,
    in_region: Callable[[float, float, str], bool],
    move_dist: float | None = None,
) -> Decision:
    """The transition a station makes given its new observations (all of its key).

    ``now`` is a naive UTC datetime; ``in_region`` tells whether a point lies in a region's
    buffered polygon (to keep a moved station's region when it still fits). ``move_dist``
    enables the detection of moves shorter than ``max_dist`` (see :func:`has_moved`).
    """
    today = now.date()
    if station is not None and is_blocked(station, today):
        return Decision(BLOCKED, None, False)
    chosen, source = split_sources(observations)
    agg = aggregate(chosen, max_dist)
    if station is None:
        if agg is None:
            return Decision(NEW_BLOCK, new_block(now), False)
        return Decision(NEW, new_station(agg, source, now, restart(chosen)), True)
    lat = station.lat
    lon = station.lon
    if lat is None or lon is None:
        if agg is None:
            return Decision(NOTHING, None, False)
        return change(station, agg, source, now, in_region, carry(station, chosen, today))
    if agg is None:
        return Decision(BLOCK, block(station, now), False)
    agree = True
    for o in chosen:
        if distance(lat, lon, o.lat, o.lon) > max_dist:
            agree = False
            break
    if agree:
        # Imported stations without a source are trusted like GNSS ones.
        stored_gnss = station.source is None or station.source in GNSS_SOURCES
        if stored_gnss:
            if source == GNSS:
                if move_dist is not None and has_moved(station, agg, move_dist):
                    return Decision(MOVE, replace(station, agg, source, now, restart(chosen)), True)
                return change(station, agg, source, now, in_region, carry(station, chosen, today))
            return confirm(station, today)
        if source == GNSS:
            return Decision(REPLACE, replace(station, agg, source, now, restart(chosen)), True)
        return change(station, agg, source, now, in_region, carry(station, chosen, today))
    modified = station.modified or station.created
    if modified is not None and now - modified > MAX_OLD_AGE:
        return Decision(REPLACE, replace(station, agg, source, now, restart(chosen)), True)
    return Decision(BLOCK, block(station, now), False)


def has_moved(station: Station, agg: Aggregate, move_dist: float) -> bool:
    """Whether new GNSS observations say a station moved, though less than MAX_DIST.

    Ichnaea only notices moves beyond MAX_DIST (5 km for WiFi); a shorter one is merged, and the
    station ends up between its old and new homes, where it was never heard. Here a batch of at
    least MOVE_MIN_OBSERVATIONS observations whose (signal-weighted) centre lies farther than
    both ``move_dist`` and the stored radius from the stored centre, i.e. outside the area where
    the station has ever been heard, restarts the station at the new centre. A single fix,
    possibly a GPS outlier, never does.
    """
    lat = station.lat
    lon = station.lon
    if lat is None or lon is None or agg.samples < MOVE_MIN_OBSERVATIONS:
        return False
    limit = max(move_dist, float(station.radius or 0))
    return distance(lat, lon, agg.lat, agg.lon) > limit


def new_station(agg: Aggregate, source: int, now: datetime, vouch: Vouch = NOBODY) -> Station:
    return Station(
        agg.lat, agg.lon, agg.max_lat, agg.min_lat, agg.max_lon, agg.min_lon, agg.radius,
        None, min(agg.samples, MAX_SAMPLES), source, min(agg.weight, MAX_WEIGHT),
        now, now, now.date(), None, None, 0, *vouch,
    )  # fmt: skip


def new_block(now: datetime) -> Station:
    today = now.date()
    return Station(
        created=now, modified=now, block_first=today, block_last=today, block_count=1,
        contributors=0, days=0,
    )  # fmt: skip


def confirm(station: Station, today: date) -> Decision:
    """Query data agreeing with a GNSS station only marks it as seen today."""
    if station.last_seen == today:
        return Decision(CONFIRM, None, False)
    return Decision(CONFIRM, msgspec.structs.replace(station, last_seen=today), False)


def block(station: Station, now: datetime) -> Station:
    today = now.date()
    return Station(
        region=station.region,
        created=station.created or now,
        modified=now,
        block_first=station.block_first or today,
        block_last=today,
        block_count=min((station.block_count or 0) + 1, MAX_BLOCK_COUNT),
        contributors=0,  # the position is gone; whoever vouched for it vouches for nothing
        days=0,
    )


def replace(
    station: Station, agg: Aggregate, source: int, now: datetime, vouch: Vouch = NOBODY
) -> Station:
    return Station(
        agg.lat, agg.lon, agg.max_lat, agg.min_lat, agg.max_lon, agg.min_lon, agg.radius,
        station.region, min(agg.samples, MAX_SAMPLES), source, min(agg.weight, MAX_WEIGHT),
        station.created or now, now, now.date(),
        station.block_first, station.block_last, station.block_count, *vouch,
    )  # fmt: skip


def change(
    station: Station,
    agg: Aggregate,
    source: int,
    now: datetime,
    in_region: Callable[[float, float, str], bool],
    vouch: Vouch = NOBODY,
) -> Decision:
    """Merge new observations into a station; the old weight counts at most MAX_OLD_WEIGHT."""
    old_lat = station.lat
    old_lon = station.lon
    max_lat = agg.max_lat
    min_lat = agg.min_lat
    max_lon = agg.max_lon
    min_lon = agg.min_lon
    if old_lat is None or old_lon is None:
        lat = agg.lat
        lon = agg.lon
    else:
        # An imported station may carry samples but no weight: its samples stand in.
        old_weight = station.weight if station.weight is not None else float(station.samples or 0)
        if old_weight > MAX_OLD_WEIGHT:
            old_weight = MAX_OLD_WEIGHT
        total = agg.weight + old_weight
        if total > 0.0:
            lat = (agg.lat * agg.weight + old_lat * old_weight) / total
            lon = (agg.lon * agg.weight + old_lon * old_weight) / total
        else:
            lat = (agg.lat + old_lat) * 0.5
            lon = (agg.lon + old_lon) * 0.5
        max_lat = max(max_lat, old_lat, station.max_lat if station.max_lat is not None else old_lat)
        min_lat = min(min_lat, old_lat, station.min_lat if station.min_lat is not None else old_lat)
        max_lon = max(max_lon, old_lon, station.max_lon if station.max_lon is not None else old_lon)
        min_lon = min(min_lon, old_lon, station.min_lon if station.min_lon is not None else old_lon)
    region = station.region
    lookup = region is None or not in_region(lat, lon, region)
    samples = (station.samples or 0) + agg.samples
    weight = (station.weight or 0.0) + agg.weight
    merged = Station(
        lat, lon, max_lat, min_lat, max_lon, min_lon,
        corner_radius(lat, lon, max_lat, min_lat, max_lon, min_lon),
        region,
        samples if samples < MAX_SAMPLES else MAX_SAMPLES,
        source,
        weight if weight < MAX_WEIGHT else MAX_WEIGHT,
        station.created or now, now, now.date(),
        station.block_first, station.block_last, station.block_count, *vouch,
    )  # fmt: skip
    return Decision(CHANGE, merged, lookup)
