"""The files of a pack, row by row, as the clients that load them parse them.

* ``cells.csv.gz`` - microG's on-device cell database: header ``mcc,mnc,type,lac,cid,psc,lat,
  lon,alt``; ``type`` is the radio as microG numbers it (CDMA 0, GSM 1, WCDMA 2, LTE 3,
  TD-SCDMA 4, NR 5); ``psc`` the PSC/PCI or empty; positions with 6 decimals (about 0.1 m);
  ``alt`` empty (stations carry no altitude). Lines end in LF.
* ``wifi.csv.gz`` - header ``mac,lat,lon,alt``; the MAC as 12 lowercase hex digits.
* ``mls-cells-MCC.csv.gz`` - the MLS / OpenCellID cell CSV of one MCC (Local NLP Backend, the
  lacells tools), written with the public cell export's own row format
  (:func:`netatlas.location.cells.csvfile.format_row`).

All gzip (no file name or time in the gzip header, so equal content gives equal bytes), no
index column, no quoting (no field can hold a comma).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import IO, Final

from netatlas.location.cells.csvfile import HEADER as MLS_HEADER
from netatlas.location.cells.csvfile import CellRow, format_row
from netatlas.location.packs.rows import PackCell, PackWifi

__all__ = [
    "CELLS_HEADER",
    "MICROG_TYPE",
    "WIFI_HEADER",
    "PackWriter",
    "cell_line",
    "mls_row",
    "wifi_line",
]

CELLS_HEADER: Final = "mcc,mnc,type,lac,cid,psc,lat,lon,alt"
WIFI_HEADER: Final = "mac,lat,lon,alt"
# microG's radio numbers; NetAtlas keeps no CDMA or TD-SCDMA cells (0 and 4 never appear).
MICROG_TYPE: Final = {"cdma": 0, "gsm": 1, "wcdma": 2, "lte": 3, "tdscdma": 4, "nr": 5}
_FLUSH: Final = 8_000  # lines buffered before a write to the compressor


def cell_line(c: PackCell) -> str:
    psc = "" if c.psc is None else str(c.psc)
    return (
        f"{c.mcc},{c.mnc},{MICROG_TYPE[c.radio]},{c.lac},{c.cid},{psc},{c.lat:.6f},{c.lon:.6f},\n"
    )


def wifi_line(w: PackWifi) -> str:
    return f"{w.mac.hex()},{w.lat:.6f},{w.lon:.6f},\n"


def mls_row(c: PackCell) -> str:
    """The MLS CSV line of a cell (CRLF, as the public exports)."""
    row = CellRow(
        c.radio, c.mcc, c.mnc, c.lac, c.cid, c.psc, c.lon, c.lat, c.radius, c.samples,
        c.created or c.modified, c.modified,
    )  # fmt: skip
    return format_row(row)


class _Hashing:
    """A binary file that hashes and counts what goes through it (the compressed bytes)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


class PackWriter:
    """One gzip CSV file of a pack: a header, buffered lines, its size and sha256 at the end."""

    def __init__(self, path: Path, header: str, level: int, newline: str = "\n") -> None:
        self.path = path
        self.rows = 0
        self._raw = path.open("wb")
        self._hashing = _Hashing(self._raw)
        self._gz = gzip.GzipFile(
            filename="", fileobj=self._hashing, mode="wb", compresslevel=level, mtime=0
        )
        self._gz.write((header + newline).encode())
        # Lines waiting for the compressor: callers append to it and call :meth:`spill`
        # now and then (a method call per line costs more than the line's formatting).
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.spill()

    def spill(self, at: int = _FLUSH) -> None:
        """Compress the waiting lines if there are at least ``at``."""
        lines = self.lines
        if len(lines) >= at:
            self.rows += len(lines)
            self._gz.write("".join(lines).encode())
            lines.clear()

    def close(self) -> tuple[int, str]:
        """Finish the file; returns (size in bytes, sha256 hex)."""
        self.spill(0)
        self._gz.close()
        self._raw.close()
        return self._hashing.size, self._hashing.sha256.hexdigest()

    def abort(self) -> None:
        self._gz.close()
        self._raw.close()


def mls_writer(path: Path, level: int) -> PackWriter:
    return PackWriter(path, MLS_HEADER, level, newline="\r\n")
