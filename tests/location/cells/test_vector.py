"""The vector fast path accepts and rejects exactly what parse_row does."""

from __future__ import annotations

import random

import numpy as np
import pytest

from netatlas.location.cells.csvfile import BadRow, parse_row
from netatlas.location.cells.vector import Cells, bbox, parse_lines
from netatlas.location.models import RADIO_CODE
from netatlas.location.stations.rules import corner_radius

LTE = "LTE,262,1,4711,123456789,77,13.405,52.52,1500,12,1,1600000000,1700000000,"
VALUES = {
    0: ["GSM", "UMTS", "LTE", "NR", "lte", " lte", "CDMA", "WIMAX", "", "Nr"],
    1: ["262", "1", "999", "0", "1000", "x", "", "262.0", " 262", "99999999999999999999999"],
    2: ["1", "0", "999", "1000", "-1", "a"],
    3: [
        "1",
        "0",
        "65533",
        "65534",
        "65535",
        "65536",
        "16777213",
        "16777214",
        "16777215",
        "16777216",
        "4711",
        "1e3",
    ],
    4: ["1", "0", "65535", "65536", "268435455", "268435456", "68719476735", "68719476736"],
    5: ["", "0", "77", "503", "504", "511", "900", "1007", "1008", "-1", " 5", "x", "²"],
    6: ["13.405", "0", "-180", "180", "180.1", "nan", "inf", "x", "1e1"],
    7: ["52.52", "0", "-90", "90", "90.5", "-nan", ""],
    8: ["0", "1500", "-1", "2147483647", "2147483648", "", "100.0", "1.5"],
    9: ["0", "12", "-1", "4294967295", "4294967296", ""],
    10: ["1", "0", ""],
    11: ["1600000000", "0", "8589934592", "x", "1.6e9"],
    12: ["1700000000", "1", "-5"],
    13: ["", "0", "-70"],
}


def random_row(rng: random.Random) -> list[str]:
    fields = [rng.choice(VALUES[i][:2]) if rng.random() < 0.7 else rng.choice(VALUES[i])
              for i in range(14)]  # fmt: skip
    if rng.random() < 0.05:
        fields = fields[: rng.randrange(0, 13)]
    elif rng.random() < 0.3:
        fields = fields[:13]
    return fields


def expected(rows: list[list[str]]) -> tuple[list[tuple[object, ...]], list[tuple[int, str]]]:
    good, bad = [], []
    for line, fields in enumerate(rows, 2):
        if not "".join(fields).strip():
            continue
        try:
            r = parse_row(fields)
        except BadRow as error:
            bad.append((line, error.reason))
            continue
        psc = -1 if r.psc is None else r.psc
        good.append((RADIO_CODE[r.radio], r.mcc, r.mnc, r.lac, r.cid, psc,
                     r.lon, r.lat, r.range, r.samples, r.created, r.updated))  # fmt: skip
    return good, bad


def as_tuples(cells: Cells) -> list[tuple[object, ...]]:
    return list(zip(*(column.tolist() for column in cells), strict=True))


@pytest.mark.parametrize("seed", range(20))
def test_vector_path_matches_parse_row(seed: int) -> None:
    rng = random.Random(seed)
    rows = [random_row(rng) for _ in range(400)]
    lines = [",".join(r) for r in rows]
    cells, bad, count = parse_lines(lines, list(range(2, len(rows) + 2)))
    assert count == len(rows) - sum(1 for r in rows if not "".join(r).strip())
    good, bad_expected = expected(rows)
    assert sorted(bad) == sorted(bad_expected)
    assert sorted(as_tuples(cells)) == sorted(good)


def test_clean_blocks_take_the_fast_path_whole() -> None:
    cells, bad, count = parse_lines([LTE] * 3, [2, 3, 4])
    assert (
        bad == []
        and count == 3
        and cells.psc.tolist() == [77] * 3
        and cells.radio.tolist() == [3] * 3
    )


@pytest.mark.parametrize(("lat", "radius"), [(0.0, 1000), (52.5, 1500), (70.0, 30_000), (1.0, 0)])
def test_bbox_keeps_the_range_as_corner_radius(lat: float, radius: int) -> None:
    box = bbox(np.array([lat]), np.array([13.0]), np.array([radius]))
    max_lat, min_lat, max_lon, min_lon = (float(a[0]) for a in box)
    got = corner_radius(lat, 13.0, max_lat, min_lat, max_lon, min_lon)
    assert abs(got - radius) <= max(2, radius * 0.01)
