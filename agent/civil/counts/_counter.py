"""The window counter: reads in, closed windows of coarse counts out.

Each read is reduced on arrival to its cell labels and its window index; the
read itself (plate, crop, exact time) is never kept. Time rules:

* **Windows** are ``[i*window_s, (i+1)*window_s)`` in wall-clock epoch seconds;
  a pass belongs to the window of its count time (``seen_ms`` of a read when
  set, else ``wall_ms``: the last frame its plate was seen in, or with
  virtual loops when its vehicle left its loop), so a read exactly on a
  boundary opens the later window.
* **Closing.** Window ``i`` is emitted by the first :meth:`WindowCounter.poll`
  at or after its end plus ``grace_s``. Windows are emitted one by one in
  index order, each exactly once, zero-traffic windows included.
* **Late reads.** A read whose window was already emitted is never lost and
  never reopens a window: it adds 1 to the ``late`` tally of the next window
  to be emitted (the oldest still open), with none of its labels.
* **Wall clock stepping back** (NTP): nothing is emitted again. Emission waits
  until the clock passes the end (plus grace) of the next window again; reads
  stamped inside already-emitted windows meanwhile count as late.
* **Wall clock stepping forward**, a suspend, or an agent restart: the windows
  in between are still emitted (with zero counts), and each window says how
  much of it the counter watched: ``coverage`` ``"full"``, ``"partial"`` or
  ``"none"``, so a city can tell "no traffic" from "not counting". Steps are
  found by comparing wall and monotonic time between polls.
* **Restart.** Start from the end of the last window published (the journal
  knows it): ``published_until=...``; or from :meth:`WindowCounter.state`
  saved at shutdown via :meth:`WindowCounter.restore`. Either way no window is
  emitted twice, and windows the counter did not fully watch say so.

:meth:`add` never reads the clock and the state holds no arrival time, so no
pass time finer than the window leaks into anything the counter stores.
Call :meth:`poll` and :meth:`state` from a timer, never per read.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from agent.civil.counts._cells import CellKey, Json, cell_key, window_index
from agent.core.events import UnreadPass

if TYPE_CHECKING:
    from collections.abc import Mapping

    from agent.config.schema import CountsConfig
    from agent.core.clock import Clock
    from agent.core.events import PlateRead

__all__ = ["STATE_VERSION", "CountWindow", "Coverage", "WindowCounter"]

Coverage = Literal["full", "partial", "none"]

STATE_VERSION = 1

# Wall time running ahead of monotonic time by more than this between two polls
# is a step (or a suspend); NTP slewing stays far below it.
_STEP_TOLERANCE_S = 2.0

# Times in the saved state are coarsened to this (gaps outwards, so coverage only
# errs towards "not watched"): even a state saved right after a read does not
# carry that read's arrival second.
_STATE_TIME_GRAIN_S = 60


def _coarse_gap(start: float, end: float) -> list[Json]:
    grain = _STATE_TIME_GRAIN_S
    return [math.floor(start / grain) * grain, math.ceil(end / grain) * grain]


@dataclass(frozen=True, slots=True)
class CountWindow:
    """One closed window's raw counts, before disclosure control.

    Never publish this as is: :func:`agent.counts.civil_message` is the only way
    to a civil message. ``cells`` holds the nonzero cells, sorted by key;
    ``late`` counts reads that arrived after their own window had been emitted.
    """

    start: int  # epoch seconds, a multiple of window_s
    end: int  # exclusive
    cells: tuple[tuple[CellKey, int], ...]
    late: int
    coverage: Coverage

    @property
    def total(self) -> int:
        """Vehicles counted in this window (late reads excluded)."""
        return sum(n for _, n in self.cells)


def _unwatched(start: float, end: float, gaps: list[tuple[float, float]]) -> float:
    """Seconds of ``[start, end)`` covered by the union of ``gaps``."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in gaps if a < end and b > start)
    covered, reach = 0.0, start
    for a, b in clipped:
        lo = max(a, reach)
        if b > lo:
            covered += b - lo
            reach = b
    return covered


class WindowCounter:
    """Counts reads into wall-clock windows and emits each closed window exactly once.

    Thread-safe: the tracker thread calls :meth:`add`, the window clock calls
    :meth:`poll`. ``published_until`` (epoch seconds, exclusive) is where a
    restarted agent resumes: the end of the last window it published. Without
    it, counting starts with the window the clock is in now (marked partial).
    """

    def __init__(
        self, config: CountsConfig, clock: Clock, *, published_until: int | None = None
    ) -> None:
        self._config = config
        self._clock = clock
        self._window_s = config.window_s
        self._lock = threading.Lock()
        wall, mono = clock.wall(), clock.monotonic()
        if published_until is None:
            self._next = math.floor(wall) // self._window_s
            unwatched_from: float = self._next * self._window_s
        else:
            self._next = -(-published_until // self._window_s)  # first window not yet published
            unwatched_from = published_until
        self._tallies: dict[int, Counter[CellKey]] = {}
        self._late = 0
        self._gaps: list[tuple[float, float]] = []
        if wall > unwatched_from:
            self._gaps.append((unwatched_from, wall))
        self._last = (wall, mono)

    @property
    def next_window_start(self) -> int:
        """Start (epoch seconds) of the next window :meth:`poll` will emit."""
        with self._lock:
            return self._next * self._window_s

    def add(self, read: PlateRead | UnreadPass) -> None:
        """Count one pass, read or not: keep its coarse labels and window, drop everything else."""
        seen = None if isinstance(read, UnreadPass) else read.seen_ms
        window = window_index(read.wall_ms if seen is None else seen, self._window_s)
        key = cell_key(read, self._config)
        with self._lock:
            if window < self._next:
                self._late += 1
            else:
                self._tallies.setdefault(window, Counter())[key] += 1

    def poll(self, limit: int | None = None) -> list[CountWindow]:
        """Close and return, oldest first, every window whose grace has passed.

        ``limit`` caps how many windows one call returns (after a long outage
        or a big forward step there may be many); the rest come next call.
        """
        with self._lock:
            wall = self._observe()
            out: list[CountWindow] = []
            while (self._next + 1) * self._window_s + self._config.grace_s <= wall:
                if limit is not None and len(out) >= limit:
                    break
                out.append(self._close(self._next))
                self._next += 1
            horizon = self._next * self._window_s
            self._gaps = [(a, b) for a, b in self._gaps if b > horizon]
            return out

    def state(self) -> dict[str, Json]:
        """Everything needed to resume without double or lost windows, as canonical-JSON values.

        It holds labels and counts per open window, never a plate, a read, or a
        pass time. Keep it on the police side (it is not disclosure-controlled).
        """
        with self._lock:
            self._observe()
            horizon = self._next * self._window_s
            observed = math.floor(self._last[0]) // _STATE_TIME_GRAIN_S * _STATE_TIME_GRAIN_S
            return {
                "version": STATE_VERSION,
                "window_s": self._window_s,
                "dimensions": list(self._config.dimensions),
                "next_window_start": horizon,
                "late": self._late,
                "observed_until": observed,
                "gaps": [_coarse_gap(a, b) for a, b in self._gaps if b > horizon],
                "open": [
                    {
                        "start": w * self._window_s,
                        "cells": [[list(key), n] for key, n in sorted(tally.items())],
                    }
                    for w, tally in sorted(self._tallies.items())
                ],
            }

    @classmethod
    def restore(
        cls, config: CountsConfig, clock: Clock, state: Mapping[str, object]
    ) -> WindowCounter:
        """A counter that continues from :meth:`state`.

        Raises ``ValueError`` if the state is malformed or was made with another
        ``window_s`` or other dimensions; resume with ``published_until`` then.
        """
        saved = _parse_state(state)
        if saved.window_s != config.window_s or saved.dimensions != config.dimensions:
            raise ValueError("counter state was saved with another window_s or dimensions")
        counter = cls(config, clock, published_until=saved.next_window_start)
        wall = counter._last[0]
        counter._gaps = list(saved.gaps)
        if wall > saved.observed_until:
            counter._gaps.append((saved.observed_until, wall))
        counter._late = saved.late
        for start, cells in saved.open:
            if start % config.window_s or start < saved.next_window_start:
                raise ValueError("counter state: an open window is misaligned or already emitted")
            counter._tallies[start // config.window_s] = Counter(dict(cells))
        return counter

    def _observe(self) -> float:
        """Read the clock; record a forward step as an unwatched interval. Holds the lock."""
        wall, mono = self._clock.wall(), self._clock.monotonic()
        last_wall, last_mono = self._last
        expected = last_wall + (mono - last_mono)
        if wall - expected > _STEP_TOLERANCE_S:
            self._gaps.append((expected, wall))
        self._last = (wall, mono)
        return wall

    def _close(self, window: int) -> CountWindow:
        tally = self._tallies.pop(window, Counter())
        start = window * self._window_s
        end = start + self._window_s
        unwatched = _unwatched(start, end, self._gaps)
        coverage: Coverage = (
            "full" if unwatched == 0 else "none" if unwatched >= self._window_s else "partial"
        )
        late, self._late = self._late, 0
        cells = tuple(sorted((key, n) for key, n in tally.items() if n))
        return CountWindow(start, end, cells, late, coverage)


@dataclass(frozen=True, slots=True)
class _SavedState:
    window_s: int
    dimensions: tuple[str, ...]
    next_window_start: int
    late: int
    observed_until: int
    gaps: tuple[tuple[int, int], ...]
    open: tuple[tuple[int, tuple[tuple[CellKey, int], ...]], ...]


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("counter state: expected an integer")
    return value


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError("counter state: expected a list")
    return value


def _dict(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise TypeError("counter state: expected an object per open window")
    return value


def _labels(value: object) -> tuple[str, ...]:
    labels = tuple(_list(value))
    if not all(isinstance(x, str) for x in labels):
        raise TypeError("counter state: expected a list of labels")
    return tuple(str(x) for x in labels)


def _pair(value: object) -> tuple[object, object]:
    items = _list(value)
    if len(items) != 2:
        raise ValueError("counter state: expected a pair")
    return items[0], items[1]


def _parse_state(state: Mapping[str, object]) -> _SavedState:
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"counter state: unknown version {state.get('version')!r}")
    try:
        dimensions = _labels(state["dimensions"])
        opened = []
        for item in map(_dict, _list(state["open"])):
            cells = []
            for cell in _list(item["cells"]):
                key, n = _pair(cell)
                labels, count = _labels(key), _int(n)
                if len(labels) != len(dimensions) or count < 0:
                    raise ValueError("counter state: bad cell")
                cells.append((labels, count))
            opened.append((_int(item["start"]), tuple(cells)))
        gaps = tuple((_int(a), _int(b)) for a, b in map(_pair, _list(state["gaps"])))
        return _SavedState(
            window_s=_int(state["window_s"]),
            dimensions=dimensions,
            next_window_start=_int(state["next_window_start"]),
            late=_int(state["late"]),
            observed_until=_int(state["observed_until"]),
            gaps=gaps,
            open=tuple(opened),
        )
    except KeyError as exc:
        raise ValueError(f"counter state: missing {exc.args[0]!r}") from None
    except TypeError as exc:
        raise ValueError(str(exc)) from None
