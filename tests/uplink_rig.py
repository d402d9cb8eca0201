"""A camera journal, its police uplink and the reference back office, wired for tests."""

from __future__ import annotations

import socket
import ssl
import threading
import time
import warnings
from typing import TYPE_CHECKING

from agent.config.schema import UplinkConfig
from agent.core.clock import SystemClock
from agent.uplink.client import Uplink
from simulator.backoffice import CivilBackOffice, PoliceBackOffice
from simulator.mqttc import client_context

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from conftest import JournalKit

    from agent.core.clock import Clock
    from agent.journal.store import Journal
    from simulator.pki import DevPki


def uplink_config(pki: DevPki, urls: list[str], **overrides: object) -> UplinkConfig:
    settings: dict[str, object] = {
        "brokers": urls,
        "ca": pki.path("police-ca.crt"),
        "cert": pki.path("device.crt"),
        "key": pki.path("device.key"),
        "topic_prefix": "anpr/v1",
        "inflight": 50,
        "keepalive_s": 5,
        "backoff_min_s": 0.05,
        "backoff_max_s": 0.5,
    }
    settings.update(overrides)
    return UplinkConfig.model_validate(settings)


def device_context(pki: DevPki, cert: str = "device", ca: str = "police-ca") -> ssl.SSLContext:
    return client_context(pki.path(f"{ca}.crt"), pki.path(f"{cert}.crt"), pki.path(f"{cert}.key"))


def make_uplink(
    journal: Journal,
    cfg: UplinkConfig,
    context: Callable[[], ssl.SSLContext],
    camera: str = "cam-01",
    descriptor: bytes | None = None,
) -> Uplink:
    return Uplink(
        "police",
        cfg,
        camera_id=camera,
        journal=journal,
        stream="reads",
        leaf="reads",
        context=context,
        clock=SystemClock(),
        heartbeat_s=1.0,
        descriptor=descriptor,
    )


def make_backoffice(
    url: str, pki: DevPki, kit: JournalKit, out: Path | None = None
) -> PoliceBackOffice:
    return PoliceBackOffice(
        url,
        client_context(
            pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
        ),
        seal_key=kit.seal_key,
        trusted={"cam-01": kit.keys},
        out=out,
        gap_after_s=0.5,
    )


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def tls_listener(
    pki: DevPki, name: str, low: ssl.TLSVersion, high: ssl.TLSVersion, cert: Path | None = None
) -> Iterator[int]:
    """A bare TLS listener on a free loopback port (yields it) between ``low`` and ``high``.

    It only handshakes (old versions and weak ciphers allowed, to stand for an old
    broker) and closes: enough to see what the agent's own TLS refuses.
    """
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    crt = cert or pki.path(f"{name}.crt")
    server.load_cert_chain(crt, crt.with_suffix(".key"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server.minimum_version, server.maximum_version = low, high
    server.set_ciphers("DEFAULT:@SECLEVEL=0")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                server.wrap_socket(conn, server_side=True).close()
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    listener.close()


def civil_uplink(
    pki: DevPki, journal: Journal, url: str, clock: Clock, *, descriptor: bytes | None = None
) -> Uplink:
    """cam-01's civil uplink (not started) to ``url``, with the dev PKI's civil identity."""
    cfg = UplinkConfig(
        brokers=(url,),
        ca=pki.path("civil-ca.crt"),
        cert=pki.path("civil-device.crt"),
        key=pki.path("civil-device.key"),
        topic_prefix="civil/v1",
        backoff_min_s=0.05,
        backoff_max_s=0.5,
    )
    return Uplink(
        "civil",
        cfg,
        camera_id="cam-01",
        journal=journal,
        stream="counts",
        leaf="counts",
        context=lambda: client_context(cfg.ca, cfg.cert, cfg.key),
        clock=clock,
        heartbeat_s=1.0,
        descriptor=descriptor,
    )


def city_backoffice(pki: DevPki, kit: JournalKit, url: str) -> CivilBackOffice:
    """The city's reference back office (not started), trusting the kit's signing keys."""
    return CivilBackOffice(
        url,
        client_context(pki.path("civil-ca.crt"), pki.path("city.crt"), pki.path("city.key")),
        trusted={"cam-01": kit.keys},
        gap_after_s=0.5,
    )
