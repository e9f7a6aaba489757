"""The ranges of a cell's fields per radio: the one table that submit, locate, the observations
and the cell CSV files check against.

Values follow Ichnaea (reference/ichnaea.md 1.3 and 1.6): MCC 1..999, MNC 0..999, LAC/TAC
1..65533 (65534 and 65535 are reserved), cell id 1..2^28-1 for WCDMA and LTE and 1..65535 for
GSM (a larger "GSM" cell id is a UMTS cell: :func:`cell_radio`), scrambling code 0..511 (LTE's
physical cell id 0..503); signal and ASU ranges per radio. NR is NetAtlas's addition: TAC 24
bits with 0 and 0xFFFFFE reserved like LTE's 0 and 0xFFFE (hence the 0xFFFFFD ceiling), NR cell
identity 36 bits, PCI 0..1007, SS-RSRP -156..-31 dBm, ASU 0..97 as Android's
CellSignalStrengthNr. Timing advance: GSM 0..63, LTE 0..1282 (Android's range), NR TA index
0..3846; WCDMA has none. ARFCN: the highest (U/E/NR-)ARFCN of each radio.

"Unknown" sentinels that clients send instead of a value (-1, 0, INT_MAX, 0xFFFF, ...) are the
parsers' business; these ranges apply after they are removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ASU_MAX",
    "ASU_MIN",
    "GSM",
    "LTE",
    "MCC_MAX",
    "MCC_MIN",
    "MNC_MAX",
    "MNC_MIN",
    "NR",
    "RADIOS",
    "SIGNAL_MAX",
    "SIGNAL_MIN",
    "WCDMA",
    "RadioRanges",
    "cell_radio",
    "cell_radio_codes",
]

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class RadioRanges:
    """Inclusive ranges of one radio's cell fields; a maximum of -1 means the radio has none."""

    name: str  # gsm | wcdma | lte | nr
    lac_max: int  # LAC (GSM, WCDMA) or TAC (LTE, NR); the minimum is 1
    cid_max: int  # cell id; the minimum is 1
    psc_max: int  # scrambling code (WCDMA) or physical cell id (LTE, NR); the minimum is 0
    ta_max: int  # timing advance; the minimum is 0
    arfcn_max: int  # (U/E/NR-)ARFCN; the minimum is 0
    signal_min: int  # dBm
    signal_max: int
    asu_min: int
    asu_max: int

    def has_lac(self, lac: int) -> bool:
        return 1 <= lac <= self.lac_max

    def has_cid(self, cid: int) -> bool:
        return 1 <= cid <= self.cid_max


GSM: Final = RadioRanges(
    "gsm", lac_max=65533, cid_max=65535, psc_max=511, ta_max=63, arfcn_max=1023,
    signal_min=-113, signal_max=-51, asu_min=0, asu_max=31,
)  # fmt: skip
WCDMA: Final = RadioRanges(
    "wcdma", lac_max=65533, cid_max=2**28 - 1, psc_max=511, ta_max=-1, arfcn_max=16383,
    signal_min=-121, signal_max=-25, asu_min=-5, asu_max=91,
)  # fmt: skip
LTE: Final = RadioRanges(
    "lte", lac_max=65533, cid_max=2**28 - 1, psc_max=503, ta_max=1282, arfcn_max=262143,
    signal_min=-140, signal_max=-43, asu_min=0, asu_max=97,
)  # fmt: skip
NR: Final = RadioRanges(
    "nr", lac_max=0xFFFFFD, cid_max=2**36 - 1, psc_max=1007, ta_max=3846, arfcn_max=3279165,
    signal_min=-156, signal_max=-31, asu_min=0, asu_max=97,
)  # fmt: skip

#: Every radio NetAtlas keeps cells of, by name (CDMA is not one).
RADIOS: Final[Mapping[str, RadioRanges]] = MappingProxyType(
    {r.name: r for r in (GSM, WCDMA, LTE, NR)}
)

MCC_MIN: Final = 1
MCC_MAX: Final = 999
MNC_MIN: Final = 0
MNC_MAX: Final = 999
#: The widest signal and ASU ranges of any radio: the check made before the radio is settled.
SIGNAL_MIN: Final = min(r.signal_min for r in RADIOS.values())
SIGNAL_MAX: Final = max(r.signal_max for r in RADIOS.values())
ASU_MIN: Final = min(r.asu_min for r in RADIOS.values())
ASU_MAX: Final = max(r.asu_max for r in RADIOS.values())


def cell_radio(radio: str, cid: int | None) -> str:
    """The radio a cell really uses: a GSM cell whose id does not fit GSM's 16 bits is a UMTS
    (wcdma) cell reported as GSM, as Ichnaea reads it."""
    if radio == "gsm" and cid is not None and cid > GSM.cid_max:
        return "wcdma"
    return radio


def cell_radio_codes(radio: I64, cid: I64, gsm: int, wcdma: int) -> I64:
    """:func:`cell_radio` over arrays of radio codes (``gsm`` and ``wcdma`` name the codes)."""
    result: I64 = np.where((radio == gsm) & (cid > GSM.cid_max), wcdma, radio)
    return result
