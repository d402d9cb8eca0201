"""Helpers for tests of the daemon: configs with live broker ports, a fake NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import random
import socket
import threading
import uuid
from typing import TYPE_CHECKING

from conftest import pki_config
from cryptography.hazmat.primitives import serialization

from agent.security.crypto import key_id
from agent.security.keyfiles import load_signing_key
from simulator.backoffice import PoliceBackOffice
from simulator.broker import free_port
from simulator.mqttc import client_context

if TYPE_CHECKING:
    from pathlib import Path

    from simulator.pki import DevPki


def write_config(  # noqa: PLR0913
    path: Path,
    pki: DevPki,
    *,
    police: str = "mqtts://127.0.0.1:1",
    civil: str = "mqtts://127.0.0.1:2",
    journal: Path | None = None,
    service: str = "",
) -> Path:
    """A config on the dev PKI, pointed at these brokers, metrics on a free loopback port."""
    text = pki_config(pki, journal or path.parent / "journal.sqlite")
    text = text.replace("mqtts://127.0.0.1:18883", police).replace("mqtts://127.0.0.1:18884", civil)
    text = text.replace(
        '[counts]\nlegal_basis = "test"',
        '[counts]\nlegal_basis = "test"\nwindow_s = 60\ngrace_s = 1',
    )
    text += f'\n[service]\nmetrics_address = "127.0.0.1:{free_port()}"\nheartbeat_s = 5\n'
    text += service
    text = text.replace(
        'topic_prefix = "anpr/v1"',
        'topic_prefix = "anpr/v1"\nbackoff_min_s = 0.05\nbackoff_max_s = 0.5',
    ).replace(
        'topic_prefix = "civil/v1"',
        'topic_prefix = "civil/v1"\nbackoff_min_s = 0.05\nbackoff_max_s = 0.5',
    )
    path.write_text(text, encoding="utf-8")
    return path


def plates(count: int, seed: int = 1) -> list[str]:
    """Ground-truth plates (Belgian syntax), distinct."""
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < count:
        letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTVWXYZ") for _ in range(3))
        out.add(f"{rng.randint(1, 9)}{letters}{rng.randint(0, 999):03d}")
    return sorted(out)


def backoffice(pki: DevPki, url: str) -> PoliceBackOffice:
    """The reference police back office trusting the dev PKI's device key."""
    sign = load_signing_key(pki.path("device-sign.key")).public_key()
    seal = serialization.load_pem_private_key(pki.path("backoffice-seal.key").read_bytes(), None)
    return PoliceBackOffice(
        url,
        client_context(
            pki.path("police-ca.crt"), pki.path("backoffice.crt"), pki.path("backoffice.key")
        ),
        seal_key=seal,  # type: ignore[arg-type]
        trusted={"cam-01": {key_id(sign): sign}},
        gap_after_s=0.5,
    )


class NotifyListener:
    """A fake service manager: an abstract Unix datagram socket collecting sd_notify lines."""

    def __init__(self) -> None:
        self.address = f"@anpr-test-{uuid.uuid4().hex}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind("\0" + self.address[1:])
        self._sock.settimeout(0.1)
        self.messages: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            with self._lock:
                self.messages.extend(data.decode().splitlines())

    def lines(self) -> list[str]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


class LogCapture:
    """The agent's own log output (through its one redaction point) into a string."""

    def __init__(self) -> None:
        import io  # noqa: PLC0415

        from agent.service import configure_logging  # noqa: PLC0415

        self.stream = io.StringIO()
        self._level = logging.getLogger().level
        self.handler = configure_logging("DEBUG", "json", self.stream)

    def text(self) -> str:
        return self.stream.getvalue()

    def close(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        logging.getLogger().setLevel(self._level)
