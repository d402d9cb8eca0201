"""The agent's share of duplicates: only what was in flight when a connection died.

A record the broker PUBACKed is never sent again by the agent, even when the
journal has not yet written its "published" mark at the moment the connection
drops (a busy or full disk): before, every such record looked pending after the
reconnect and was sent again, well past the in-flight window.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest
from conftest import make_read
from uplink_rig import make_backoffice, make_uplink, uplink_config, wait_until

from agent.security.tls import build_client_context

if TYPE_CHECKING:
    from conftest import JournalKit

    from simulator.broker import Broker
    from simulator.pki import DevPki

pytestmark = pytest.mark.broker


def test_a_pubacked_record_whose_mark_is_late_is_not_sent_again(
    police: Broker, pki: DevPki, kit: JournalKit
) -> None:
    journal = kit.open()
    for _ in range(200):
        journal.submit_read(make_read())
    journal.sync().result(timeout=30)
    office = make_backoffice(police.url, pki, kit)
    office.start()
    cfg = uplink_config(pki, [police.url], inflight=50)
    uplink = make_uplink(journal, cfg, lambda: build_client_context(cfg))
    # The journal's writer cannot commit for a while: the marks of what is PUBACKed wait.
    blocker = sqlite3.connect(kit.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    uplink.start()
    try:
        assert wait_until(lambda: uplink.stats.published == 200, 10)
        assert journal.stats().streams[1].pending == 200  # the marks are not written yet
        police.kill()  # nothing in flight: every record was PUBACKed
        police.start()
        assert wait_until(lambda: uplink.stats.connects >= 2, 10)
        assert wait_until(lambda: uplink.stats.inflight == 0, 5)
        blocker.execute("ROLLBACK")  # well inside the writer's 10 s busy timeout
        blocker.close()
        assert office.wait_complete("cam-01", 200, timeout=30)
        assert wait_until(lambda: journal.stats().streams[1].pending == 0, 10)
    finally:
        uplink.stop(2)
        office.stop()
    assert uplink.stats.resent == 0
    assert uplink.stats.published == 200 + uplink.stats.replayed  # replays: what the kill lost
