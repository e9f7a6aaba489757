"""Request bodies: decompression (with its size limits) and charset decoding."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib

import pytest

from netatlas.http.body import decode_body
from netatlas.http.errors import ParseError, PayloadTooLarge

LIMIT = 1024 * 1024
JSON = '{"items": [{"wifiAccessPoints": [{"macAddress": "a42b8c123456"}]}]}'


def _decode_detail(exc: pytest.ExceptionInfo[ParseError]) -> str:
    assert exc.value.details is not None
    detail = exc.value.details["decode"]
    assert isinstance(detail, str)
    return detail


def test_plain_utf8_body_is_returned_as_text() -> None:
    assert decode_body(JSON.encode(), None, None, LIMIT) == JSON


@pytest.mark.parametrize("header", ["gzip", "GZIP", "x-gzip", " gzip ", "identity, gzip"])
def test_gzip_with_header(header: str) -> None:
    assert decode_body(gzip.compress(JSON.encode()), header, "utf-8", LIMIT) == JSON


def test_gzip_is_sniffed_without_header() -> None:
    assert decode_body(gzip.compress(JSON.encode()), None, None, LIMIT) == JSON
    assert decode_body(gzip.compress(JSON.encode()), "identity", None, LIMIT) == JSON


def test_gzip_label_on_a_body_a_proxy_already_decompressed() -> None:
    assert decode_body(b"  " + JSON.encode(), "gzip", None, LIMIT) == "  " + JSON


def test_gzip_label_on_garbage_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as exc:
        decode_body(b"abcdef", "gzip", None, LIMIT)
    assert _decode_detail(exc) == "Not a gzipped file (b'ab')"
    assert exc.value.status == 400


def test_deflate_zlib_raw_and_mislabelled_gzip() -> None:
    data = JSON.encode()
    raw = zlib.compressobj(wbits=-15)
    raw_deflate = raw.compress(data) + raw.flush()
    assert decode_body(zlib.compress(data), "deflate", None, LIMIT) == JSON
    assert decode_body(raw_deflate, "deflate", None, LIMIT) == JSON
    assert decode_body(gzip.compress(data), "deflate", None, LIMIT) == JSON


def test_unsupported_content_encoding() -> None:
    with pytest.raises(ParseError) as exc:
        decode_body(b"\x28\xb5\x2f\xfd", "zstd", None, LIMIT)
    assert _decode_detail(exc) == "Unsupported Content-Encoding: 'zstd'"


def test_multi_member_gzip_and_nul_padding() -> None:
    first, second = JSON[:20].encode(), JSON[20:].encode()
    body = gzip.compress(first) + gzip.compress(second) + b"\x00" * 16
    assert decode_body(body, "gzip", None, LIMIT) == JSON


def test_truncated_gzip_is_a_parse_error() -> None:
    body = gzip.compress(JSON.encode() * 20)
    with pytest.raises(ParseError) as exc:
        decode_body(body[: len(body) // 2], "gzip", None, LIMIT)
    assert _decode_detail(exc) == (
        "Compressed file ended before the end-of-stream marker was reached"
    )
    assert json.loads(exc.value.body())["error"]["details"]["decode"].startswith("Compressed file")


def test_truncated_gzip_missing_only_the_trailer() -> None:
    body = gzip.compress(JSON.encode())
    with pytest.raises(ParseError) as exc:
        decode_body(body[:-4], None, None, LIMIT)  # sniffed, CRC kept, size trailer cut
    assert "end-of-stream marker" in _decode_detail(exc)


def test_corrupt_gzip_is_a_parse_error() -> None:
    body = bytearray(gzip.compress(JSON.encode()))
    body[-8] ^= 0xFF  # break the CRC32
    with pytest.raises(ParseError) as exc:
        decode_body(bytes(body), "gzip", None, LIMIT)
    assert _decode_detail(exc).startswith("Error -3 while decompressing data")


def test_compressed_body_over_the_limit() -> None:
    with pytest.raises(PayloadTooLarge) as exc:
        decode_body(b"x" * (LIMIT + 1), None, None, LIMIT)
    assert exc.value.status == 413
    assert exc.value.limit == LIMIT


def test_decompressed_size_limit_is_inclusive() -> None:
    text = '{"items": []}'.ljust(1000)
    assert decode_body(gzip.compress(text.encode()), "gzip", None, 1000) == text
    with pytest.raises(PayloadTooLarge):
        decode_body(gzip.compress((text + " ").encode()), "gzip", None, 1000)


def test_gzip_bomb_is_refused_without_allocating_its_expansion() -> None:
    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB -> ~64 KiB
    assert len(bomb) < LIMIT
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge) as exc:
            decode_body(bomb, "gzip", None, LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * LIMIT  # never anywhere near the 64 MiB expansion
    body = json.loads(exc.value.body())
    assert body["error"]["code"] == 413
    assert body["error"]["errors"][0] == {
        "domain": "global",
        "reason": "payloadTooLarge",
        "message": exc.value.message,
    }
    assert str(LIMIT) in exc.value.message


def test_bomb_split_over_members_is_refused() -> None:
    member = gzip.compress(b" " * (LIMIT // 2 + 1))
    with pytest.raises(PayloadTooLarge):
        decode_body(member * 3, "gzip", None, LIMIT)


def test_invalid_utf8_reports_the_codec_error() -> None:
    body = b'{"carrier": "a\xe9cd"}'
    assert body.index(b"\xe9") == 14
    with pytest.raises(ParseError) as exc:
        decode_body(body, None, "utf-8", LIMIT)
    assert _decode_detail(exc) == (
        "'utf-8' codec can't decode byte 0xe9 in position 14: invalid continuation byte"
    )


def test_invalid_utf8_inside_gzip() -> None:
    with pytest.raises(ParseError) as exc:
        decode_body(gzip.compress(b'{"carrier": "a\xe9cd"}'), "gzip", None, LIMIT)
    assert "can't decode byte 0xe9 in position 14" in _decode_detail(exc)


def test_other_charsets_and_quoted_names() -> None:
    body = '{"carrier": "Telé"}'.encode("latin-1")
    assert decode_body(body, None, "ISO-8859-1", LIMIT) == '{"carrier": "Telé"}'
    assert decode_body('{"a": "é"}'.encode(), None, '"UTF-8"', LIMIT) == '{"a": "é"}'


def test_unknown_charset_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as exc:
        decode_body(b"{}", None, "no-such-charset", LIMIT)
    assert _decode_detail(exc) == (
        "unsupported charset: 'no-such-charset' (use UTF-8, UTF-16, UTF-32, ISO-8859-1 or ASCII)"
    )


@pytest.mark.parametrize(
    "charset",
    ["punycode", "idna", "utf-7", "rot13", "hex", "base64", "zlib", "unicode_escape",
     "raw_unicode_escape", "cp1252", "utf-8-sig", "undefined", "mbcs", "cp500", "ebcdic",
     "encodings.utf_8", "../utf_8", "x" * 1000],
)  # fmt: skip
def test_codecs_that_are_no_json_charsets_are_refused(charset: str) -> None:
    # Each of these is a codec Python knows (or a name it might resolve): punycode decodes in
    # quadratic time, idna and undefined fail with errors of their own, others are no charsets.
    for body in (b"{}", b"xn--" + b"a" * 50 + b"-\xff", b"\x80\xff"):
        with pytest.raises(ParseError) as exc:
            decode_body(body, None, charset, LIMIT)
        detail = _decode_detail(exc)
        assert detail.startswith("unsupported charset: ")
        assert len(detail) < 120  # a long name is not echoed back whole


@pytest.mark.parametrize(
    ("charset", "codec"),
    [
        ("utf-8", "utf-8"), ("UTF8", "utf-8"), ("utf_8", "utf-8"), (" 'Utf-8' ", "utf-8"),
        ("utf-16", "utf-16"), ("UTF-16LE", "utf-16-le"), ("utf-16be", "utf-16-be"),
        ("utf_16_le", "utf-16-le"), ("UCS-2", "utf-16"),
        ("utf-32", "utf-32"), ("UTF-32LE", "utf-32-le"), ("utf-32-be", "utf-32-be"),
        ("ISO-8859-1", "latin-1"), ("iso_8859-1", "latin-1"), ("latin1", "latin-1"),
        ("Latin-1", "latin-1"), ("l1", "latin-1"), ("cp819", "latin-1"),
        ("ascii", "ascii"), ("US-ASCII", "ascii"), ("ANSI_X3.4-1968", "ascii"),
    ],
)  # fmt: skip
def test_json_charsets_in_their_usual_spellings(charset: str, codec: str) -> None:
    text = '{"carrier": "Tel"}' if codec == "ascii" else '{"carrier": "Telé"}'
    data = text.encode(codec)
    if codec in ("utf-16", "utf-32"):
        assert data[:2] in (b"\xff\xfe", b"\xfe\xff")  # with a byte-order mark
    assert decode_body(data, None, charset, LIMIT) == text
    assert decode_body(gzip.compress(data), "gzip", charset, LIMIT) == text


def test_undecodable_bytes_in_an_accepted_charset() -> None:
    for body, charset in ((b"{\x00}", "utf-16"), (b"\x80{}", "ascii"), (b"{}\x00", "utf-32")):
        with pytest.raises(ParseError) as exc:
            decode_body(body, None, charset, LIMIT)
        assert "can't decode" in _decode_detail(exc) or "truncated" in _decode_detail(exc)


def test_byte_order_mark_is_dropped() -> None:
    assert decode_body(b"\xef\xbb\xbf" + JSON.encode(), None, None, LIMIT) == JSON
    assert decode_body(gzip.compress(b"\xef\xbb\xbf{}"), "gzip", None, LIMIT) == "{}"


def test_empty_bodies_stay_empty() -> None:
    assert decode_body(b"", None, None, LIMIT) == ""
    assert decode_body(b"", "gzip", None, LIMIT) == ""
    assert decode_body(gzip.compress(b""), "gzip", None, LIMIT) == ""
