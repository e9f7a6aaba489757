"""Reading M-Lab data files as a stream of ``measurements`` rows (or counted bad rows).

Recognised by name:

* ``.tgz`` / ``.tar.gz`` / ``.tar`` — archives of ndt-server result files, as M-Lab's pusher
  uploads them (``YYYY/MM/DD/ndt7-<dir>-<time>.<uuid>.json.gz``), read member by member;
* ``.json`` / ``.json.gz`` / ``.jsonl`` / ``.ndjson`` (``.gz`` too) — one ndt-server result
  document, or unified-view rows one JSON object a line (BigQuery's newline-delimited JSON
  export: integers may be quoted, timestamps are ``2024-03-01 12:00:00.123 UTC``);
* ``.csv`` (``.gz`` too) — unified-view rows with flattened column names
  (``a.MeanThroughputMbps``, ``a_MeanThroughputMbps`` or just ``MeanThroughputMbps``);
* ``.parquet`` — unified-view rows with nested columns (needs ``netatlas[parquet]``);
* a directory — every such file in it, in name order.
"""

from __future__ import annotations

import csv
import gzip
import io
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import msgspec

from netatlas.broadband.mlab.rows import BadRow, UnifiedRow, direction_hint, result_row, unified_row
from netatlas.geo.asn import AsnLookup
from netatlas.geo.geoip import GeoIP

__all__ = ["FileError", "Item", "convert_row", "read_path"]

Item = dict[str, Any] | BadRow
_decode_row = msgspec.json.Decoder(UnifiedRow)
# BigQuery's JSON export quotes INT64 values: lax decoding accepts them, at half the speed.
_decode_lax = msgspec.json.Decoder(UnifiedRow, strict=False)
_decode_any = msgspec.json.Decoder()
LINES_PER_BLOCK = 5000
_SUFFIXES = (
    ".tgz", ".tar.gz", ".tar", ".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson",
    ".ndjson.gz", ".csv", ".csv.gz", ".parquet",
)  # fmt: skip

_PATHS = (
    "id", "direction", "a.UUID", "a.TestTime", "a.Direction", "a.CongestionControl",
    "a.MeanThroughputMbps", "a.MinRTT", "a.LossRate", "client.IP", "client.Geo.Latitude",
    "client.Geo.Longitude", "client.Geo.AccuracyRadiusKm", "client.Geo.CountryCode",
    "client.Network.ASNumber", "client.Network.ASName",
)  # fmt: skip


class FileError(Exception):
    """A whole file cannot be read (missing, unsupported, corrupt)."""


def _norm(name: str) -> str:
    return name.lower().replace(".", "").replace("_", "")


_COLUMN_PATHS = {_norm(p): p for p in _PATHS} | {
    _norm(p.rsplit(".", 1)[-1]): p for p in _PATHS if "." in p
}


def _open(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def _unified(line: bytes, hint: str | None) -> Item:
    try:
        return unified_row(_decode_lax.decode(line), hint)
    except msgspec.ValidationError:
        return BadRow("wrong field type")
    except msgspec.DecodeError:
        return BadRow("invalid JSON")
    except BadRow as bad:
        return bad


def _unified_block(lines: list[bytes], hint: str | None) -> Iterator[Item]:
    data = b"".join(lines)
    try:
        try:
            rows = _decode_row.decode_lines(data)
        except msgspec.ValidationError:
            rows = _decode_lax.decode_lines(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        for line in lines:  # one bad line: decode them one by one to find it
            if line.strip():
                yield _unified(line, hint)
        return
    for row in rows:
        try:
            yield unified_row(row, hint)
        except BadRow as bad:
            yield bad


def _result(data: bytes, asn: AsnLookup, geoip: GeoIP | None) -> Item:
    try:
        return result_row(_decode_any.decode(data), asn, geoip)
    except msgspec.DecodeError:
        return BadRow("invalid JSON")
    except BadRow as bad:
        return bad


def _json(path: Path, asn: AsnLookup, geoip: GeoIP | None) -> Iterator[Item]:
    hint = direction_hint(path.name)
    with _open(path) as stream:
        first = stream.readline()
        while first and not first.strip():
            first = stream.readline()
        try:
            head = _decode_any.decode(first)
        except msgspec.DecodeError:
            head = None  # a document spread over several lines: one result file
        if head is None or (isinstance(head, dict) and ("Download" in head or "Upload" in head)):
            yield _result(first + stream.read(), asn, geoip)
            return
        block = [first]
        for line in stream:
            block.append(line)
            if len(block) >= LINES_PER_BLOCK:
                yield from _unified_block(block, hint)
                block = []
        yield from _unified_block(block, hint)


def _csv(path: Path) -> Iterator[Item]:
    hint = direction_hint(path.name)
    with _open(path) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        header = next(reader, None)
        if header is None:
            return
        columns = [_COLUMN_PATHS.get(_norm(h)) for h in header]
        if "a.MeanThroughputMbps" not in columns:
            raise FileError(f"{path}: no MeanThroughputMbps column (columns: {', '.join(header)})")
        for values in reader:
            nested: dict[str, Any] = {}
            for column, value in zip(columns, values, strict=False):
                if column is None or value == "":
                    continue
                *parents, leaf = column.split(".")
                node = nested
                for part in parents:
                    node = node.setdefault(part, {})
                node[leaf] = value
            yield convert_row(nested, hint)


def convert_row(data: dict[str, Any], hint: str | None = None) -> Item:
    """A unified-view row given as nested mappings (CSV, Parquet, generated rows)."""
    try:
        return unified_row(msgspec.convert(data, UnifiedRow, strict=False), hint)
    except msgspec.ValidationError:
        return BadRow("wrong field type")
    except BadRow as bad:
        return bad


def _parquet(path: Path) -> Iterator[Item]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise FileError("reading Parquet needs pyarrow: pip install 'netatlas[parquet]'") from None
    hint = direction_hint(path.name)
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise FileError(f"{path}: not a Parquet file ({exc})") from None
    for batch in parquet.iter_batches(batch_size=10_000):
        for data in batch.to_pylist():
            yield convert_row(data, hint)


def _tar(path: Path, asn: AsnLookup, geoip: GeoIP | None) -> Iterator[Item]:
    try:
        archive = tarfile.open(path, "r|*")  # noqa: SIM115 - a with block follows
    except (OSError, tarfile.TarError) as exc:
        raise FileError(f"{path}: not a tar archive ({exc})") from None
    with archive:
        try:
            for member in archive:
                name = member.name.lower()
                if not member.isfile() or not name.endswith((".json", ".json.gz")):
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                data = handle.read()
                if name.endswith(".gz"):
                    try:
                        data = gzip.decompress(data)
                    except (OSError, EOFError):
                        yield BadRow("corrupt gzip")
                        continue
                yield _result(data, asn, geoip)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise FileError(f"{path}: archive ends early ({exc})") from None


def _files(path: Path) -> Iterable[Path]:
    if path.is_dir():
        return sorted(
            p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(_SUFFIXES)
        )
    return [path]


def read_path(path: Path, asn: AsnLookup, geoip: GeoIP | None) -> Iterator[tuple[Path, Item]]:
    """Every row of the file (or of the files in the directory), with the file it came from.
    Raises FileError for a file that cannot be read at all."""
    if not path.exists():
        raise FileError(f"{path}: no such file or directory")
    for file in _files(path):
        name = file.name.lower()
        try:
            if name.endswith((".tgz", ".tar.gz", ".tar")):
                items: Iterator[Item] = _tar(file, asn, geoip)
            elif name.endswith((".csv", ".csv.gz")):
                items = _csv(file)
            elif name.endswith(".parquet"):
                items = _parquet(file)
            elif name.endswith(_SUFFIXES):
                items = _json(file, asn, geoip)
            else:
                raise FileError(f"{file}: unsupported file type (expected {', '.join(_SUFFIXES)})")
            for item in items:
                yield file, item
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
            raise FileError(f"{file}: {exc}") from None
