"""The civil flux at run time: count reads, journal each closed window, once.

:class:`CivilFlux` owns a :class:`~agent.counts.WindowCounter`. The tracker
hands it every vehicle pass, read (:class:`~agent.core.events.PlateRead`) or
not (:class:`~agent.core.events.UnreadPass`); it keeps only coarse labels;
a timer thread closes windows and appends each one's civil message, as a
``count`` record, to the journal's ``counts`` stream. The civil uplink (an
:class:`~agent.uplink.Uplink` on its own connection) delivers that stream.

Restart safety comes from the journal: at start the counter resumes at the end
of the last window journaled, so a window is published exactly once even when
the agent dies in the middle of it (reads counted before the crash are lost
with the process; the window's ``coverage`` says it was not fully watched).
A graceful stop keeps the open window: :meth:`CivilFlux.stop` saves the
counter's state (labels and counts per open window, no read, no pass time) to
``state_path`` (0600, beside the journal: police side), and the next start
restores it when it follows on from the last window journaled, then deletes it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import TYPE_CHECKING

from agent.civil.counts import WindowCounter, civil_message
from agent.journal.store import JournalFullError

if TYPE_CHECKING:
    from pathlib import Path

    from agent.config.schema import CountsConfig
    from agent.core.clock import Clock
    from agent.core.events import PlateRead, UnreadPass
    from agent.journal.store import Journal

__all__ = ["CivilFlux"]

log = logging.getLogger("anpr.civil")

_MAX_WINDOWS_PER_POLL = 100  # after a long outage, catch up in bounded steps


class CivilFlux:
    """Counter + window clock; start with :meth:`start`, feed with :meth:`add`."""

    def __init__(  # noqa: PLR0913 - the flux's seams are explicit
        self,
        config: CountsConfig,
        *,
        camera_id: str,
        journal: Journal,
        clock: Clock,
        poll_s: float = 1.0,
        state_path: Path | None = None,
    ) -> None:
        self._config = config
        self._camera = camera_id
        self._journal = journal
        self._poll_s = poll_s
        self._state_path = state_path
        self.published_until = journal.last_window_end()
        self.restored = False  # the open window came back from a graceful stop's state
        self._counter = self._resume(config, clock)
        self.windows_journaled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="civil-windows", daemon=True)

    def add(self, read: PlateRead | UnreadPass) -> None:
        """Count one vehicle pass (the counter keeps only its coarse labels and window)."""
        self._counter.add(read)

    def start(self) -> None:
        """Start the window clock (a state restored at construction is used up now)."""
        if self._state_path is not None:
            self._state_path.unlink(missing_ok=True)  # a later crash must not restore it
        self._thread.start()

    def stop(self) -> None:
        """Stop the window clock; save the open windows for the next start (``state_path``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        if self._state_path is not None:
            self._save(self._state_path)

    def _save(self, path: Path) -> None:
        data = json.dumps(self._counter.state(), sort_keys=True).encode("utf-8")
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
        except OSError as exc:
            log.error("civil: open count window not saved (%s): it restarts partial", exc)  # noqa: TRY400

    def _resume(self, config: CountsConfig, clock: Clock) -> WindowCounter:
        """Restore a graceful stop's counter when it follows the last window journaled."""
        fresh = WindowCounter(config, clock, published_until=self.published_until)
        if self._state_path is None or not self._state_path.exists():
            return fresh
        try:
            counter = WindowCounter.restore(config, clock, _read_state(self._state_path))
        except (OSError, ValueError) as exc:
            log.warning("civil: saved count state %s not used: %s", self._state_path, exc)
            return fresh
        if self.published_until is not None and (
            counter.next_window_start != fresh.next_window_start
        ):
            log.warning(
                "civil: saved count state %s does not follow the last window journaled: not used",
                self._state_path,
            )
            return fresh
        self.restored = True
        return counter

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


def _read_state(path: Path) -> dict[str, object]:
    saved = json.loads(path.read_bytes())
    if not isinstance(saved, dict):
        raise ValueError("not a JSON object")  # noqa: TRY004 - reported as unusable
    return saved
