"""Which stations a dump may publish: stable, fixed, recently seen networks only.

:func:`publishable` starts from the rule locate uses (:func:`~netatlas.location.locate.score.
is_blocked`: no temporarily or long-term blocked station) and is stricter, because a file once
published cannot be taken back:

* never blocked at all (``block_count`` 0, no block dates): a station that was ever blocked had
  moved or travelled (a phone hotspot, bus WiFi) at least once;
* at least :data:`MIN_SAMPLES` observations of its current position, from at least
  :data:`MIN_CONTRIBUTORS` distinct contributors on at least :data:`MIN_DAYS` distinct days
  (the station columns ``contributors`` and ``days``, kept by the station updater; the rule of
  the offline packs), and first seen on one UTC day and seen again on a later one;
* seen in the last :data:`MAX_AGE_DAYS` days.

Networks that asked not to be mapped (``_nomap``, ``_optout``, hidden SSIDs) and locally
administered or multicast MACs never reach the station tables (the submit parser drops them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Connection

from netatlas.location.locate.score import day_of, is_blocked
from netatlas.location.models import SHARDS, blue_shards, wifi_shards
from netatlas.location.stations.rules import PUBLISH_CONTRIBUTORS, PUBLISH_DAYS

__all__ = ["KINDS", "Candidate", "candidates", "publishable"]

MIN_SAMPLES: Final = 2
MIN_CONTRIBUTORS: Final = PUBLISH_CONTRIBUTORS
MIN_DAYS: Final = PUBLISH_DAYS
MAX_AGE_DAYS: Final = 365
KINDS: Final = ("wifi", "blue")


class Candidate(NamedTuple):
    """A publishable station, before coarsening."""

    kind: str
    mac: bytes
    lat: float
    lon: float
    radius: int | None
    samples: int


def publishable(row: Any, today: int) -> bool:
    """May a station row (the station columns) be published on day ``today`` (an ordinal)?"""
    created = day_of(row.created)
    block_last = day_of(row.block_last)
    if is_blocked(today, created, block_last, row.block_count):
        return False
    if row.block_count or block_last is not None or row.block_first is not None:
        return False
    if (row.samples or 0) < MIN_SAMPLES or created is None:
        return False
    if (row.contributors or 0) < MIN_CONTRIBUTORS or (row.days or 0) < MIN_DAYS:
        return False
    seen = max(day for day in (day_of(row.modified), day_of(row.last_seen), created) if day)
    if seen - created < MIN_DAYS - 1:
        return False
    return today - seen <= MAX_AGE_DAYS


def candidates(conn: Connection, today: int) -> Iterator[Candidate]:
    """Every publishable station of both kinds, shard by shard."""
    for kind, tables in (("wifi", wifi_shards), ("blue", blue_shards)):
        for shard in SHARDS:
            t = tables[shard]
            stmt = select(
                t.c.mac, t.c.lat, t.c.lon, t.c.radius, t.c.samples, t.c.created, t.c.modified,
                t.c.last_seen, t.c.block_first, t.c.block_last, t.c.block_count, t.c.contributors,
                t.c.days,
            ).where(t.c.lat.is_not(None), t.c.lon.is_not(None))  # fmt: skip
            for row in conn.execute(stmt):
                if publishable(row, today):
                    yield Candidate(kind, bytes(row.mac), row.lat, row.lon, row.radius, row.samples)
