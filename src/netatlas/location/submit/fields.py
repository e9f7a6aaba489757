"""Field-level coercion shared by the submit parsers (private to ``submit``).

Types were already checked when the body was decoded (see ``_submit_types``); what remains here
is the meaning of values: "unknown" sentinels, plausible timestamps, MAC address normalisation.
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
_ALL_ZERO_OR_ONES: Final = frozenset({"000000000000", "ffffffffffff"})


class BadValue(Exception):
    """A network-code string that is not a whole number (``"abc"``, ``"1.5"``)."""


def as_code(value: object) -> int | None:
    """A network-code field (MCC, MNC, LAC, CID): an int or a numeric string.

    ``None`` and an empty string mean absent; a string that is not a whole number raises
    :class:`BadValue` (the caller drops the entry as invalid). Numeric strings are what some
    clients send for MCC/MNC to keep leading zeros (``"01"``); the leading zeros are lost.
    """
    if type(value) is int or value is None:
        return value
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
    mac = value.lower()
    if len(mac) != 12:
        mac = mac.replace(":", "")
        if len(mac) != 12:
            mac = mac.replace("-", "").replace(".", "").strip()
            if len(mac) != 12:
                return None, "invalid_mac"
    try:
        octets = bytes.fromhex(mac)  # also refuses "0x..", signs and underscores
    except ValueError:
        return None, "invalid_mac"
    if len(octets) != 6 or mac in _ALL_ZERO_OR_ONES:  # fewer octets: embedded whitespace
        return None, "invalid_mac"
    first = octets[0]
    if first & 0x01:
        return None, "multicast_mac"
    if first & 0x02:
        return None, "local_mac"
    return mac, None


def clean_text(value: str | None, max_length: int) -> str | None:
    """Free text kept from a report (carrier, beacon name): ``None`` when empty or unencodable.

    JSON may carry lone UTF-16 surrogates (``"\\ud800"``) that cannot be encoded again when the
    report is queued; such text is dropped. Over-long text is cut to ``max_length`` characters.
    """
    if not value:
        return None
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return value[:max_length]
