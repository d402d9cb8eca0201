"""Long-lived threads survive a bad input (counted, alarmed) or die loudly (alarm, exit 1)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

import pytest
from conftest import JournalKit, make_read
from service_rig import LogCapture, NotifyListener, plates, write_config
from uplink_rig import make_uplink, uplink_config, wait_until

from agent.config.load import load_config
from agent.journal.store import JournalFullError
from agent.security.tls import build_client_context
from agent.service import Notifier, Service, ServiceOptions
from simulator.demo import police_broker
from simulator.fakes import FakeReadSource
from simulator.mqttc import client_context, connect

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from simulator.broker import Broker
    from simulator.pki import DevPki


pytestmark = pytest.mark.usefixtures("restore_logging")


def _backoffice(pki: DevPki, url: str):  # type: ignore[no-untyped-def]
    ctx = client_context(
        pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
    )
    return connect(url, ctx, "backoffice-raw")


# ------------------------------------------------------------------ uplink


@pytest.fixture
def untapped_police(tmp_path: Path, pki: DevPki) -> Iterator[Broker]:
    """A police broker nothing else listens to: the garbage below is meant for the agent alone."""
    with police_broker(tmp_path / "untapped-police", pki) as broker:
        yield broker


@pytest.mark.broker
def test_the_uplink_survives_a_hundred_thousand_brackets_on_its_ack_topic(
    untapped_police: Broker, pki: DevPki, kit: JournalKit
) -> None:
    police = untapped_police
    journal = kit.open()
    journal.append_read(make_read())
    uplink = make_uplink(journal, uplink_config(pki, [police.url]), lambda: _device(pki))
    office = _backoffice(pki, police.url)
    uplink.start()
    try:
        assert wait_until(lambda: uplink.stats.published == 1, 10)
        ack = "anpr/v1/cam-01/ack"
        # Deep enough to reach the JSON parser's recursion limit, were it ever parsed.
        for size in (100_000, 2_000, 300):
            office.publish(ack, b"[" * size, qos=1).wait_for_publish(5)
        assert wait_until(lambda: uplink.stats.bad_messages >= 2, 10)  # the broker drops 100 kB
        assert any("bad back-office message" in a for a in uplink.alarms)
        journal.append_read(make_read())
        assert wait_until(lambda: uplink.stats.published == 2, 10), "the uplink thread died"
        office.publish(ack, json.dumps({"stream": "reads", "confirmed_through": 2}), qos=1)
        assert wait_until(lambda: journal.stats().streams[1].confirmed == 2, 10)
        assert not any("bad back-office message" in a for a in uplink.alarms)
    finally:
        uplink.stop(2)
        office.disconnect()
        office.loop_stop()


def _device(pki: DevPki, key: Path | None = None):  # type: ignore[no-untyped-def]
    cfg = uplink_config(pki, ["mqtts://127.0.0.1:1"], **({"key": key} if key else {}))
    return build_client_context(cfg)


@pytest.mark.broker
def test_the_uplink_survives_a_renewed_key_left_readable_by_others(
    police: Broker, pki: DevPki, kit: JournalKit, tmp_path: Path
) -> None:
    key = tmp_path / "device.key"
    shutil.copy(pki.path("device.key"), key)
    key.chmod(0o600)
    journal = kit.open()
    journal.append_read(make_read())
    uplink = make_uplink(journal, uplink_config(pki, [police.url]), lambda: _device(pki, key))
    uplink.start()
    try:
        assert wait_until(lambda: uplink.stats.published == 1, 10)
        key.chmod(0o644)  # the renewal left the new key world-readable
        police.kill()  # the next connection rebuilds the TLS context from the files
        police.start()
        assert wait_until(lambda: any("accessible by others" in a for a in uplink.alarms), 10)
        assert uplink.alive
        journal.append_read(make_read())
        key.chmod(0o600)
        assert wait_until(lambda: uplink.stats.published >= 2, 15), "never reconnected"
        assert not any("accessible by others" in a for a in uplink.alarms)
    finally:
        uplink.stop(2)


# ------------------------------------------------------------------ journal writer


def test_the_journal_writer_survives_an_error_inside_its_full_handler(tmp_path: Path) -> None:
    kit = JournalKit(tmp_path / "journal.sqlite", quota_bytes=1024 * 1024)
    journal = kit.open()
    crop = bytes(range(256)) * 32
    with pytest.raises(JournalFullError):  # noqa: PT012 - fill it up
        for _ in range(1000):
            journal.append_read(make_read(crop=crop))
    # Hold the write lock so that the next two commands reach the writer as one batch.
    blocker = sqlite3.connect(kit.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    first = journal.sync()
    time.sleep(0.3)  # the writer now waits on the lock with `first`
    full = journal.submit_read(make_read(crop=crop))
    bad = journal.mark_confirmed("reads", None)  # type: ignore[arg-type]  # fails in the handler
    blocker.execute("ROLLBACK")
    blocker.close()
    first.result(timeout=15)
    with pytest.raises(JournalFullError):
        full.result(timeout=15)
    with pytest.raises(TypeError):
        bad.result(timeout=15)  # the caller hears it: the future resolves
    assert journal.sync().result(timeout=5) == 0, "the writer thread died"
    assert journal.alive
    kit.close()


# ------------------------------------------------------------------ the service


def test_a_thread_that_dies_stops_the_agent_loudly(pki: DevPki, tmp_path: Path) -> None:
    logs = LogCapture()
    config = write_config(tmp_path / "agent.toml", pki)
    source = FakeReadSource([make_read(p) for p in plates(3)])
    notify = NotifyListener()
    service = Service(
        load_config(config, {}),
        source,
        options=ServiceOptions(tick_s=0.05, serve_metrics=False),
        notifier=Notifier({"NOTIFY_SOCKET": notify.address}),
    )
    runner = threading.Thread(target=service.run, name="service-under-test")
    runner.start()
    try:
        assert wait_until(lambda: "WATCHDOG=1" in notify.lines(), 20)

        def doomed() -> None:
            raise ValueError("cannot count plate 1ABC123")  # a bug that names a plate

        worker = threading.Thread(target=doomed, name="civil-windows-2")
        worker.start()
        worker.join()
        runner.join(30)
        assert not runner.is_alive(), "the agent went on with a dead thread"
    finally:
        service.request_stop()
        runner.join(30)
        notify.close()
        logs.close()
    assert service.exit_code == 1
    lines = notify.lines()
    failed = next(i for i, x in enumerate(lines) if x.startswith("STATUS=failed"))
    assert "civil-windows-2 died: ValueError" in lines[failed]
    assert "WATCHDOG=1" not in lines[failed:]
    text = logs.text()
    assert "thread civil-windows-2 died of an uncaught ValueError" in text
    assert "Traceback" in text
    assert "1ABC123" not in text  # the trace went through the redaction point


def test_a_dead_uplink_thread_is_named_in_the_alarms(pki: DevPki, tmp_path: Path) -> None:
    config = write_config(tmp_path / "agent.toml", pki)
    service = Service(
        load_config(config, {}),
        FakeReadSource([]),
        options=ServiceOptions(tick_s=0.05, serve_metrics=False),
    )
    runner = threading.Thread(target=service.run, name="service-under-test")
    runner.start()
    try:
        assert wait_until(lambda: service.police_uplink.alive, 10)
        service.police_uplink.stop(0.1)  # the thread ends while the agent runs
        assert wait_until(lambda: any("thread uplink-police died" in a for a in service.alarms), 10)
        runner.join(30)
        assert not runner.is_alive()
    finally:
        service.request_stop()
        runner.join(30)
    assert service.exit_code == 1
