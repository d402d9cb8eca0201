"""Fakes for the agent's own seams (clock, ...), for tests and the simulator.

Only our seams are faked: paho, SQLite and cryptography are always the real ones.
"""

from __future__ import annotations

import threading

__all__ = ["FakeClock"]


class FakeClock:
    """A clock that moves only when told; wall time may jump backwards like an NTP step."""

    def __init__(self, wall: float = 1_800_000_000.0, monotonic: float = 1000.0) -> None:
        self._lock = threading.Lock()
        self._wall = wall
        self._mono = monotonic

    def wall(self) -> float:
        """Current fake wall-clock time."""
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        """Current fake monotonic time."""
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        if seconds < 0:
            raise ValueError("advance() only moves forward; use step_wall() for a jump")
        with self._lock:
            self._wall += seconds
            self._mono += seconds

    def step_wall(self, seconds: float) -> None:
        """Step the wall clock alone (either way), as NTP does; monotonic time is untouched."""
        with self._lock:
            self._wall += seconds
