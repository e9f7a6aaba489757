"""The one table of per-radio cell ranges, and that submit, locate, the observations and the
cell CSV files all apply it (a boundary the table sets holds the same everywhere)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from netatlas.location.cells.csvfile import BadRow, parse_row
from netatlas.location.cells.vector import parse_lines
from netatlas.location.locate import parse_query
from netatlas.location.models import RADIO_CODE
from netatlas.location.radio import (
    GSM,
    LTE,
    NR,
    RADIOS,
    WCDMA,
    cell_radio,
    cell_radio_codes,
)
from netatlas.location.stations.observations import observations_from_report
from netatlas.location.submit.parse import parse_submit
from netatlas.location.submit.report import CellTower, Position, Report
from tests.location.stations.test_observations import FakeRegions, mcc_regions

NOW = 1_700_000_000_000


def test_the_table_holds_ichnaeas_values() -> None:
    assert list(RADIOS) == ["gsm", "wcdma", "lte", "nr"]
    assert [r.lac_max for r in (GSM, WCDMA, LTE)] == [65533, 65533, 65533]
    assert [r.cid_max for r in (GSM, WCDMA, LTE)] == [65535, 2**28 - 1, 2**28 - 1]
    assert [r.psc_max for r in (GSM, WCDMA, LTE)] == [511, 511, 503]
    assert (GSM.signal_min, GSM.signal_max, GSM.asu_min, GSM.asu_max) == (-113, -51, 0, 31)
    assert (WCDMA.signal_min, WCDMA.signal_max, WCDMA.asu_min, WCDMA.asu_max) == (-121, -25, -5, 91)
    assert (LTE.signal_min, LTE.signal_max, LTE.asu_min, LTE.asu_max) == (-140, -43, 0, 97)
    assert (GSM.ta_max, WCDMA.ta_max) == (63, -1)  # WCDMA has no timing advance
    assert (NR.lac_max, NR.cid_max, NR.psc_max) == (0xFFFFFD, 2**36 - 1, 1007)


def test_ranges_are_frozen() -> None:
    with pytest.raises(AttributeError):
        GSM.lac_max = 65535  # type: ignore[misc]
    with pytest.raises(TypeError):
        RADIOS["cdma"] = GSM  # type: ignore[index]


@pytest.mark.parametrize(
    ("radio", "cid", "expected"),
    [
        ("gsm", 65535, "gsm"),
        ("gsm", 65536, "wcdma"),
        ("gsm", None, "gsm"),
        ("lte", 65536, "lte"),
        ("wcdma", 12, "wcdma"),
    ],
)
def test_a_gsm_cell_id_beyond_16_bits_is_wcdma(radio: str, cid: int | None, expected: str) -> None:
    assert cell_radio(radio, cid) == expected
    codes = cell_radio_codes(
        np.array([RADIO_CODE[radio]]), np.array([-1 if cid is None else cid]), 0, 2
    )
    assert codes.tolist() == [RADIO_CODE[expected]]


# --- every reader agrees on the boundaries ----------------------------------------------------


def tower(radio: str, lac: int, cid: int, **extra: int) -> dict[str, Any]:
    key = {"mobileCountryCode": 262, "mobileNetworkCode": 1, "locationAreaCode": lac}
    return {"radioType": radio, **key, "cellId": cid, **extra}


def submitted(cell: dict[str, Any]) -> CellTower | None:
    result = parse_submit(json.dumps({"items": [{"cellTowers": [cell]}]}), "v2", NOW)
    return result.reports[0].cellTowers[0] if result.reports else None


def located(cell: dict[str, Any]) -> CellTower | None:
    cells = parse_query(json.dumps({"cellTowers": [cell]})).cells
    return cells[0] if cells else None


def observed(cell: dict[str, Any]) -> bool:
    pos = Position(latitude=52.52, longitude=13.4)
    report = Report(timestamp=NOW, position=pos, cellTowers=[CellTower(**cell)])
    return len(observations_from_report(report, FakeRegions(), mcc_regions).cells) == 1


def imported(radio: str, lac: int, cid: int, unit: str = "") -> tuple[str, int | None] | None:
    label = {"gsm": "GSM", "wcdma": "UMTS", "lte": "LTE", "nr": "NR"}[radio]
    line = f"{label},262,1,{lac},{cid},{unit},13.4,52.52,100,1,1,1600000000,1700000000,"
    cells, _, _ = parse_lines([line], [2])
    try:
        row = parse_row(line.split(","))
    except BadRow:
        assert len(cells.radio) == 0  # the fast path rejects it too
        return None
    assert cells.psc.tolist() == [-1 if row.psc is None else row.psc]
    return row.radio, row.psc


@pytest.mark.parametrize(
    ("radio", "lac", "kept"),
    [
        ("gsm", 65533, True),
        ("gsm", 65534, False),  # reserved; the CSV reader used to accept it
        ("wcdma", 65534, False),
        ("lte", 65533, True),
        ("lte", 65534, False),
        ("nr", 0xFFFFFD, True),
        ("nr", 0xFFFFFE, False),  # reserved; submit, locate and the CSV reader used to accept it
        ("nr", 0xFFFFFF, False),
    ],
)
def test_lac_and_tac_ceiling_is_the_same_everywhere(radio: str, lac: int, kept: bool) -> None:
    cell = tower(radio, lac, 1234)
    assert (submitted(cell) is not None) == kept
    assert (located(cell) is not None) == kept
    assert observed(cell) == kept
    assert (imported(radio, lac, 1234) is not None) == kept


def test_gsm_cells_beyond_16_bits_are_wcdma_everywhere() -> None:
    cell = tower("gsm", 100, 70000)
    assert (s := submitted(cell)) is not None and s.radioType == "wcdma"
    assert (q := located(cell)) is not None and q.radioType == "wcdma"
    assert imported("gsm", 100, 70000) == ("wcdma", None)


@pytest.mark.parametrize(
    ("radio", "psc", "kept"),
    [
        ("gsm", 511, True),  # the CSV reader used to drop every GSM unit
        ("gsm", 512, False),
        ("wcdma", 511, True),
        ("wcdma", 512, False),  # locate used to keep 0..1007 whatever the radio
        ("lte", 503, True),
        ("lte", 504, False),  # locate used to keep it
        ("nr", 1007, True),
        ("nr", 1008, False),
    ],
)
def test_scrambling_code_ceiling_is_the_same_everywhere(radio: str, psc: int, kept: bool) -> None:
    cell = tower(radio, 100, 1234, primaryScramblingCode=psc)
    expected = psc if kept else None
    assert (s := submitted(cell)) is not None and s.primaryScramblingCode == expected
    assert (q := located(cell)) is not None and q.primaryScramblingCode == expected
    assert imported(radio, 100, 1234, str(psc)) == (radio, expected)


@pytest.mark.parametrize(
    ("radio", "ta", "kept"),
    [
        ("gsm", 63, True),
        ("gsm", 64, False),  # locate used to keep 0..3846 whatever the radio
        ("wcdma", 0, False),  # WCDMA has no timing advance; locate used to keep it
        ("lte", 1282, True),
        ("lte", 1283, False),
        ("nr", 3846, True),
        ("nr", 3847, False),
    ],
)
def test_timing_advance_ceiling_is_the_same_in_submit_and_locate(
    radio: str, ta: int, kept: bool
) -> None:
    cell = tower(radio, 100, 1234, timingAdvance=ta)
    expected = ta if kept else None
    assert (s := submitted(cell)) is not None and s.timingAdvance == expected
    assert (q := located(cell)) is not None and q.timingAdvance == expected
