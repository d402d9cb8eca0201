"""A full disk (the OS's, not the quota) is survived like a full quota: alarm, refuse, resume."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from conftest import JournalKit, make_read, mount_tmpfs

from agent.journal.store import JournalFullError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    yield from mount_tmpfs(tmp_path, "3m")


def test_disk_full_refuses_with_an_alarm_and_resumes(small_disk: Path) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 1024 * 1024)
    kit = JournalKit(small_disk / "journal.sqlite", quota_bytes=1024**3)
    journal = kit.open()
    crop = bytes(range(256)) * 12
    stored = 0
    refused = False
    while stored < 2000 and not refused:
        try:
            journal.append_read(make_read(crop=crop))
            stored += 1
        except JournalFullError:
            refused = True
    assert refused
    assert stored > 50
    assert any("journal full" in a for a in journal.alarms)
    filler.unlink()  # the operator frees space
    assert journal.append_read(make_read()) == stored + 1 + stored // 1000
    assert journal.alarms == ()
    kit.close()
