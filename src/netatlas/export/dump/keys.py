"""Dump keys: a slow, salted, truncated hash of a station's MAC (stdlib only).

``key = scrypt(kind || mac, salt, n, r, p)`` read as a big-endian integer and cut to its first
``bits`` bits. The salt is public (in the file), so anyone can compute the key of a MAC they
know; what they cannot do cheaply is run the hash backwards over the 2^24 MACs of a vendor
prefix (see ``docs/dump.md``). Truncation makes a key shared by many MACs: a reader takes a
match as a candidate, confirmed only by agreeing with the other networks of its scan.
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

import msgspec

__all__ = ["KIND_CODE", "HashParams", "key_bits_for", "key_hex", "station_key"]

KIND_CODE: Final = {"wifi": b"w", "blue": b"b"}
_DIGEST_BYTES: Final = 8
MIN_KEY_BITS: Final = 16
MAX_KEY_BITS: Final = 64
# Extra key bits beyond log2(entries): a reader's lookup of a MAC that is not in the file then
# matches some other entry with probability about 2^-EXTRA_BITS.
EXTRA_BITS: Final = 8


class HashParams(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """How a dump's keys were made; written to the file's first line and the manifest."""

    salt: str  # hex
    log2_n: int  # scrypt cost: N = 2**log2_n
    r: int = 8
    p: int = 1
    bits: int = 32  # key length, a multiple of 4 (the key is written as bits/4 hex digits)
    algorithm: str = "scrypt"

    def maxmem(self) -> int:
        # scrypt needs 128 * r * N bytes (and a little more); OpenSSL refuses above maxmem.
        return int(128 * self.r * (1 << self.log2_n) * self.p) + 4 * 1024 * 1024


def key_bits_for(entries: int) -> int:
    """Key length for a dump of ``entries`` rows: log2(entries) + 8 bits, in whole hex digits."""
    bits = math.ceil(math.log2(max(entries, 2))) + EXTRA_BITS
    bits = -(-bits // 4) * 4
    return min(max(bits, MIN_KEY_BITS), MAX_KEY_BITS)


def station_key(kind: str, mac: bytes, params: HashParams) -> int:
    """The key of a station (``kind`` "wifi" or "blue", ``mac`` its 6 bytes)."""
    digest = hashlib.scrypt(
        KIND_CODE[kind] + mac,
        salt=bytes.fromhex(params.salt),
        n=1 << params.log2_n,
        r=params.r,
        p=params.p,
        maxmem=params.maxmem(),
        dklen=_DIGEST_BYTES,
    )
    return int.from_bytes(digest, "big") >> (8 * _DIGEST_BYTES - params.bits)


def key_hex(key: int, bits: int) -> str:
    return f"{key:0{bits // 4}x}"
