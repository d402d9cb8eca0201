"""The quota holds against the real disk (WAL included); a full journal still writes its
delivery marks, acts on its policy, keeps count windows waiting, and resumes by itself.

Each test mounts a 2 MB tmpfs (we run as root in CI; skipped with the reason otherwise).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest
from conftest import JournalKit, make_read, mount_tmpfs
from uplink_rig import make_backoffice, make_uplink, uplink_config, wait_until

from agent.journal.store import JournalFullError
from agent.security.tls import build_client_context

if TYPE_CHECKING:
    from collections.abc import Iterator
    from concurrent.futures import Future
    from pathlib import Path

    from agent.journal.store import Journal
    from simulator.broker import Broker
    from simulator.pki import DevPki

MIB = 1024 * 1024
CROP = bytes(range(256)) * 6  # 1.5 KB: a record is ~2.6 KB on disk
WINDOW = {"window_start": 0, "window_end": 900, "total": 0}


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    yield from mount_tmpfs(tmp_path, "2m")


def _footprint(path: Path) -> int:
    """Bytes the journal holds on disk: the database, its write-ahead log and WAL index."""
    names = (path.name, path.name + "-wal", path.name + "-shm")
    return sum(p.stat().st_size for p in (path.with_name(n) for n in names) if p.exists())


def _fill(journal: Journal, limit: int = 5000) -> int:
    stored = 0
    with contextlib.suppress(JournalFullError):
        for _ in range(limit):
            journal.append_read(make_read(crop=CROP))
            stored += 1
    return stored


def _parked_window(journal: Journal) -> Future[int]:
    """Count windows until one finds no room: it waits (unresolved), it is not refused."""
    for _ in range(500):
        window = journal.submit_count(dict(WINDOW))
        try:
            window.result(timeout=1.5)
        except TimeoutError:
            return window
    pytest.fail("the full journal kept taking count windows")


def _deliver(journal: Journal, kit: JournalKit, police: Broker, pki: DevPki, reads: int) -> None:
    """Broker up: the back office gets every read and confirms it; the marks are written."""
    office = make_backoffice(police.url, pki, kit)
    office.start()
    cfg = uplink_config(pki, [police.url])
    uplink = make_uplink(journal, cfg, lambda: build_client_context(cfg))
    uplink.start()
    try:
        head = journal.stats().streams[1].head_seq
        assert office.wait_complete("cam-01", head, timeout=60)
        feed = office.feed("cam-01")
        assert feed is not None
        assert len(feed.opened) == reads  # nothing lost
        assert wait_until(lambda: journal.stats().streams[1].pending == 0, 30)
        assert wait_until(lambda: journal.stats().streams[1].published == 0, 30), (
            "the back office confirmed everything, but the journal did not record it: "
            f"{journal.stats()} {journal.alarms} {uplink.alarms} {uplink.stats}"
        )
        assert uplink.stats.resent == 0  # a late mark is not a reason to send again
    finally:
        uplink.stop(2)
        office.stop()


def _resumes_by_itself(journal: Journal, kit: JournalKit, window: Future[int]) -> None:
    kit.clock.advance(3 * 86_400)  # past retention: the writer's own minute job purges
    assert window.result(timeout=30) > 0  # the count window waited and is now written
    assert journal.append_read(make_read(crop=CROP), timeout=30) > 0
    assert not any("full" in a for a in journal.alarms)


@pytest.mark.broker
def test_the_quota_holds_against_the_disk_and_delivery_resumes_by_itself(
    disk: Path, police: Broker, pki: DevPki
) -> None:
    kit = JournalKit(disk / "journal.sqlite", quota_bytes=MIB, retention_days=1)
    journal = kit.open()
    stored = _fill(journal)
    assert stored > 150
    assert any("journal full" in a for a in journal.alarms)
    assert _footprint(kit.path) <= MIB, "database + WAL outgrew the quota"
    window = _parked_window(journal)
    _deliver(journal, kit, police, pki, stored)
    assert _footprint(kit.path) <= MIB
    _resumes_by_itself(journal, kit, window)
    kit.close()


@pytest.mark.broker
def test_a_disk_smaller_than_the_quota_still_takes_marks_and_resumes(
    disk: Path, police: Broker, pki: DevPki
) -> None:
    kit = JournalKit(disk / "journal.sqlite", quota_bytes=64 * MIB, retention_days=1)
    journal = kit.open()
    stored = _fill(journal)
    assert stored > 100
    assert any("full" in a for a in journal.alarms)
    window = _parked_window(journal)
    _deliver(journal, kit, police, pki, stored)
    _resumes_by_itself(journal, kit, window)
    kit.close()


def test_drop_oldest_unconfirmed_acts_and_never_refuses(disk: Path) -> None:
    kit = JournalKit(
        disk / "journal.sqlite", quota_bytes=MIB, quota_policy="drop-oldest-unconfirmed"
    )
    journal = kit.open()
    for _ in range(1200):  # three times what the quota holds
        journal.append_read(make_read(crop=CROP), timeout=30)
    stats = journal.stats().streams[1]
    assert stats.head_seq >= 1200
    assert stats.first_seq is not None
    assert stats.first_seq > 1  # the oldest went, with purge records saying so
    assert _footprint(kit.path) <= MIB
    assert journal.append_count(dict(WINDOW), timeout=30) > 0
    kit.close()
