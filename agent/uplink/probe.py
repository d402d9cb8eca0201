"""Check that an uplink's brokers accept this camera: mutual TLS handshake and MQTT 5 CONNACK.

Used by ``anpr-agent check-connect`` when a box is installed, and by the demo.
The probe connects with a clean session under ``{camera}-probe`` so it never
disturbs the running agent's persistent session.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from agent.config.schema import broker_endpoint

if TYPE_CHECKING:
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["ProbeResult", "probe_broker", "tls_preflight", "tls_reason"]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Outcome of one probe: ``ok`` and a one-line explanation."""

    url: str
    ok: bool
    detail: str


def tls_reason(exc: BaseException) -> str:
    """One line saying why a TLS connection failed, for an operator."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"broker certificate refused: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (no broker listening)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, OSError):
        return f"network error: {exc.strerror or exc}"
    return str(exc)


def tls_preflight(host: str, port: int, ctx: ssl.SSLContext, timeout: float) -> None:
    """Handshake once on our own socket: a clear reason on failure, and no leaked socket.

    (paho leaves its socket for the garbage collector when the handshake fails.)
    The handshake runs over memory buffers on a plain socket that ``with`` always
    closes: ``SSLContext.wrap_socket`` itself leaves its socket unclosed when the
    peer resets the connection before it is wrapped.
    """
    with socket.create_connection((host, port), timeout=timeout) as raw:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname=host)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                data = raw.recv(65536)
                if not data:
                    raise ConnectionResetError(
                        "the broker closed the connection during the TLS handshake"
                    ) from None
                incoming.write(data)
        raw.sendall(outgoing.read())  # our last handshake message (a TLS 1.3 client's Finished)


def _await_connack(
    client: mqtt.Client, done: threading.Event, outcome: list[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    try:
        while not done.is_set() and time.monotonic() < deadline:
            rc = client.loop(timeout=0.1)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and not done.is_set():
                outcome.append(
                    f"connection lost before CONNACK ({mqtt.error_string(rc)}): "
                    "the broker likely refused the client certificate"
                )
                return
    except (OSError, ssl.SSLError) as exc:
        outcome.append(tls_reason(exc))
    if not outcome:
        outcome.append(f"no CONNACK within {timeout:g} s")


def probe_broker(
    url: str, ctx: ssl.SSLContext, client_id: str, timeout: float = 5.0
) -> ProbeResult:
    """Connect once to ``url`` and report whether the broker accepted us."""
    host, port = broker_endpoint(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set_context(ctx)
    outcome: list[str] = []
    done = threading.Event()

    def on_connect(
        _c: mqtt.Client,
        _u: object,
        _f: object,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        outcome.append("ok" if not reason.is_failure else f"broker refused: {reason}")
        done.set()

    def on_disconnect(
        _c: mqtt.Client,
        _u: object,
        _f: object,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        if not outcome:
            outcome.append(
                f"disconnected before CONNACK ({reason}): the broker likely refused "
                "the client certificate"
            )
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        tls_preflight(host, port, ctx, timeout)
        client.connect(host, port, keepalive=10, clean_start=True)
    except (OSError, ssl.SSLError) as exc:
        return ProbeResult(url, ok=False, detail=tls_reason(exc))
    _await_connack(client, done, outcome, timeout)
    ok = outcome[0] == "ok"
    if ok:
        client.disconnect()
        client.loop(timeout=0.1)
    sock = client.socket()
    if sock is not None:  # paho leaves the socket open after a timeout; never leak it
        sock.close()
    return ProbeResult(url, ok=ok, detail="connected (mutual TLS, MQTT 5)" if ok else outcome[0])
