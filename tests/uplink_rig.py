"""A camera journal, its police uplink and the reference back office, wired for tests."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from agent.config.schema import UplinkConfig
from agent.core.clock import SystemClock
from agent.uplink.client import Uplink
from simulator.backoffice import PoliceBackOffice
from simulator.mqttc import client_context

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable
    from pathlib import Path

    from conftest import JournalKit

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
