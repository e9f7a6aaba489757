"""Generated unified-view rows with known properties: for the demo, the tests and the
benchmarks. Deterministic for a seed.

Clients sit at fixed places inside a bounding box, each with one ISP; each test is a download
and an upload a few seconds apart, with speeds drawn from a log-normal distribution around the
ISP's typical figures, as real NDT data looks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["UK_ISPS", "Isp", "unified_rows"]


@dataclass(frozen=True)
class Isp:
    asn: int
    name: str
    down_mbps: float  # median download
    up_mbps: float
    share: float  # of clients


UK_ISPS: tuple[Isp, ...] = (
    Isp(2856, "British Telecommunications PLC", 60.0, 15.0, 0.35),
    Isp(5089, "Virgin Media Limited", 180.0, 20.0, 0.3),
    Isp(5607, "Sky UK Limited", 55.0, 12.0, 0.2),
    Isp(13285, "TalkTalk Communications Limited", 35.0, 8.0, 0.15),
)


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") + " UTC"


def unified_rows(
    tests: int,
    *,
    bbox: tuple[float, float, float, float],
    start: datetime,
    days: int,
    seed: int = 1,
    isps: Sequence[Isp] = UK_ISPS,
    clients: int = 0,
    country: str = "GB",
    prefix: str = "ndt-synth",
) -> Iterator[dict[str, Any]]:
    """``tests`` download+upload pairs (2 × ``tests`` rows) between ``start`` and
    ``start + days``; ``clients`` distinct clients (default: one per 4 tests)."""
    rng = random.Random(seed)
    west, south, east, north = bbox
    weights = [i.share for i in isps]
    population = []
    for c in range(clients or max(1, tests // 4)):
        isp = rng.choices(isps, weights)[0]
        population.append(
            (
                _ip(seed, c),
                rng.uniform(south, north),
                rng.uniform(west, east),
                isp,
            )
        )
    span = days * 86400.0
    for i in range(tests):
        ip, lat, lon, isp = population[rng.randrange(len(population))]
        moment = start.astimezone(UTC) + timedelta(seconds=rng.uniform(0, span))
        rtt = rng.lognormvariate(math.log(15.0), 0.5)
        for direction, median in (("download", isp.down_mbps), ("upload", isp.up_mbps)):
            uuid = f"{prefix}_{seed}_{2 * i + (direction == 'upload'):016X}"
            mbps = rng.lognormvariate(math.log(median), 0.8)
            yield {
                "id": uuid,
                "date": moment.strftime("%Y-%m-%d"),
                "direction": direction,
                "a": {
                    "UUID": uuid,
                    "TestTime": _time(moment),
                    "CongestionControl": "bbr",
                    "MeanThroughputMbps": round(mbps, 4),
                    "MinRTT": round(rtt, 3),
                    "LossRate": round(rng.uniform(0, 0.05), 5) if direction == "download" else 0,
                },
                "client": {
                    "IP": ip,
                    "Geo": {
                        "CountryCode": country,
                        "Latitude": round(lat, 5),
                        "Longitude": round(lon, 5),
                        "AccuracyRadiusKm": 5,
                    },
                    "Network": {"ASNumber": isp.asn, "ASName": isp.name},
                },
            }
            moment += timedelta(seconds=11)


def _ip(seed: int, client: int) -> str:
    """A benchmarking- or documentation-range address per client (never a subscriber's)."""
    if client < 1 << 17:
        return f"198.{18 + (client >> 16)}.{(client >> 8) & 255}.{client & 255}"
    return f"2001:db8:{seed & 0xFFFF:x}::{client >> 16:x}:{client & 0xFFFF:x}"
