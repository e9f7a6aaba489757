"""What a connection is good enough for: the one table of use cases, and how it is applied.

The table follows M-Lab's Internet Quality Barometer (IQB): each use names what it needs —
download and upload speed (Mbit/s), latency (MinRTT, ms) and packet loss (%) — and how much
each requirement weighs in the use's score; each use weighs in the overall score. The same
table serves three purposes:

* the speed-test page judges one result against it (:func:`judge`: download, upload, latency;
  one test's loss says little);
* the statistics publish ``good_<use>``: the share of a cell's tests meeting the use's
  download, upload and latency needs (the smallest of the three shares);
* the statistics publish ``score_<use>`` and ``iqb_score``, IQB's way: each requirement
  passes or fails on a percentile of the cell's tests taken on the side that matters —
  download and upload at the low percentile ``100 - percentile`` (the speed most tests reach),
  latency and loss at ``percentile`` (the delay most tests stay under) — and the weights of
  the requirements that pass, over the weights of those that could be judged, give the score
  (0–1). ``iqb_score`` is the weighted mean of the uses' scores.

The table is part of the aggregations settings (``[[use_case]]`` tables and a ``[scores]``
table in ``NETATLAS_AGGREGATIONS_PATH``, or the admin pages' aggregations document); without
one, :data:`DEFAULT_TABLE` applies: IQB's six uses with equal weights and the 90th
percentile (IQB itself uses the 95th; here a percentile needs ``15 / (1 - p)`` tests before it
is published, 150 tests for the 90th and 300 for the 95th, see ``/privacy``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_TABLE",
    "METRICS",
    "OLD_KEYS",
    "USE_CASES",
    "UseCase",
    "UseCaseError",
    "UseCaseTable",
    "judge",
    "parse_use_cases",
    "table",
    "table_as_document",
]

#: The requirements of a use, in order: download, upload (Mbit/s, at least), latency (ms) and
#: loss (%, at most).
METRICS = ("download", "upload", "latency", "loss")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_USE_CASES = 16


class UseCaseError(ValueError):
    """The use-case table is wrong; the message says where."""


@dataclass(frozen=True, slots=True)
class UseCase:
    key: str
    label: str
    min_download: float  # Mbit/s
    min_upload: float  # Mbit/s
    max_latency: float  # ms (MinRTT)
    max_loss: float  # % of bytes retransmitted
    #: Weights of the download, upload, latency and loss requirements in the use's score.
    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    #: Weight of the use in the overall score.
    weight: float = 1.0

    def limit(self, metric: str) -> float:
        return {
            "download": self.min_download,
            "upload": self.min_upload,
            "latency": self.max_latency,
            "loss": self.max_loss,
        }[metric]


@dataclass(frozen=True)
class UseCaseTable:
    cases: tuple[UseCase, ...]
    #: Requirements are judged on this percentile (latency, loss) or its mirror (speeds).
    percentile: int = 90

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.cases)

    def quantile(self, metric: str) -> float:
        """The quantile a requirement is judged on (0.1 for speeds at the 90th percentile)."""
        high = self.percentile / 100
        return round(1 - high, 6) if metric in ("download", "upload") else high


USE_CASES: tuple[UseCase, ...] = (
    UseCase("browsing", "Web browsing", 10.0, 10.0, 100.0, 1.0),
    UseCase("video_streaming", "Video streaming", 25.0, 10.0, 100.0, 1.0),
    UseCase("audio_streaming", "Audio streaming", 10.0, 5.0, 100.0, 1.0),
    UseCase("video_conferencing", "Video conferencing", 25.0, 25.0, 50.0, 0.5),
    UseCase("online_backup", "Online backup", 10.0, 25.0, 100.0, 1.0),
    UseCase("gaming", "Online gaming", 25.0, 25.0, 10.0, 0.5),
)
DEFAULT_TABLE = UseCaseTable(USE_CASES)

#: Keys of the table before it followed IQB, and the use each became (``good_<old>`` is still
#: accepted by the statistics API and answers the new use's share).
OLD_KEYS = {"video_calls": "video_conferencing", "streaming_4k": "video_streaming"}

_CASE_KEYS = {"key", "label", "download", "upload", "latency", "loss", "weights", "weight"}


def _number(value: Any, where: str, low: float = 0.0, high: float = 1e6) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise UseCaseError(f"{where} must be a number from {low:g} to {high:g}")
    return float(value)


def _case(raw: Any, where: str) -> UseCase:
    if not isinstance(raw, dict):
        raise UseCaseError(f"{where}: expected a table")
    unknown = set(raw) - _CASE_KEYS
    if unknown:
        raise UseCaseError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_CASE_KEYS)}")
    key = raw.get("key")
    if not isinstance(key, str) or not _KEY.match(key):
        raise UseCaseError(f"{where}: key must be 1–32 lower-case letters, digits or _")
    where = f"use_case {key!r}"
    label = raw.get("label", key.replace("_", " ").capitalize())
    if not isinstance(label, str) or not 0 < len(label) <= 80:
        raise UseCaseError(f"{where}: label must be text of 1–80 characters")
    limits = {}
    for metric, default_high in (("download", 1e5), ("upload", 1e5), ("latency", 1e4)):
        if metric not in raw:
            raise UseCaseError(f"{where}: {metric} is required")
        limits[metric] = _number(raw[metric], f"{where}: {metric}", 0.0, default_high)
    loss = _number(raw.get("loss", 100.0), f"{where}: loss", 0.0, 100.0)
    weights_raw = raw.get("weights", {})
    if not isinstance(weights_raw, dict) or set(weights_raw) - set(METRICS):
        raise UseCaseError(f"{where}: weights is a table of {', '.join(METRICS)}")
    weights = tuple(
        _number(weights_raw.get(m, 1.0), f"{where}: weights.{m}", 0.0, 100.0) for m in METRICS
    )
    if sum(weights) <= 0:
        raise UseCaseError(f"{where}: at least one weight must be above 0")
    weight = _number(raw.get("weight", 1.0), f"{where}: weight", 0.0, 100.0)
    return UseCase(
        key,
        label,
        limits["download"],
        limits["upload"],
        limits["latency"],
        loss,
        (weights[0], weights[1], weights[2], weights[3]),
        weight,
    )


def parse_use_cases(data: Any) -> UseCaseTable:
    """The use-case table of an aggregations document (``use_case`` list and ``scores``
    table); :data:`DEFAULT_TABLE` (or its percentile) where the document has none."""
    if not isinstance(data, dict):
        return DEFAULT_TABLE
    scores = data.get("scores", {})
    if not isinstance(scores, dict) or set(scores) - {"percentile"}:
        raise UseCaseError("scores is a table with one key, percentile")
    percentile = scores.get("percentile", DEFAULT_TABLE.percentile)
    if (
        isinstance(percentile, bool)
        or not isinstance(percentile, int)
        or not 50 <= percentile <= 99
    ):
        raise UseCaseError("scores.percentile must be a whole number from 50 to 99")
    items = data.get("use_case")
    if items is None:
        return UseCaseTable(USE_CASES, percentile)
    if not isinstance(items, list) or not 0 < len(items) <= MAX_USE_CASES:
        raise UseCaseError(f"use_case must be a list of 1–{MAX_USE_CASES} tables")
    cases = tuple(_case(raw, f"use_case #{i + 1}") for i, raw in enumerate(items))
    keys = [c.key for c in cases]
    if len(set(keys)) != len(keys):
        raise UseCaseError("use_case keys must be unique")
    if sum(c.weight for c in cases) <= 0:
        raise UseCaseError("at least one use_case weight must be above 0")
    return UseCaseTable(cases, percentile)


def table_as_document(t: UseCaseTable) -> dict[str, Any]:
    """The table as :func:`parse_use_cases` reads it (the admin editor shows it this way)."""
    return {
        "scores": {"percentile": t.percentile},
        "use_case": [
            {
                "key": c.key,
                "label": c.label,
                "download": c.min_download,
                "upload": c.min_upload,
                "latency": c.max_latency,
                "loss": c.max_loss,
                "weights": dict(zip(METRICS, c.weights, strict=True)),
                "weight": c.weight,
            }
            for c in t.cases
        ],
    }


def judge(
    download: float | None,
    upload: float | None,
    latency: float | None,
    cases: UseCaseTable = DEFAULT_TABLE,
) -> list[dict[str, Any]]:
    """For each use: ``ok`` (True/False, or None when a figure is missing) and why not."""
    out = []
    for case in cases.cases:
        reasons = []
        known = True
        for value, limit, text, low_is_bad in (
            (download, case.min_download, "download", True),
            (upload, case.min_upload, "upload", True),
            (latency, case.max_latency, "latency", False),
        ):
            if value is None:
                known = False
            elif low_is_bad and value < limit:
                reasons.append(f"{text} below {limit:g} Mbit/s")
            elif not low_is_bad and value > limit:
                reasons.append(f"latency above {limit:g} ms")
        ok: bool | None = not reasons if known or reasons else None
        out.append({"key": case.key, "label": case.label, "ok": ok, "reasons": reasons})
    return out


def table(cases: UseCaseTable = DEFAULT_TABLE) -> list[dict[str, Any]]:
    """The table as the pages read it (``min_download``, ``min_upload``, ``max_latency``,
    ``max_loss``, ``weights``, ``weight`` per use)."""
    return [
        {
            "key": c.key,
            "label": c.label,
            "min_download": c.min_download,
            "min_upload": c.min_upload,
            "max_latency": c.max_latency,
            "max_loss": c.max_loss,
            "weights": dict(zip(METRICS, c.weights, strict=True)),
            "weight": c.weight,
        }
        for c in cases.cases
    ]
