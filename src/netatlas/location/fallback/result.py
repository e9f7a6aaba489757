"""What a look-up answers: the provider's position and the outcome of asking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["SCORE", "SCORE_LACF", "FallbackOutcome", "FallbackResult", "Status"]

#: Score of a provider's answer, and of one it marks as a cell-area estimate.
SCORE = 10.0
SCORE_LACF = 5.0


@dataclass(frozen=True, slots=True)
class FallbackResult:
    """A provider's position (fields as the locate code's ``Result``)."""

    lat: float
    lon: float
    accuracy: float
    score: float
    fallback: str | None = None  # "lacf" or None
    source: str = "fallback"
    region: str | None = None


Status = Literal["ok", "not_found", "error", "rate_limited", "skipped"]


@dataclass(frozen=True, slots=True)
class FallbackOutcome:
    """What :meth:`FallbackClient.lookup` did: ``status`` and, if "ok", the result.

    ``cached`` tells whether the answer ("ok" or "not_found") came from the cache.
    """

    status: Status
    result: FallbackResult | None = None
    cached: bool = False
