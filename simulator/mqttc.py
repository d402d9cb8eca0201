"""Small paho-mqtt helpers for the simulated back offices and the tests."""

from __future__ import annotations

import ssl
import threading
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.config.schema import broker_endpoint

if TYPE_CHECKING:
    from pathlib import Path

    from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["ConnectError", "client_context", "connect"]


class ConnectError(RuntimeError):
    """The broker did not accept the connection."""


def client_context(
    ca: Path,
    cert: Path | None,
    key: Path | None,
    *,
    minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A TLS client context trusting only ``ca``, presenting ``cert`` when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = minimum
    ctx.load_verify_locations(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    return ctx


def connect(
    url: str, ctx: ssl.SSLContext, client_id: str, *, timeout: float = 5.0, clean_start: bool = True
) -> mqtt.Client:
    """Connect an MQTT 5 client over TLS and start its network thread; raise on refusal."""
    host, port = broker_endpoint(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set_context(ctx)
    connected = threading.Event()
    outcome: list[ReasonCode] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        outcome.append(reason)
        connected.set()

    def on_disconnect(
        _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if not connected.is_set():
            outcome.append(reason)
            connected.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.connect(host, port, keepalive=30, clean_start=clean_start)
    client.loop_start()
    if not connected.wait(timeout) or outcome[0].is_failure:
        client.loop_stop()
        sock = client.socket()
        if sock is not None:
            sock.close()
        reason = outcome[0] if outcome else "no CONNACK"
        raise ConnectError(f"{url} refused {client_id}: {reason}")
    client.on_connect = None
    client.on_disconnect = None
    return client
