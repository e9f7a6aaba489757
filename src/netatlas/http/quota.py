"""What a client is told about its limits: ``X-RateLimit-*`` headers.

* ``X-RateLimit-Limit``: requests allowed in the current window (a key's day, or the keyless
  minute);
* ``X-RateLimit-Remaining``: how many of them are left after this request;
* ``X-RateLimit-Reset``: seconds until the window ends and the count starts again (a delta,
  like ``Retry-After``, so client clocks do not matter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DAY", "Usage", "seconds_to_day_end", "seconds_to_window_end"]

DAY = 86400


@dataclass(frozen=True)
class Usage:
    """A client's standing in one limit after a request was counted."""

    limit: int
    used: int
    reset: int  # seconds until the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


def seconds_to_window_end(now: float, window: int) -> int:
    """Whole seconds (at least 1) until the fixed window of ``window`` seconds holding ``now``
    ends."""
    return max(1, math.ceil((math.floor(now / window) + 1) * window - now))


def seconds_to_day_end(now: float) -> int:
    """Whole seconds (at least 1) until the next UTC midnight: when daily counters restart."""
    return seconds_to_window_end(now, DAY)
