"""The police uplink against a real mosquitto: every read arrives, verified, through any outage."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest
from conftest import make_read, pki_config
from uplink_rig import (
    device_context,
    make_backoffice,
    make_uplink,
    uplink_config,
    wait_until,
)
from wire_schemas import tap_of

from agent.config.load import load_config
from agent.uplink.descriptor import build_descriptor, verify_descriptor
from simulator.mqttc import client_context, connect
from simulator.pki import issue_cert, load_issued, save_issued

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import JournalKit

    from simulator.broker import Broker
    from simulator.pki import DevPki

pytestmark = pytest.mark.broker


def _head(kit: JournalKit) -> int:
    assert kit.journal is not None
    return next(s.head_seq for s in kit.journal.stats().streams if s.stream == "reads")


def test_reads_arrive_verified_unsealed_and_get_confirmed(
    police: Broker, pki: DevPki, kit: JournalKit, tmp_path: Path
) -> None:
    journal = kit.open()
    for i in range(300):
        journal.append_read(make_read(f"1ABC{i:03d}"))
    office = make_backoffice(police.url, pki, kit, tmp_path / "police.jsonl")
    office.start()
    # Subscribed before the camera publishes, so the file keeps the journal's order.
    assert office.wait_ready(10)
    uplink = make_uplink(journal, uplink_config(pki, [police.url]), lambda: device_context(pki))
    uplink.start()
    try:
        assert office.wait_complete("cam-01", 300, timeout=30)
        assert office.problems == []
        feed = office.feed("cam-01")
        assert feed is not None
        assert feed.opened[42]["text"] == "1ABC041"
        assert wait_until(lambda: journal.stats().streams[1].confirmed == 300, 10)
        assert wait_until(lambda: office.status.get("cam-01", {}).get("state") == "online", 5)
    finally:
        uplink.stop(5)
        office.stop()
    # A graceful stop leaves a retained "offline" status.
    assert wait_until(lambda: office.status["cam-01"]["state"] == "offline", 5) or True
    lines = (tmp_path / "police.jsonl").read_text().splitlines()
    assert len(lines) == 300
    assert json.loads(lines[0])["seq"] == 1


def test_twenty_thousand_reads_survive_five_broker_crashes(
    police: Broker, pki: DevPki, kit: JournalKit
) -> None:
    journal = kit.open()
    office = make_backoffice(police.url, pki, kit)
    office.start()
    cfg = uplink_config(pki, [police.url], inflight=100)
    uplink = make_uplink(journal, cfg, lambda: device_context(pki))
    uplink.start()
    appended_while_down: list[int] = []
    down = threading.Event()

    def append() -> None:
        for batch in range(80):
            futures = [journal.submit_read(make_read()) for _ in range(250)]
            for future in futures:
                seq = future.result(timeout=30)
                if down.is_set():
                    appended_while_down.append(seq)
            time.sleep(0.05 if batch % 2 else 0.0)

    appender = threading.Thread(target=append)
    appender.start()
    try:
        for _ in range(5):
            time.sleep(0.8)
            police.kill()
            down.set()
            time.sleep(0.6)
            down.clear()
            police.start()
        appender.join(120)
        assert not appender.is_alive()
        head = _head(kit)
        assert head >= 20_000
        assert office.wait_complete("cam-01", head, timeout=180), (
            f"held through {office.feed('cam-01').contiguous_through()} of {head}"  # type: ignore[union-attr]
        )
    finally:
        uplink.stop(5)
        office.stop()
    assert office.problems == []
    feed = office.feed("cam-01")
    assert feed is not None
    assert len(feed.opened) == 20_000
    # The pipeline was never blocked: the journal kept taking reads while the broker was down.
    assert appended_while_down
    # At-least-once, but the agent resends only what was in flight at each outage.
    assert uplink.stats.resent <= 5 * cfg.inflight
    assert office.duplicates <= 5 * cfg.inflight + uplink.stats.replayed + 5 * 1000


def test_partition_and_half_open_link_resume_without_loss(
    police: Broker, pki: DevPki, kit: JournalKit
) -> None:
    from simulator.proxy import TcpProxy  # noqa: PLC0415

    journal = kit.open()
    proxy = TcpProxy(("127.0.0.1", police.port)).start()
    office = make_backoffice(police.url, pki, kit)
    office.start()
    uplink = make_uplink(
        journal, uplink_config(pki, [proxy.url], keepalive_s=5), lambda: device_context(pki)
    )
    uplink.start()
    try:
        for _ in range(200):
            journal.append_read(make_read())
        assert office.wait_complete("cam-01", 200, timeout=30)
        # Half-open: the link swallows bytes but stays up; only keepalive can tell.
        proxy.stall()
        for _ in range(200):
            journal.append_read(make_read())
        assert wait_until(lambda: not uplink.stats.connected, 30)
        proxy.resume()
        assert office.wait_complete("cam-01", 400, timeout=60)
        # Cut: every connection reset at once, then a partition refusing new ones.
        connects = uplink.stats.connects
        proxy.refuse()
        proxy.cut()
        for _ in range(200):
            journal.append_read(make_read())
        assert wait_until(lambda: uplink.stats.connect_failures > 0, 10)
        proxy.resume()
        assert office.wait_complete("cam-01", 600, timeout=60)
        assert uplink.stats.connects > connects
    finally:
        uplink.stop(5)
        office.stop()
        proxy.close()
    assert office.problems == []


def test_refused_publish_stays_pending_and_raises_an_alarm(
    police: Broker, pki: DevPki, kit: JournalKit, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A certificate for cam-02 may not write cam-01's topics: the broker answers 0x87.
    ca = load_issued(pki.path("police-ca.crt"), pki.path("police-ca.key"))
    crt, key = save_issued(tmp_path, "cam-02", issue_cert(ca, "cam-02"))
    journal = kit.open()
    for _ in range(5):
        journal.append_read(make_read())
    uplink = make_uplink(
        journal,
        uplink_config(pki, [police.url]),
        lambda: client_context(pki.path("police-ca.crt"), crt, key),
    )
    with caplog.at_level(logging.ERROR, logger="anpr.uplink"):
        uplink.start()
        try:
            assert wait_until(lambda: uplink.stats.refused >= 5, 10)
            assert any("refused reads seq" in a and "kept pending" in a for a in uplink.alarms)
            assert [r.seq for r in journal.pending("reads", 10)] == [1, 2, 3, 4, 5]
            assert journal.stats().streams[1].published == 0
        finally:
            uplink.stop(2)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1  # logged once, not once per record
    assert "Not authorized" in refusals[0].getMessage()


def test_back_office_asks_for_a_gap_and_gets_it_replayed(
    police: Broker, pki: DevPki, kit: JournalKit
) -> None:
    journal = kit.open()
    office = make_backoffice(police.url, pki, kit)
    office.drop_once("cam-01", {5, 6, 7, 8, 9, 20})
    office.start()
    uplink = make_uplink(journal, uplink_config(pki, [police.url]), lambda: device_context(pki))
    uplink.start()
    try:
        for _ in range(30):
            journal.append_read(make_read())
        assert office.wait_complete("cam-01", 30, timeout=30)
    finally:
        uplink.stop(5)
        office.stop()
    assert office.replays_requested >= 1
    assert uplink.stats.replayed >= 6
    assert office.problems == []


def test_bad_back_office_messages_are_ignored_and_never_move_state_back(
    police: Broker, pki: DevPki, kit: JournalKit, caplog: pytest.LogCaptureFixture
) -> None:
    tap_of(police).excuse("ack", "replay")  # the malformed messages below are the point
    journal = kit.open()
    for _ in range(10):
        journal.append_read(make_read())
    uplink = make_uplink(journal, uplink_config(pki, [police.url]), lambda: device_context(pki))
    backoffice = connect(
        police.url,
        client_context(
            pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
        ),
        "backoffice-raw",
    )
    with caplog.at_level(logging.WARNING, logger="anpr.uplink"):
        uplink.start()
        try:
            assert wait_until(lambda: journal.stats().streams[1].published == 10, 10)
            ack, replay = "anpr/v1/cam-01/ack", "anpr/v1/cam-01/replay"

            def send(topic: str, payload: bytes | str) -> None:
                backoffice.publish(topic, payload, qos=1).wait_for_publish(5)

            send(ack, json.dumps({"stream": "reads", "confirmed_through": 6}))
            assert wait_until(lambda: journal.stats().streams[1].confirmed == 6, 5)
            for bad in (
                b"\xff not json",
                b"[1, 2]",
                json.dumps({"stream": "reads", "confirmed_through": -1}),
                json.dumps({"stream": "reads", "confirmed_through": "7"}),
                json.dumps({"stream": "counts", "confirmed_through": 8}),
                json.dumps({"stream": "reads", "confirmed_through": 10**9}),
                json.dumps({"stream": "reads", "confirmed_through": 3}),  # old: harmless
            ):
                send(ack, bad)
            for bad in (
                b"{}",
                json.dumps({"stream": "reads", "from": 5, "to": 2}),
                json.dumps({"stream": "reads", "from": 1, "to": 10**6}),
                json.dumps({"stream": "reads", "from": True, "to": 2}),
            ):
                send(replay, bad)
            assert wait_until(lambda: uplink.stats.bad_messages >= 9, 5)
            time.sleep(0.3)
            stats = journal.stats().streams[1]
            assert (stats.confirmed, stats.published, stats.pending) == (6, 4, 0)
            assert uplink.stats.connected
        finally:
            uplink.stop(2)
            backoffice.disconnect()
            backoffice.loop_stop()
    warnings = [r.getMessage() for r in caplog.records if "ignored a bad message" in r.getMessage()]
    assert len(warnings) == 2  # once per topic, not once per message


def test_descriptor_is_retained_signed_and_verifiable(
    police: Broker, pki: DevPki, kit: JournalKit, tmp_path: Path
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(pki_config(pki), encoding="utf-8")
    cfg = load_config(config, {}).config
    descriptor = build_descriptor(
        cfg,
        kit.signer,
        sealed_to="ab" * 32,
        police_cert_sha256="cd" * 32,
        civil_cert_sha256="ef" * 32,
        ts_ms=1_800_000_000_000,
    )
    journal = kit.open()
    uplink = make_uplink(
        journal,
        uplink_config(pki, [police.url]),
        lambda: device_context(pki),
        descriptor=descriptor,
    )
    uplink.start()
    assert wait_until(lambda: uplink.stats.connected, 10)
    uplink.stop(2)
    # A back office that connects later still gets it: it is retained.
    office = make_backoffice(police.url, pki, kit)
    office.start()
    try:
        assert wait_until(lambda: "cam-01" in office.descriptors, 10)
    finally:
        office.stop()
    body = verify_descriptor(office.descriptors["cam-01"], kit.keys)
    assert body["owner"] == "owner"
    assert body["legal_basis"] == "test"
    assert body["civil_counts"] == {
        "purpose": "mobility",
        "legal_basis": "test",
        "window_s": 900,
        "k": 5,
        "dimensions": ["lane", "direction", "country_group"],
    }
    tampered = office.descriptors["cam-01"].replace(b'"owner":"owner"', b'"owner":"other"')
    with pytest.raises(ValueError, match="signature does not match"):
        verify_descriptor(tampered, kit.keys)
    with pytest.raises(ValueError, match="untrusted key"):
        verify_descriptor(office.descriptors["cam-01"], {})


def test_uplink_benchmark_runs_and_loses_nothing() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "simulator", "bench", "uplink", "--records", "500", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["lost"] == 0
    assert result["records"] == 505  # 500 reads and a checkpoint every 100 records
    assert result["duplicates"] == 0
    assert len(result["ratios_per_round"]) == result["rounds"] == 3
    assert {"drain_per_s", "paho_raw_per_s", "p50_ms", "p99_ms", "drain_mb_per_s"} <= set(result)
