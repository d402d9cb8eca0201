"""One process at a time on a journal: an advisory lock next to the file.

The journal's writer keeps the chain head in memory, so a second writer (a
second agent, or ``keys rotate`` while the agent runs) would fork the chain.
``flock`` is released by the kernel when the holder dies, so a crash leaves
no stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["JournalLock", "JournalLockError"]


class JournalLockError(Exception):
    """The journal is held by another process, or its directory is unusable (one line)."""


class JournalLock:
    """Exclusive lock on ``<journal>.lock``; use as a context manager or call release()."""

    def __init__(self, journal: Path) -> None:
        lock = journal.with_name(journal.name + ".lock")
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise JournalLockError(f"journal directory {journal.parent} does not exist") from None
        except OSError as exc:
            msg = f"journal lock {lock} cannot be opened: {exc.strerror}"
            raise JournalLockError(msg) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            msg = (
                f"journal {journal} is in use by another anpr-agent "
                "(stop it first: systemctl stop anpr-agent)"
            )
            raise JournalLockError(msg) from None
        self._fd = fd

    def release(self) -> None:
        """Give the lock up."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
