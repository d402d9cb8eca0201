"""Active alarms of a component: one line each, keyed so a condition is raised and cleared once."""

from __future__ import annotations

import threading

__all__ = ["Alarms"]


class Alarms:
    """A thread-safe set of named alarm lines (for metrics, status and ``anpr-agent status``)."""

    def __init__(self) -> None:
        self._lines: dict[str, str] = {}
        self._lock = threading.Lock()

    def raise_(self, key: str, line: str) -> None:
        """Raise (or update) the alarm ``key``."""
        with self._lock:
            self._lines[key] = line

    def clear(self, key: str) -> None:
        """Clear the alarm ``key`` if it is raised."""
        with self._lock:
            self._lines.pop(key, None)

    def lines(self) -> tuple[str, ...]:
        """Every active alarm's line."""
        with self._lock:
            return tuple(self._lines.values())
