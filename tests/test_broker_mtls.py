"""The broker harness: a real mosquitto that lets authenticated cameras write only their topics."""

from __future__ import annotations

import datetime as dt
import queue
import ssl
import threading
from typing import TYPE_CHECKING, Any

import pytest
from wire_schemas import tap_of

from agent.uplink.probe import probe_broker
from simulator.mqttc import ConnectError, client_context, connect
from simulator.pki import issue_cert, load_issued, new_ca, save_issued

if TYPE_CHECKING:
    from pathlib import Path

    import paho.mqtt.client as mqtt

    from simulator.broker import Broker
    from simulator.pki import DevPki

pytestmark = pytest.mark.broker


def _publish(client: mqtt.Client, topic: str, payload: bytes) -> int:
    """Publish at QoS 1 and return the PUBACK reason code."""
    acked: queue.Queue[int] = queue.Queue()

    # Set before publishing: on_publish may fire before publish() returns.
    def on_publish(_c: object, _u: object, _mid: int, reason: Any, _p: object) -> None:
        acked.put(reason.value)

    client.on_publish = on_publish
    client.publish(topic, payload, qos=1)
    return acked.get(timeout=5)


def _subscriber(broker: Broker, pki: DevPki, topic: str) -> tuple[mqtt.Client, queue.Queue[str]]:
    ctx = client_context(
        pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
    )
    got: queue.Queue[str] = queue.Queue()
    client = connect(broker.url, ctx, "backoffice-test")
    subscribed = threading.Event()
    client.on_message = lambda _c, _u, msg: got.put(msg.topic)
    client.on_subscribe = lambda *_: subscribed.set()
    client.subscribe(topic, qos=1)
    assert subscribed.wait(5)
    return client, got


def _close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def test_device_certificate_connects_and_publishes_its_own_topic(
    police: Broker, pki: DevPki
) -> None:
    tap_of(police).excuse("status")  # the ACL is tested with a bare payload, not a heartbeat
    sub, got = _subscriber(police, pki, "anpr/v1/#")
    ctx = client_context(pki.path("police-ca.crt"), pki.path("device.crt"), pki.path("device.key"))
    cam = connect(police.url, ctx, "cam-01")
    try:
        assert _publish(cam, "anpr/v1/cam-01/status", b"online") < 0x80
        assert got.get(timeout=5) == "anpr/v1/cam-01/status"
    finally:
        _close(cam)
        _close(sub)


def test_camera_cannot_publish_on_another_cameras_topic(
    police: Broker, pki: DevPki, tmp_path: Path
) -> None:
    tap_of(police).excuse("reads")  # the ACL is tested with bare payloads, not records
    sub, got = _subscriber(police, pki, "anpr/v1/#")
    ca = load_issued(pki.path("police-ca.crt"), pki.path("police-ca.key"))
    crt, key = save_issued(tmp_path, "cam-02", issue_cert(ca, "cam-02"))
    cam_b = connect(police.url, client_context(pki.path("police-ca.crt"), crt, key), "cam-02")
    try:
        assert _publish(cam_b, "anpr/v1/cam-01/reads", b"forged") == 0x87  # not authorised
        assert _publish(cam_b, "anpr/v1/cam-01/ack", b"forged") == 0x87
        assert _publish(cam_b, "anpr/v1/cam-02/reads", b"own") < 0x80
        assert got.get(timeout=5) == "anpr/v1/cam-02/reads"
        assert got.empty()
    finally:
        _close(cam_b)
        _close(sub)


def test_connection_without_client_certificate_is_refused(police: Broker, pki: DevPki) -> None:
    ctx = client_context(pki.path("police-ca.crt"), None, None)
    result = probe_broker(police.url, ctx, "nobody", timeout=5)
    assert not result.ok
    with pytest.raises((ConnectError, ssl.SSLError, OSError)):
        _close(connect(police.url, ctx, "nobody"))
    assert "peer did not return a certificate" in police.log_text()


def test_certificate_from_another_ca_is_refused(
    police: Broker, pki: DevPki, tmp_path: Path
) -> None:
    rogue = new_ca("rogue CA")
    crt, key = save_issued(tmp_path, "rogue-cam", issue_cert(rogue, "cam-01"))
    result = probe_broker(police.url, client_context(pki.path("police-ca.crt"), crt, key), "x")
    assert not result.ok
    # The civil side's CA is "another CA" too: the two fluxes cannot cross.
    civil_id = client_context(
        pki.path("police-ca.crt"), pki.path("civil-device.crt"), pki.path("civil-device.key")
    )
    assert not probe_broker(police.url, civil_id, "cam-01").ok


def test_expired_client_certificate_is_refused(police: Broker, pki: DevPki, tmp_path: Path) -> None:
    ca = load_issued(pki.path("police-ca.crt"), pki.path("police-ca.key"))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    expired = issue_cert(ca, "cam-01", not_before=long_ago, days=30)
    crt, key = save_issued(tmp_path, "expired", expired)
    result = probe_broker(police.url, client_context(pki.path("police-ca.crt"), crt, key), "x")
    assert not result.ok


def test_client_refuses_a_broker_certificate_from_an_unknown_ca(
    police: Broker, pki: DevPki
) -> None:
    # The camera pins its CA: a broker with a certificate from elsewhere is not talked to.
    ctx = client_context(pki.path("civil-ca.crt"), pki.path("device.crt"), pki.path("device.key"))
    result = probe_broker(police.url, ctx, "cam-01")
    assert not result.ok
    assert "certificate" in result.detail


def test_broker_restarts_on_the_same_port(police: Broker, pki: DevPki) -> None:
    ctx = client_context(pki.path("police-ca.crt"), pki.path("device.crt"), pki.path("device.key"))
    port = police.port
    police.kill()
    assert not probe_broker(police.url, ctx, "cam-01", timeout=2).ok
    police.start()
    assert police.port == port
    assert probe_broker(police.url, ctx, "cam-01").ok


def test_civil_broker_has_its_own_ca(civil: Broker, pki: DevPki) -> None:
    ok = client_context(
        pki.path("civil-ca.crt"), pki.path("civil-device.crt"), pki.path("civil-device.key")
    )
    assert probe_broker(civil.url, ok, "cam-01").ok
    police_id = client_context(
        pki.path("civil-ca.crt"), pki.path("device.crt"), pki.path("device.key")
    )
    assert not probe_broker(civil.url, police_id, "cam-01").ok
