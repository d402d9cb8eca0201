"""Time as a seam: logic asks a :class:`Clock`; tests inject :class:`agent.testing.FakeClock`."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Wall-clock and monotonic time."""

    def wall(self) -> float:
        """Seconds since the epoch (may jump, e.g. an NTP step)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""
        ...


class SystemClock:
    """The real clock."""

    def wall(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def monotonic(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()
