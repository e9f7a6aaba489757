"""Binary keys of stations and areas, and which shard a network belongs to."""

from __future__ import annotations

import struct

_CELL = struct.Struct(">BHHIQ")  # radio, mcc, mnc, lac/tac (24-bit NR TACs fit), cid (36-bit NR)
_AREA = struct.Struct(">BHHI")


def mac_shard(mac_hex: str) -> str:
    """The shard of a 12-hex-character MAC: its 5th character (Ichnaea compatibility)."""
    return mac_hex[4]


def mac_bytes(mac_hex: str) -> bytes:
    return bytes.fromhex(mac_hex)


def mac_hex(mac: bytes) -> str:
    return mac.hex()


def cell_id(radio: int, mcc: int, mnc: int, lac: int, cid: int) -> bytes:
    return _CELL.pack(radio, mcc, mnc, lac, cid)


def decode_cell_id(value: bytes) -> tuple[int, int, int, int, int]:
    radio, mcc, mnc, lac, cid = _CELL.unpack(value)
    return radio, mcc, mnc, lac, cid


def area_id(radio: int, mcc: int, mnc: int, lac: int) -> bytes:
    return _AREA.pack(radio, mcc, mnc, lac)


def decode_area_id(value: bytes) -> tuple[int, int, int, int]:
    radio, mcc, mnc, lac = _AREA.unpack(value)
    return radio, mcc, mnc, lac
