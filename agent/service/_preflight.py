"""What ``anpr-agent check-config`` and ``anpr-agent run`` both check before anything runs.

One path for both, so that a configuration the checker passes is not refused
at start: the pure config (at load), the files it names (keys, certificates,
CRLs, the two fluxes kept apart) and the journal file (SQLite, this
application's, this camera's, readable), all reading only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.config.files import check_files
from agent.journal.db import JournalError, inspect_journal

if TYPE_CHECKING:
    import datetime as dt

    from agent.config.load import LoadedConfig

__all__ = ["preflight"]


def preflight(loaded: LoadedConfig, now: dt.datetime | None = None) -> list[str]:
    """One line per problem that would stop the agent (empty when none); writes nothing."""
    problems = check_files(loaded, now)
    cfg = loaded.config
    try:
        inspect_journal(cfg.journal.path, cfg.camera.id)
    except JournalError as exc:
        problems.append(f"journal.path: {exc}")
    return problems
