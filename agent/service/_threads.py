"""The service's long-lived threads: a thread that dies is logged, named in an alarm, and fatal.

Every long-lived thread either survives a bad input on its own (counts it,
raises an alarm, goes on: the uplinks with a bad back-office message or an
unexpected error on one connection, the journal writer with a batch that
fails in an unplanned way) or, when it ends anyway, dies loudly:

- its traceback goes through the log's one redaction point
  (``threading.excepthook`` and ``sys.excepthook`` log it; they never print
  raw to stderr), so a plate in an exception message never reaches journald;
- :meth:`ThreadWatch.dead` names it, which the service turns into an alarm,
  stops the watchdog pings and ends the process with exit 1, so systemd
  restarts the agent.

A thread is seen dead either by its uncaught exception (any thread of the
process, the civil window clock included) or by a liveness check the service
registers for the threads it owns (uplinks, journal writer, journal feed,
read source).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

__all__ = ["ThreadWatch"]

log = logging.getLogger("anpr.threads")


class ThreadWatch:
    """Deaths of threads, from uncaught exceptions and from liveness checks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deaths: dict[str, str] = {}
        self._checks: list[tuple[str, Callable[[], bool]]] = []
        self._saved: tuple[object, object] | None = None

    def watch(self, name: str, alive: Callable[[], bool]) -> None:
        """Check ``alive()`` on every :meth:`dead` call; False means ``name`` ended."""
        with self._lock:
            self._checks.append((name, alive))

    def install(self) -> None:
        """Route uncaught exceptions of every thread (and the main one) through the log."""
        if self._saved is None:
            self._saved = (threading.excepthook, sys.excepthook)
            threading.excepthook = self._thread_hook
            sys.excepthook = self._main_hook

    def uninstall(self) -> None:
        """Put the previous hooks back (the service stopped)."""
        if self._saved is not None:
            thread_hook, main_hook = self._saved
            threading.excepthook = thread_hook  # type: ignore[assignment]
            sys.excepthook = main_hook  # type: ignore[assignment]
            self._saved = None

    def dead(self) -> list[str]:
        """One line per thread that ended: ``thread NAME died: WHY``."""
        with self._lock:
            deaths = dict(self._deaths)
            checks = list(self._checks)
        for name, alive in checks:
            if name not in deaths and not alive():
                deaths[name] = "ended"
        return [f"thread {name} died: {why}" for name, why in sorted(deaths.items())]

    def _record(self, name: str, why: str) -> None:
        with self._lock:
            self._deaths.setdefault(name, why)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return  # threading's own rule: a thread may end itself quietly
        name = args.thread.name if args.thread is not None else "?"
        self._log(name, args.exc_type, args.exc_value, args.exc_traceback)

    def _main_hook(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        self._log("main", exc_type, exc, tb)

    def _log(
        self,
        name: str,
        exc_type: type[BaseException],
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._record(name, exc_type.__name__)
        log.critical(
            "thread %s died of an uncaught %s; the agent stops so that it is restarted",
            name,
            exc_type.__name__,
            exc_info=(exc_type, exc, tb) if exc is not None else None,
        )
