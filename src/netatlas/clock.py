"""Wall clocks, behind one small Protocol.

Code that keeps deadlines in seconds since the epoch (queue leases, rate windows, expiries)
takes a ``Clock`` instead of calling :func:`time.time` itself. Production passes
:data:`system_clock`; a test passes a :class:`ManualClock` and moves time forward by hand, so
that an expiry is reached by advancing the clock rather than by sleeping past it.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "system_clock"]


class Clock(Protocol):
    def __call__(self) -> float:
        """Seconds since the epoch (UTC), as :func:`time.time` gives them."""


system_clock: Clock = time.time


class ManualClock:
    """A clock that moves only when told to: :meth:`advance` or :meth:`set`."""

    def __init__(self, now: float | None = None) -> None:
        # By default it starts at the real time, so that what it stamps still reads as "now".
        self.now = time.time() if now is None else float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds

    def set(self, now: float) -> None:
        self.now = float(now)
