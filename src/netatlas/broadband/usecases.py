"""What a measured connection is good enough for, in words a person understands.

Thresholds per use (after M-Lab's Internet Quality Barometer idea: judge a connection by what
people do with it, not by one number). The figures are the common published guidance of the
services involved, rounded: video-call apps ask about 3–4 Mbit/s each way for HD calls and
under ~150 ms of delay; 4K streaming services ask 15–25 Mbit/s; fast online games want
delay well under 50 ms. The page uses the same table (it is sent in the page's settings).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["USE_CASES", "UseCase", "judge"]


@dataclass(frozen=True, slots=True)
class UseCase:
    key: str
    label: str
    min_download: float  # Mbit/s
    min_upload: float  # Mbit/s
    max_latency: float  # ms (MinRTT)


USE_CASES: tuple[UseCase, ...] = (
    UseCase("browsing", "Web browsing and e-mail", 3.0, 0.5, 200.0),
    UseCase("video_calls", "HD video calls", 4.0, 3.0, 150.0),
    UseCase("streaming_4k", "4K video streaming", 25.0, 0.5, 500.0),
    UseCase("gaming", "Online gaming", 10.0, 3.0, 50.0),
)


def judge(
    download: float | None, upload: float | None, latency: float | None
) -> list[dict[str, Any]]:
    """For each use: ``ok`` (True/False, or None when a figure is missing) and why not."""
    out = []
    for case in USE_CASES:
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


def table() -> list[dict[str, Any]]:
    return [asdict(case) for case in USE_CASES]
