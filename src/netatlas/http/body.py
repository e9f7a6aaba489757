"""Request bodies: decompression, size limits and charset decoding for the JSON APIs.

Clients are messy (see the reference notes on real clients): NeoStumbler always gzips, Tower
Collector and GeoClue never do, some Java clients send no Content-Type at all, and proxies
sometimes decompress a body without removing its ``Content-Encoding`` header. The body is
therefore always treated as JSON whatever its Content-Type, a gzip stream is recognised by its
magic bytes even without the header, and a ``gzip``-labelled body that plainly is JSON already is
passed through.

Only the charsets JSON can come in are decoded: UTF-8, UTF-16 and UTF-32 (with or without a
byte order, in the usual spellings), ISO-8859-1 (Latin-1) and ASCII. Python knows many more
codecs, some of which are no text encodings a client would send and cost far more than a body's
size should (``punycode`` decodes in quadratic time) or fail in ways of their own (``idna``);
any other name is a parse error, as is a body whose bytes are not valid in its charset.

Decompression is bounded: the output is capped at ``max_size + 1`` bytes per call into zlib, so
a "gzip bomb" is refused with :class:`PayloadTooLarge` before its expansion is ever allocated.
"""

from __future__ import annotations

import zlib
from typing import Final

from netatlas.http.errors import ParseError, PayloadTooLarge

__all__ = ["CHARSETS", "INLINE_BYTES", "decode_body", "decode_small_body", "failed_size"]

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip wrapper
_ZLIB_WBITS = zlib.MAX_WBITS  # zlib wrapper (what HTTP "deflate" means)
_RAW_WBITS = -zlib.MAX_WBITS  # bare deflate (what many clients send as "deflate")
_IDENTITY = frozenset({"", "identity", "none"})
_TRUNCATED = "Compressed file ended before the end-of-stream marker was reached"

#: The charsets a body may declare, by their names with case, ``-``, ``_`` and spaces removed,
#: mapped to the Python codec that decodes them.
CHARSETS: Final = {
    "utf8": "utf-8",
    "utf16": "utf-16",  # byte order from the BOM, little-endian without one
    "utf16le": "utf-16-le",
    "utf16be": "utf-16-be",
    "ucs2": "utf-16",
    "utf32": "utf-32",
    "utf32le": "utf-32-le",
    "utf32be": "utf-32-be",
    "ucs4": "utf-32",
    "iso88591": "latin-1",
    "latin1": "latin-1",
    "l1": "latin-1",
    "isoir100": "latin-1",
    "cp819": "latin-1",
    "ibm819": "latin-1",
    "ascii": "ascii",
    "usascii": "ascii",
    "ansix3.41968": "ascii",  # the IANA name, as some C libraries report it
    "iso646us": "ascii",
}
_MAX_SHOWN = 40  # characters of an unknown charset name echoed back

#: Bodies up to this size (received and decoded) are parsed on the event loop: about a
#: millisecond of work, less than a hop to a worker thread costs under the GIL. Larger ones are
#: parsed in a worker thread, so that no request holds the others up for long.
INLINE_BYTES: Final = 64 * 1024
#: The most a deflate stream can expand (1,032 to 1).
_MAX_RATIO: Final = 1032


def decode_body(
    raw: bytes, content_encoding: str | None, charset: str | None, max_size: int
) -> str:
    """Decompress and decode a request body into JSON text.

    ``content_encoding`` is the raw ``Content-Encoding`` header (``gzip``, ``x-gzip``, ``deflate``
    or ``identity``; a comma-separated list is undone right to left), ``charset`` the charset
    parameter of the Content-Type (default UTF-8). ``max_size`` bounds both the body as received
    and the body after decompression.

    Raises :class:`PayloadTooLarge` over the limit, and :class:`ParseError` with
    ``details.decode`` for a broken compressed stream, an unsupported content coding, an unknown
    charset or bytes that are not valid in the charset. A leading byte-order mark is dropped.
    """
    if len(raw) > max_size:
        raise PayloadTooLarge(limit=max_size)
    data = raw
    codings = _codings(content_encoding)
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            data = _gunzip_labelled(data, max_size)
        elif coding == "deflate":
            data = _inflate_deflate(data, max_size)
        elif coding not in _IDENTITY:
            raise ParseError.decode_error(f"Unsupported Content-Encoding: {coding!r}")
    if not any(c not in _IDENTITY for c in codings) and data.startswith(_GZIP_MAGIC):
        # No coding declared, but gzip's magic bytes cannot start a JSON text: sniffed gzip.
        data = _gunzip(data, max_size)
    return _decode_text(data, charset)


def decode_small_body(
    raw: bytes, content_encoding: str | None, charset: str | None, max_size: int
) -> str | None:
    """:func:`decode_body` for a body that is small as received and decoded, else None.

    None means: parse this one off the event loop, with :func:`decode_body` there. At most
    :data:`INLINE_BYTES` are inflated here, so a compressed body that expands further costs
    next to nothing before it is handed on. Raises what :func:`decode_body` raises.
    """
    if len(raw) > INLINE_BYTES:
        return None
    limit = min(INLINE_BYTES, max_size)
    try:
        return decode_body(raw, content_encoding, charset, limit)
    except PayloadTooLarge:
        if limit == max_size:
            raise
        return None


def failed_size(raw: bytes, max_size: int) -> int:
    """What a body that could not be decoded may have cost: as much as it could inflate to."""
    return min(len(raw) * _MAX_RATIO, max_size)


def _codings(header: str | None) -> list[str]:
    if not header:
        return []
    return [part.strip().lower() for part in header.split(",")]


def _looks_like_json(data: bytes) -> bool:
    stripped = data.lstrip(b" \t\r\n")
    return stripped[:1] in (b"{", b"[") or stripped.startswith(b"\xef\xbb\xbf")


def _gunzip_labelled(data: bytes, max_size: int) -> bytes:
    """Undo a declared gzip coding; tolerate bodies a proxy already decompressed."""
    if not data or (not data.startswith(_GZIP_MAGIC) and _looks_like_json(data)):
        return data
    return _gunzip(data, max_size)


def _gunzip(data: bytes, max_size: int) -> bytes:
    if not data.startswith(_GZIP_MAGIC):
        # The gzip module's wording, which Ichnaea passed through to clients.
        raise ParseError.decode_error(f"Not a gzipped file ({data[:2]!r})")
    return _inflate(data, _GZIP_WBITS, max_size, multi_member=True)


def _inflate_deflate(data: bytes, max_size: int) -> bytes:
    if not data or _looks_like_json(data):
        return data
    if data.startswith(_GZIP_MAGIC):  # labelled deflate, actually gzip
        return _inflate(data, _GZIP_WBITS, max_size, multi_member=True)
    first, second = data[0], (data[1] if len(data) > 1 else 0)
    is_zlib = (first & 0x0F) == 8 and ((first << 8) | second) % 31 == 0
    return _inflate(data, _ZLIB_WBITS if is_zlib else _RAW_WBITS, max_size, multi_member=False)


def _inflate(data: bytes, wbits: int, max_size: int, *, multi_member: bool) -> bytes:
    """Decompress with the output capped at ``max_size + 1`` bytes (never more is allocated).

    A gzip body may hold several members back to back (RFC 1952 allows it); trailing NUL padding
    and any other trailing bytes after the last complete member are ignored, as the gzip tool does.
    """
    parts: list[bytes] = []
    total = 0
    while True:
        decompressor = zlib.decompressobj(wbits)
        try:
            # Bounded: zlib stops once max_length bytes are out, leaving the rest unconsumed.
            chunk = decompressor.decompress(data, max_size - total + 1)
        except zlib.error as exc:
            raise ParseError.decode_error(str(exc)) from None
        total += len(chunk)
        if total > max_size:
            raise PayloadTooLarge(limit=max_size)
        parts.append(chunk)
        if not decompressor.eof:
            # The output cap was not reached, so zlib consumed all input without seeing the end.
            raise ParseError.decode_error(_TRUNCATED)
        rest = decompressor.unused_data.lstrip(b"\x00")
        if not multi_member or not rest.startswith(_GZIP_MAGIC):
            break
        data = rest
    return parts[0] if len(parts) == 1 else b"".join(parts)


def codec_for(charset: str | None) -> str:
    """The Python codec for a declared charset (UTF-8 when none); ParseError for any other."""
    name = (charset or "").strip().strip("\"'").strip()
    if not name:
        return "utf-8"
    key = "".join(name.lower().replace("-", "").replace("_", "").split())
    codec = CHARSETS.get(key)
    if codec is None:
        shown = name if len(name) <= _MAX_SHOWN else name[: _MAX_SHOWN - 3] + "..."
        raise ParseError.decode_error(
            f"unsupported charset: {shown!r} (use UTF-8, UTF-16, UTF-32, ISO-8859-1 or ASCII)"
        )
    return codec


def _decode_text(data: bytes, charset: str | None) -> str:
    codec = codec_for(charset)
    try:
        text = data.decode(codec)
    except UnicodeError as exc:
        # e.g. "'utf-8' codec can't decode byte 0xe9 in position 14: invalid continuation byte"
        raise ParseError.decode_error(str(exc)) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text
