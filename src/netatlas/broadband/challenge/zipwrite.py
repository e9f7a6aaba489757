"""A zip written from members deflated beforehand, so that several members can be deflated at
once (by threads: zlib lets go of the GIL) although a zip holds them one after another.

:class:`Deflated` deflates a member's bytes into a file of its own as they come, keeping its
CRC and sizes; :class:`ZipOut` then writes the members' headers and copies their deflated
bytes. Sizes and offsets of 4 GiB or more are written in the ZIP64 form (the standard
``zipfile`` module, unzip and the archive programs of the common systems read it).
"""

from __future__ import annotations

import shutil
import struct
import time
import zlib
from pathlib import Path
from typing import IO

__all__ = ["Deflated", "ZipOut"]

_MARK = 0xFFFFFFFF  # in a field of 4 bytes: "see the ZIP64 field"
_LIMIT = _MARK  # sizes and offsets from this one are written in the ZIP64 form
_BLOCK = 4 << 20
_VERSION = 20  # deflate
_VERSION64 = 45  # ZIP64
_UNIX = 3 << 8  # "made by" a Unix system, so the mode in the external attributes counts
_MODE = 0o100644 << 16  # a regular file, rw-r--r--


class Deflated:
    """One member's bytes, deflated into ``path`` as they are written."""

    def __init__(self, path: Path, level: int) -> None:
        self.path = path
        self.file: IO[bytes] = path.open("wb")
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, -15)  # raw, as a zip holds it
        self.crc = 0
        self.size = 0
        self.compressed = 0

    def write(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        out = self._deflate.compress(data)
        self.compressed += len(out)
        self.file.write(out)

    def close(self) -> None:
        if not self.file.closed:
            out = self._deflate.flush()
            self.compressed += len(out)
            self.file.write(out)
            self.file.close()


class ZipOut:
    """Writes a zip to ``out`` (which need not be seekable), a member at a time."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.offset = 0
        self.central: list[bytes] = []
        now = time.localtime()
        self.time = now.tm_hour << 11 | now.tm_min << 5 | now.tm_sec // 2
        self.date = max(now.tm_year - 1980, 0) << 9 | now.tm_mon << 5 | now.tm_mday

    def _put(self, data: bytes) -> None:
        self.out.write(data)
        self.offset += len(data)

    def add(self, name: str, member: Deflated) -> None:
        """Add a member deflated beforehand (closed first if it is not yet)."""
        member.close()
        raw = name.encode()
        flags = 0 if raw.isascii() else 0x800  # UTF-8 name
        wide = member.size >= _LIMIT or member.compressed >= _LIMIT
        start = self.offset
        local_extra = struct.pack("<HHQQ", 1, 16, member.size, member.compressed) if wide else b""
        sizes = (_MARK, _MARK) if wide else (member.compressed, member.size)
        version = _VERSION64 if wide or start >= _LIMIT else _VERSION
        fields = (version, flags, 8, self.time, self.date, member.crc, *sizes)
        self._put(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, len(raw), len(local_extra)))
        self._put(raw + local_extra)
        with member.path.open("rb") as src:
            shutil.copyfileobj(src, self.out, _BLOCK)
        self.offset += member.compressed
        # The central directory's ZIP64 field holds those of its fields that overflow.
        wide_fields = [member.size, member.compressed] if wide else []
        if start >= _LIMIT:
            wide_fields.append(start)
        extra = b""
        if wide_fields:
            extra = struct.pack(f"<HH{len(wide_fields)}Q", 1, 8 * len(wide_fields), *wide_fields)
        header = struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50, _UNIX | version, *fields, len(raw), len(extra), 0, 0, 0, _MODE,
            _MARK if start >= _LIMIT else start,
        )  # fmt: skip
        self.central.append(header + raw + extra)

    def close(self) -> None:
        """The central directory, and its end (in the ZIP64 form too when it must)."""
        start = self.offset
        for header in self.central:
            self._put(header)
        size, count = self.offset - start, len(self.central)
        if start >= _LIMIT or size >= _LIMIT or count >= 0xFFFF:
            end64 = self.offset
            record = (_UNIX | _VERSION64, _VERSION64, 0, 0, count, count, size, start)
            self._put(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, *record))
            self._put(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
        entries = min(count, 0xFFFF)
        size = _MARK if size >= _LIMIT else size
        start = _MARK if start >= _LIMIT else start
        self._put(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, size, start, 0))
