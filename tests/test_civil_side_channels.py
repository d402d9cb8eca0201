"""The civil side gets nothing that moves with single vehicles or links it to the police flux."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

import pytest
from conftest import make_read
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from service_rig import write_config
from uplink_rig import wait_until

from agent.config.load import load_config
from agent.config.schema import JournalConfig
from agent.journal.records import parse_record
from agent.journal.store import Journal
from agent.security.crypto import Sealer, Signer, key_id
from agent.security.keyfiles import load_signing_key
from agent.service import Service, ServiceOptions, redact
from agent.uplink.descriptor import verify_descriptor
from simulator.fakes import FakeClock
from simulator.mqttc import client_context, connect

if TYPE_CHECKING:
    from pathlib import Path

    from simulator.broker import Broker
    from simulator.pki import DevPki


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("plate B MW 1234 seen", "B MW 1234"),
        ("french AB 123 CD.", "AB 123 CD"),
        ("belgian 1 ABC 123, lane 2", "1 ABC 123"),
        ("swiss GE 12345", "GE 12345"),
    ],
)
def test_spaced_plates_are_blanked(text: str, hidden: str) -> None:
    assert hidden not in redact(text)
    assert "[redacted]" in redact(text)


@pytest.mark.parametrize("text", ["TLS 1.2 minimum", "at 12 34 56", "seq 150 of 2 streams"])
def test_spaced_numbers_and_versions_stay_readable(text: str) -> None:
    assert redact(text) == text


def test_counts_records_have_their_own_boot_and_window_coarse_times(tmp_path: Path) -> None:
    clock = FakeClock()
    clock.advance(17.123)  # mid-window, odd milliseconds
    path = tmp_path / "journal.sqlite"
    journal = Journal(
        path,
        camera="cam-01",
        signer=Signer(ed25519.Ed25519PrivateKey.generate()),
        sealer=Sealer(x25519.X25519PrivateKey.generate().public_key()),
        config=JournalConfig(path=path, checkpoint_every=2),
        clock=clock,
        counts_grain_s=60,
    )
    try:
        journal.append_read(make_read())
        journal.append_count({"window_start": 0})
        journal.append_count({"window_start": 60})  # and the counts checkpoint after it
        reads = [parse_record(r.wire).body for r in journal.records("reads", 1, 10)]
        counts = [parse_record(r.wire).body for r in journal.records("counts", 1, 10)]
    finally:
        journal.close()
    assert [c["type"] for c in counts] == ["count", "count", "checkpoint"]
    now_ms = int(clock.wall() * 1000)
    assert reads[0]["ts"] == now_ms  # the police flux keeps its exact time
    assert {c["ts"] for c in counts} == {now_ms // 60_000 * 60_000}
    assert {c["boot"] for c in counts} == {journal.stream_boot("counts")}
    assert reads[0]["boot"] == journal.boot_id == journal.stream_boot("reads")
    assert journal.stream_boot("counts") != journal.boot_id


@pytest.mark.broker
def test_the_civil_heartbeat_has_no_disk_figures_no_police_boot_and_a_coarse_time(
    police: Broker, civil: Broker, pki: DevPki, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "agent.toml", pki, police=police.url, civil=civil.url)
    loaded = load_config(config, {})
    seen: dict[str, dict[str, object]] = {}
    lock = threading.Lock()

    def listen(url: str, ctx: object, name: str, topic: str) -> object:
        client = connect(url, ctx, name)  # type: ignore[arg-type]

        def on_message(_c: object, _u: object, message: object) -> None:
            body = json.loads(message.payload)  # type: ignore[attr-defined]
            if body.get("state") == "online":
                with lock:
                    seen[name] = body

        client.on_message = on_message
        client.subscribe(topic, qos=1)
        return client

    city = listen(
        civil.url,
        client_context(pki.path("civil-ca.crt"), pki.path("city.crt"), pki.path("city.key")),
        "city",
        "civil/v1/cam-01/status",
    )
    office = listen(
        police.url,
        client_context(
            pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
        ),
        "backoffice",
        "anpr/v1/cam-01/status",
    )
    service = Service(loaded, options=ServiceOptions(drain_only=True, serve_metrics=False))
    thread = threading.Thread(target=service.run, name="service-under-test")
    thread.start()
    try:
        assert wait_until(lambda: {"city", "backoffice"} <= set(seen), 30)
    finally:
        service.request_stop()
        thread.join(60)
        for client in (city, office):
            client.disconnect()  # type: ignore[attr-defined]
            client.loop_stop()  # type: ignore[attr-defined]
    civil_status, police_status = seen["city"], seen["backoffice"]
    assert {"disk_free_bytes", "quota_used_permille", "uptime_s"} <= set(police_status)
    assert not {"disk_free_bytes", "quota_used_permille", "uptime_s"} & set(civil_status)
    assert civil_status["boot"] != police_status["boot"]
    window_ms = loaded.config.counts.window_s * 1000
    assert isinstance(civil_status["ts"], int)
    assert civil_status["ts"] % window_ms == 0


def test_the_civil_side_gets_a_signed_descriptor_without_police_fingerprints(
    police: Broker, civil: Broker, pki: DevPki, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "agent.toml", pki, police=police.url, civil=civil.url)
    loaded = load_config(config, {})
    wires: dict[str, bytes] = {}
    lock = threading.Lock()
    clients = []
    for url, ctx, name, topic in (
        (
            civil.url,
            client_context(pki.path("civil-ca.crt"), pki.path("city.crt"), pki.path("city.key")),
            "city",
            "civil/v1/cam-01/descriptor",
        ),
        (
            police.url,
            client_context(
                pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
            ),
            "backoffice",
            "anpr/v1/cam-01/descriptor",
        ),
    ):
        client = connect(url, ctx, name)

        def on_message(_c: object, _u: object, message: object, name: str = name) -> None:
            with lock:
                wires[name] = message.payload  # type: ignore[attr-defined]

        client.on_message = on_message
        client.subscribe(topic, qos=1)
        clients.append(client)
    service = Service(loaded, options=ServiceOptions(drain_only=True, serve_metrics=False))
    thread = threading.Thread(target=service.run, name="service-under-test")
    thread.start()
    try:
        assert wait_until(lambda: {"city", "backoffice"} <= set(wires), 30)
    finally:
        service.request_stop()
        thread.join(60)
        for client in clients:
            client.disconnect()
            client.loop_stop()
    sign = load_signing_key(pki.path("device-sign.key")).public_key()
    trusted = {key_id(sign): sign}
    civil_body = verify_descriptor(wires["city"], trusted)
    police_body = verify_descriptor(wires["backoffice"], trusted)
    assert civil_body["camera"] == police_body["camera"] == "cam-01"
    assert civil_body["purpose"] == police_body["purpose"]
    civil_keys, police_keys = civil_body["keys"], police_body["keys"]
    assert isinstance(civil_keys, dict)
    assert isinstance(police_keys, dict)
    assert set(civil_keys) == {"signing_ed25519", "civil_cert_sha256"}
    assert {"sealed_to_x25519_sha256", "police_cert_sha256"} <= set(police_keys)
    for police_only in ("sealed_to_x25519_sha256", "police_cert_sha256"):
        fingerprint = police_keys[police_only]
        assert isinstance(fingerprint, str)
        assert fingerprint.encode() not in wires["city"]
    window_ms = loaded.config.counts.window_s * 1000
    assert isinstance(civil_body["ts"], int)
    assert civil_body["ts"] % window_ms == 0
