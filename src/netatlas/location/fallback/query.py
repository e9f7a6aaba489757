"""What the provider is asked about: the query's networks and the ``lacf`` flag."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["BlueNetwork", "CellNetwork", "FallbackQuery", "WifiNetwork", "mac12"]


@dataclass(frozen=True, slots=True)
class WifiNetwork:
    """One WiFi access point of a query; ``mac`` as 12 hex digits (separators allowed)."""

    mac: str
    signal: int | None = None  # dBm
    age: int | None = None  # ms
    channel: int | None = None
    frequency: int | None = None  # MHz
    snr: int | None = None  # dB
    ssid: str | None = None


@dataclass(frozen=True, slots=True)
class BlueNetwork:
    """One Bluetooth beacon of a query."""

    mac: str
    signal: int | None = None
    age: int | None = None


@dataclass(frozen=True, slots=True)
class CellNetwork:
    """One cell of a query; ``cid`` None for a cell-area (LAC only) entry."""

    radio: str  # gsm, wcdma, lte or nr
    mcc: int
    mnc: int
    lac: int
    cid: int | None = None
    psc: int | None = None
    age: int | None = None
    signal: int | None = None
    ta: int | None = None
    asu: int | None = None


@dataclass(frozen=True, slots=True)
class FallbackQuery:
    """What the provider is asked about: validated networks and the ``lacf`` flag."""

    wifis: Sequence[WifiNetwork] = ()
    cells: Sequence[CellNetwork] = ()
    blues: Sequence[BlueNetwork] = ()
    lacf: bool = True

    @property
    def empty(self) -> bool:
        return not (self.wifis or self.cells or self.blues)


def mac12(mac: str) -> str | None:
    """``mac`` as 12 lower-case hex digits, separators removed; None if it is not a MAC."""
    value = mac.lower().replace(":", "").replace("-", "").replace(".", "")
    if len(value) != 12 or any(c not in "0123456789abcdef" for c in value):
        return None
    return value
