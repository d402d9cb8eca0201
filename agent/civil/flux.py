"""The civil flux at run time: count reads, journal each closed window, once.

:class:`CivilFlux` owns a :class:`~agent.counts.WindowCounter`. The tracker
hands it every :class:`~agent.events.PlateRead` (it keeps only coarse labels);
a timer thread closes windows and appends each one's civil message, as a
``count`` record, to the journal's ``counts`` stream. The civil uplink (an
:class:`~agent.uplink.Uplink` on its own connection) delivers that stream.

Restart safety comes from the journal: at start the counter resumes at the end
of the last window journaled, so a window is published exactly once even when
the agent dies in the middle of it (reads counted before the crash are lost
with the process; the window's ``coverage`` says it was not fully watched).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from agent.civil.counts import WindowCounter, civil_message
from agent.journal.store import JournalFullError

if TYPE_CHECKING:
    from agent.config.schema import CountsConfig
    from agent.core.clock import Clock
    from agent.core.events import PlateRead
    from agent.journal.store import Journal

__all__ = ["CivilFlux"]

log = logging.getLogger("anpr.civil")

_MAX_WINDOWS_PER_POLL = 100  # after a long outage, catch up in bounded steps


class CivilFlux:
    """Counter + window clock; start with :meth:`start`, feed with :meth:`add`."""

    def __init__(
        self,
        config: CountsConfig,
        *,
        camera_id: str,
        journal: Journal,
        clock: Clock,
        poll_s: float = 1.0,
    ) -> None:
        self._config = config
        self._camera = camera_id
        self._journal = journal
        self._poll_s = poll_s
        self.published_until = journal.last_window_end()
        self._counter = WindowCounter(config, clock, published_until=self.published_until)
        self.windows_journaled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="civil-windows", daemon=True)

    def add(self, read: PlateRead) -> None:
        """Count one vehicle pass (the counter keeps only its coarse labels and window)."""
        self._counter.add(read)

    def start(self) -> None:
        """Start the window clock."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the window clock (windows not yet closed are not published)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def tick(self) -> int:
        """Close due windows and journal them in order; return how many were journaled."""
        done = 0
        for window in self._counter.poll(limit=_MAX_WINDOWS_PER_POLL):
            body = civil_message(window, self._config, self._camera)
            try:
                self._journal.append_count(dict(body))
                refused = False
            except JournalFullError:
                refused = True
            if refused:
                # The counter has moved on: this window is lost to the city. Say so.
                log.error("civil: journal full, count window %s not published", body["id"])
                continue
            self.windows_journaled += 1
            self.published_until = window.end
            done += 1
        return done

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            self.tick()
