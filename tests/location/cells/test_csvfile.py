"""The MLS / OpenCellID cell CSV format: parsing, checking and writing rows."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from netatlas.location.cells.csvfile import (
    HEADER,
    BadRow,
    CellRow,
    format_row,
    open_text,
    parse_row,
    read_rows,
    write_csv,
)

LTE = "LTE,262,1,4711,123456789,77,13.4050000,52.5200000,1500,12,1,1600000000,1700000000,"


def fields(line: str) -> list[str]:
    return line.split(",")


def test_a_good_row() -> None:
    row = parse_row(fields(LTE))
    assert row == CellRow("lte", 262, 1, 4711, 123456789, 77, 13.405, 52.52, 1500, 12,
                          1600000000, 1700000000)  # fmt: skip


def test_format_round_trips() -> None:
    row = parse_row(fields(LTE))
    line = format_row(row)
    assert line.endswith(",\r\n")
    assert parse_row(fields(line.rstrip("\r\n"))) == row


@pytest.mark.parametrize(
    ("line", "radio", "psc"),
    [
        ("GSM,234,15,1234,4711,,-0.1,51.5,100,1,1,1,2,", "gsm", None),
        ("GSM,234,15,1234,4711,300,-0.1,51.5,100,1,1,1,2,", "gsm", 300),  # Ichnaea: 0..511
        ("GSM,234,15,1234,4711,512,-0.1,51.5,100,1,1,1,2,", "gsm", None),
        ("GSM,234,15,1234,70000,,-0.1,51.5,100,1,1,1,2,", "wcdma", None),  # 28-bit: UMTS
        ("UMTS,234,15,1234,70000,511,-0.1,51.5,100,1,1,1,2,", "wcdma", 511),
        ("UMTS,234,15,1234,70000,512,-0.1,51.5,100,1,1,1,2,", "wcdma", None),
        ("NR,262,1,4000000,60000000001,1007,13.4,52.5,100,1,1,1,2,", "nr", 1007),
        ("lte,262,1,4711,5,-1,13.4,52.5,100.0,1,1,1,2", "lte", None),  # no averageSignal
    ],
)
def test_radios_and_units(line: str, radio: str, psc: int | None) -> None:
    row = parse_row(fields(line))
    assert (row.radio, row.psc) == (radio, psc)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("CDMA,310,1,1,1,,1,1,1,1,1,1,1,", "unsupported radio"),
        ("WIMAX,310,1,1,1,,1,1,1,1,1,1,1,", "radio"),
        ("LTE,0,1,1,1,,1,1,1,1,1,1,1,", "mcc"),
        ("LTE,abc,1,1,1,,1,1,1,1,1,1,1,", "mcc"),
        ("LTE,262,1000,1,1,,1,1,1,1,1,1,1,", "mnc"),
        ("LTE,262,1,0,1,,1,1,1,1,1,1,1,", "area"),
        ("LTE,262,1,70000,1,,1,1,1,1,1,1,1,", "area"),
        ("LTE,262,1,65534,1,,1,1,1,1,1,1,1,", "area"),  # reserved (Ichnaea: 1..65533)
        ("NR,262,1,16777214,1,,1,1,1,1,1,1,1,", "area"),  # reserved 0xFFFFFE
        ("LTE,262,1,1,0,,1,1,1,1,1,1,1,", "cell"),
        ("LTE,262,1,1,268435456,,1,1,1,1,1,1,1,", "cell"),
        ("LTE,262,1,1,1,,0,0,1,1,1,1,1,", "position"),
        ("LTE,262,1,1,1,,1,91,1,1,1,1,1,", "position"),
        ("LTE,262,1,1,1,,nan,1,1,1,1,1,1,", "position"),
        ("LTE,262,1,1,1,,x,1,1,1,1,1,1,", "position"),
        ("LTE,262,1,1,1,,1,1,-5,1,1,1,1,", "range"),
        ("LTE,262,1,1,1,,1,1,1.5,1,1,1,1,", "range"),
        ("LTE,262,1,1,1,,1,1,1,-1,1,1,1,", "samples"),
        ("LTE,262,1,1,1,,1,1,1,1,1,0,1,", "time"),
        ("LTE,262,1,1,1,,1,1,1,1,1,x,1,", "time"),
        ("LTE,262,1,1", "columns"),
    ],
)
def test_bad_rows_say_why(line: str, reason: str) -> None:
    with pytest.raises(BadRow) as caught:
        parse_row(fields(line))
    assert caught.value.reason == reason


def test_read_rows_numbers_lines_and_skips_the_header() -> None:
    text = io.StringIO(HEADER + "\r\n" + LTE + "\r\n\r\nLTE,x\r\n" + LTE + "\r\n")
    rows = list(read_rows(text))
    assert [n for n, _ in rows] == [2, 4, 5]
    assert isinstance(rows[1][1], BadRow) and rows[1][1].reason == "columns"


def test_write_csv_is_gzip_with_crlf(tmp_path: Path) -> None:
    row = parse_row(fields(LTE))
    out = io.BytesIO()
    assert write_csv([row, row], out) == 2
    text = gzip.decompress(out.getvalue()).decode()
    assert text.split("\r\n")[0] == HEADER
    assert text.count("\r\n") == 3
    path = tmp_path / "x.csv.gz"
    path.write_bytes(out.getvalue())
    with open_text(path) as reader:
        assert [r for _, r in read_rows(reader)] == [row, row]
    plain = tmp_path / "x.csv"
    plain.write_text(text, newline="")
    with open_text(plain) as reader:
        assert len(list(read_rows(reader))) == 2
