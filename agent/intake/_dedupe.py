"""Resends are journaled once: by the vendor's event id, or by plate within a few seconds.

Cameras resend an event when our answer does not reach them in time, with the
same event id; some send one vehicle twice (two triggers, two lanes' loops)
with new ids. Both are answered ``duplicate`` and journaled once. The memory
is bounded: ids are kept for ``id_ttl_s`` (at most ``max_ids``), plates for as
long as a pass within ``window_s`` of theirs can still arrive. What it holds
stays in this process's memory on the police side, like the read queue.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.core.events import PlateRead

__all__ = ["Dedupe"]


class Dedupe:
    """Remembers what was taken; :meth:`claim` says whether a read is new (and keeps it)."""

    def __init__(
        self,
        window_s: float,
        *,
        id_ttl_s: float = 3600.0,
        plate_ttl_s: float = 600.0,
        max_ids: int = 100_000,
    ) -> None:
        self._window_ms = round(window_s * 1000)
        self._id_ttl = id_ttl_s
        self._plate_ttl = plate_ttl_s
        self._max_ids = max_ids
        self._ids: OrderedDict[str, float] = OrderedDict()
        # plate -> [(pass ms, arrival monotonic)]: several passes of one plate can be remembered
        self._plates: dict[str, list[tuple[int, float]]] = {}
        self._plate_order: OrderedDict[tuple[str, int], float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, read: PlateRead, event_id: str | None, now: float | None = None) -> bool:
        """True (and remembered) when neither the id nor the plate near this time was taken."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._expire(now)
            if event_id is not None and event_id in self._ids:
                return False
            if self._window_ms > 0:
                for pass_ms, _ in self._plates.get(read.text, ()):
                    if abs(pass_ms - read.wall_ms) <= self._window_ms:
                        return False
            if event_id is not None:
                self._ids[event_id] = now
                while len(self._ids) > self._max_ids:
                    self._ids.popitem(last=False)
            if self._window_ms > 0:
                self._plates.setdefault(read.text, []).append((read.wall_ms, now))
                self._plate_order[(read.text, read.wall_ms)] = now
            return True

    def release(self, read: PlateRead, event_id: str | None) -> None:
        """Forget a claim whose read could not be handed over (the camera will resend it)."""
        with self._lock:
            if event_id is not None:
                self._ids.pop(event_id, None)
            kept = [p for p in self._plates.get(read.text, ()) if p[0] != read.wall_ms]
            if kept:
                self._plates[read.text] = kept
            else:
                self._plates.pop(read.text, None)
            self._plate_order.pop((read.text, read.wall_ms), None)

    def _expire(self, now: float) -> None:
        while self._ids:
            _, seen = next(iter(self._ids.items()))
            if now - seen <= self._id_ttl:
                break
            self._ids.popitem(last=False)
        while self._plate_order:
            (plate, pass_ms), seen = next(iter(self._plate_order.items()))
            if now - seen <= self._plate_ttl:
                break
            self._plate_order.popitem(last=False)
            kept = [p for p in self._plates.get(plate, ()) if p[0] != pass_ms]
            if kept:
                self._plates[plate] = kept
            else:
                self._plates.pop(plate, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids) + len(self._plate_order)
