"""Field-level coercion shared by the submit parsers (private to ``submit``).

The rules are lenient by design: JSON ``null`` is "absent", a value of the wrong type or out of
range in an optional field becomes ``None``, and only the fields that identify a network (MAC,
cell key) can cause an entry to be dropped. Floats are accepted where integers are expected when
they are integral (``-70.0``); NaN and infinities never survive (``json.loads`` turns ``NaN``,
``Infinity`` and overflowing literals such as ``1e999`` into non-finite floats).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

# Android's "unknown" value for int fields (CellInfo.UNAVAILABLE = Integer.MAX_VALUE). It is treated
# as absent in every integer field; most ranges below exclude it anyway.
INT_MAX: Final = 2**31 - 1
# Android's "unknown" value for long fields (CellInfo.UNAVAILABLE_LONG), used for the 36-bit NR NCI.
LONG_MAX: Final = 2**63 - 1

# Ages are ms relative to the report timestamp; Ichnaea kept only +-1 hour.
MAX_AGE: Final = 3_600_000

# Timestamps (ms since the epoch) outside 2001-09-09 .. 2286-11-20 are not believed.
MIN_TIMESTAMP: Final = 10**12
MAX_TIMESTAMP: Final = 10**13

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_ALL_ZERO: Final = 0
_ALL_ONES: Final = 0xFFFFFFFFFFFF
_HEX: Final = "0123456789abcdef"


class BadValue(Exception):
    """A key field holds a value that cannot mean a whole number (a list, ``"abc"``, ``1.5``)."""


def as_int(value: object) -> int | None:
    """An ``int`` (not ``bool``) or an integral finite float; anything else is ``None``."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():  # False for NaN and infinities
        return int(value)
    return None


def int_in(value: object, low: int, high: int) -> int | None:
    """``as_int`` restricted to ``low..high`` inclusive; out of range is ``None``."""
    if type(value) is not int:
        if type(value) is float and value.is_integer():
            value = int(value)
        else:
            return None
    return value if low <= value <= high else None


def as_float(value: object) -> float | None:
    """A finite number as ``float``; ``bool``, strings, NaN and infinities are ``None``."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int:
        return float(value)
    return None


def as_code(value: object) -> int | None:
    """A network-code field (MCC, MNC, LAC, CID): int, integral float, or a numeric string.

    ``None``, an empty string and NaN mean absent. Any other value that is not a whole number
    raises :class:`BadValue` (the caller drops the entry as invalid). Numeric strings are what
    some clients send for MCC/MNC to keep leading zeros (``"01"``); the leading zeros are lost.
    """
    if type(value) is int:
        return value
    if value is None:
        return None
    if type(value) is float:
        if value.is_integer():
            return int(value)
        if math.isnan(value):
            return None
        raise BadValue
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        digits = text[1:] if text[0] == "-" else text
        if digits.isascii() and digits.isdigit() and len(digits) <= 20:
            return int(text)
    raise BadValue


def timestamp_ms(value: object, now_ms: int) -> int:
    """A client timestamp in ms, or ``now_ms`` when missing, not a number, 0 or implausible."""
    if type(value) is int:
        stamp = value
    elif type(value) is float and math.isfinite(value):
        stamp = int(value)
    else:
        return now_ms
    return stamp if MIN_TIMESTAMP < stamp < MAX_TIMESTAMP else now_ms


def iso_time_ms(value: object, now_ms: int) -> int:
    """The legacy ``time`` field: an ISO 8601 string (a number is taken as a ms timestamp).

    Naive times are UTC. Unparseable times, or times outside 2001..2286, give ``now_ms``.
    """
    if type(value) is not str:
        return timestamp_ms(value, now_ms)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return now_ms
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        stamp = (moment - _EPOCH) // _ONE_MS
    except OverflowError:  # an offset pushing year 1 or 9999 out of range
        return now_ms
    return stamp if MIN_TIMESTAMP < stamp < MAX_TIMESTAMP else now_ms


def normalize_mac(value: str) -> tuple[str, None] | tuple[None, str]:
    """Normalise a MAC to 12 lowercase hex digits, or give the reason it is refused.

    Separators ``:``, ``-`` and ``.`` (Cisco style) are removed. Refused, with their reason:
    not 12 hex digits, all-zero or all-ones (``invalid_mac``); the group bit 0x01 of the first
    octet set, i.e. multicast (``multicast_mac``); the locally-administered bit 0x02 set, i.e.
    randomised or virtual addresses that do not stay put (``local_mac``).
    """
    mac = value.strip().lower().replace(":", "").replace("-", "").replace(".", "")
    if len(mac) != 12 or mac.strip(_HEX):
        return None, "invalid_mac"
    number = int(mac, 16)
    if number in (_ALL_ZERO, _ALL_ONES):
        return None, "invalid_mac"
    first = number >> 40
    if first & 0x01:
        return None, "multicast_mac"
    if first & 0x02:
        return None, "local_mac"
    return mac, None
