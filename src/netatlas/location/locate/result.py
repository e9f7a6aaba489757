"""Candidate answers from every source, and how the best one is chosen (reference/ichnaea.md 4.7).

Every source adds :class:`Result` candidates to a :class:`ResultList`: the internal search one
per WiFi/Bluetooth cluster, cell area group or cell area (``fallback="lacf"``), the GeoIP source
one with ``fallback="ipf"``, the external fallback provider one with score 10 (5 with
``fallback="lacf"``). :meth:`ResultList.best` then picks the answer the way Ichnaea did:

* results are taken most accurate first; each result *i* forms a group with every less accurate
  result *j* whose centre is within ``max(1.5·acc_i, 1.5·acc_j)`` of it (the two circles agree);
* the group with the highest summed score wins (ties: the higher single score, then the earlier,
  i.e. more accurate, group), and its most accurate member is the answer.

So a weak WiFi answer (score 0.15) far from a GeoIP answer (0.8) loses to GeoIP, while a precise
WiFi answer that lies inside the GeoIP circle wins with their summed score.
:meth:`ResultList.satisfied` (only used to decide whether to ask the external provider) is true
when that best group scores at least 1.0 and its answer is in the expected accuracy class.

The region variant (/v1/country) sums scores per region code (:class:`RegionResultList`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from netatlas.geo.distance import distance

__all__ = [
    "HIGH",
    "LOW",
    "MEDIUM",
    "NONE",
    "RegionResult",
    "RegionResultList",
    "Result",
    "ResultList",
    "accuracy_class",
]

# Accuracy classes (upper bounds in metres), as numbers so that "better" compares smaller.
HIGH: Final = 500.0
MEDIUM: Final = 50_000.0
LOW: Final = 40_000_000.0  # about the Earth's circumference
NONE: Final = math.inf

_SOURCE_RANK: Final = {"internal": 0, "fallback": 1, "geoip": 2}


def accuracy_class(accuracy: float) -> float:
    """The class (:data:`HIGH`, :data:`MEDIUM`, :data:`LOW` or :data:`NONE`) of an accuracy."""
    if accuracy <= HIGH:
        return HIGH
    if accuracy <= MEDIUM:
        return MEDIUM
    if accuracy <= LOW:
        return LOW
    return NONE


@dataclass(frozen=True, slots=True)
class Result:
    """One candidate position.

    ``source`` is ``"internal"``, ``"geoip"`` or ``"fallback"``; ``fallback`` is what the API
    reports (``"lacf"``, ``"ipf"`` or ``None``); ``region`` the region code when known.
    """

    lat: float
    lon: float
    accuracy: float  # metres
    score: float
    fallback: str | None = None
    source: str = "internal"
    region: str | None = None


class ResultList:
    """The candidates of one query."""

    __slots__ = ("_results",)

    def __init__(self, results: Iterable[Result] = ()) -> None:
        self._results: list[Result] = list(results)

    def add(self, result: Result | None) -> None:
        if result is not None:
            self._results.append(result)

    def extend(self, results: Iterable[Result]) -> None:
        self._results.extend(results)

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[Result]:
        return iter(self._results)

    def __bool__(self) -> bool:
        return bool(self._results)

    def __repr__(self) -> str:
        return f"ResultList({self._results!r})"

    def _best_group(self) -> tuple[Result, float] | None:
        """The answer and its group's summed score."""
        results = sorted(self._results, key=lambda r: (r.accuracy, -r.score))
        if not results:
            return None
        if len(results) == 1:
            return results[0], results[0].score
        best: tuple[float, float, int] | None = None
        for i, first in enumerate(results):
            total = top = first.score
            reach = 1.5 * first.accuracy
            for other in results[i + 1 :]:
                limit = max(reach, 1.5 * other.accuracy)
                if distance(first.lat, first.lon, other.lat, other.lon) <= limit:
                    total += other.score
                    if other.score > top:
                        top = other.score
            if best is None or (total, top) > best[:2]:
                best = (total, top, i)
        assert best is not None
        return results[best[2]], best[0]

    def best(self) -> Result | None:
        """The answer (see the module docstring), or ``None`` for an empty list."""
        found = self._best_group()
        return None if found is None else found[0]

    def satisfied(self, expected_accuracy: float) -> bool:
        """Is the best answer good enough not to ask the external fallback provider?

        ``expected_accuracy`` is a class, e.g. from :meth:`Query.expected_accuracy`.
        """
        found = self._best_group()
        if found is None:
            return False
        answer, total = found
        return total >= 1.0 and accuracy_class(answer.accuracy) <= expected_accuracy


@dataclass(frozen=True, slots=True)
class RegionResult:
    """One candidate region (GENC/ISO alpha-2 code) for /v1/country."""

    region: str
    accuracy: float  # metres: the region's radius when known, else 0
    score: float
    fallback: str | None = None
    source: str = "internal"


class RegionResultList:
    """Region candidates: the region with the highest summed score wins."""

    __slots__ = ("_results",)

    def __init__(self, results: Iterable[RegionResult] = ()) -> None:
        self._results: list[RegionResult] = list(results)

    def add(self, result: RegionResult | None) -> None:
        if result is not None:
            self._results.append(result)

    def extend(self, results: Iterable[RegionResult]) -> None:
        self._results.extend(results)

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[RegionResult]:
        return iter(self._results)

    def __bool__(self) -> bool:
        return bool(self._results)

    def __repr__(self) -> str:
        return f"RegionResultList({self._results!r})"

    def scores(self) -> dict[str, float]:
        """Summed score per region code."""
        out: dict[str, float] = {}
        for r in self._results:
            out[r.region] = out.get(r.region, 0.0) + r.score
        return out

    def best(self) -> RegionResult | None:
        """The winning region's preferred member (internal, then fallback, then GeoIP).

        Regions are ranked by summed score, ties broken by the larger radius. The member returned
        carries the group's summed score.
        """
        groups: dict[str, list[RegionResult]] = {}
        for r in self._results:
            groups.setdefault(r.region, []).append(r)
        best_key: tuple[float, float] | None = None
        best_members: list[RegionResult] = []
        for members in groups.values():
            key = (sum(m.score for m in members), max(m.accuracy for m in members))
            if best_key is None or key > best_key:
                best_key, best_members = key, members
        if best_key is None:
            return None
        chosen = min(best_members, key=lambda m: _SOURCE_RANK.get(m.source, 3))
        return RegionResult(chosen.region, best_key[1], best_key[0], chosen.fallback, chosen.source)
