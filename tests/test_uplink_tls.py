"""TLS refusals: each is a clear log line and an alarm, and nothing is ever sent in plaintext."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from typing import TYPE_CHECKING

import pytest
from conftest import make_read
from uplink_rig import device_context, make_uplink, tls_listener, uplink_config, wait_until

from simulator.broker import Broker, camera_acl
from simulator.mqttc import client_context
from simulator.pki import issue_cert, load_issued, save_issued

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from conftest import JournalKit

    from simulator.pki import DevPki

pytestmark = pytest.mark.broker


@pytest.fixture
def tls11_server(pki: DevPki) -> Iterator[str]:
    """A server that speaks TLS 1.1 at most (what an old broker would)."""
    listener = tls_listener(pki, "police-broker", ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1)
    yield f"mqtts://127.0.0.1:{next(listener)}"
    next(listener, None)


def _refused(
    kit: JournalKit,
    pki: DevPki,
    url: str,
    context: Callable[[], ssl.SSLContext],
    caplog: pytest.LogCaptureFixture,
) -> str:
    journal = kit.open()
    journal.append_read(make_read())
    uplink = make_uplink(journal, uplink_config(pki, [url]), context)
    with caplog.at_level(logging.ERROR, logger="anpr.uplink"):
        uplink.start()
        try:
            assert wait_until(lambda: uplink.stats.connect_failures >= 2, 10)
            assert uplink.stats.connects == 0
            assert any("cannot connect" in a for a in uplink.alarms)
        finally:
            uplink.stop(1)
    assert [r.seq for r in journal.pending("reads", 5)] == [1]
    lines = [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len(lines) == 1  # one clear line, not one per retry
    return lines[0]


def test_no_client_certificate(
    police: Broker, pki: DevPki, kit: JournalKit, caplog: pytest.LogCaptureFixture
) -> None:
    line = _refused(
        kit, pki, police.url, lambda: client_context(pki.path("police-ca.crt"), None, None), caplog
    )
    assert "refused our client certificate" in line


def test_broker_certificate_from_another_ca(
    police: Broker, pki: DevPki, kit: JournalKit, caplog: pytest.LogCaptureFixture
) -> None:
    line = _refused(kit, pki, police.url, lambda: device_context(pki, ca="civil-ca"), caplog)
    assert "broker certificate refused: " in line
    assert "certificate" in line.split("refused: ")[1]


def test_expired_client_certificate(
    police: Broker, pki: DevPki, kit: JournalKit, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = load_issued(pki.path("police-ca.crt"), pki.path("police-ca.key"))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
    crt, key = save_issued(tmp_path, "old", issue_cert(ca, "cam-01", not_before=start, days=30))
    line = _refused(
        kit, pki, police.url, lambda: client_context(pki.path("police-ca.crt"), crt, key), caplog
    )
    assert "refused our client certificate" in line


def test_wrong_server_hostname(
    pki: DevPki, kit: JournalKit, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = load_issued(pki.path("police-ca.crt"), pki.path("police-ca.key"))
    crt, key = save_issued(
        tmp_path, "elsewhere", issue_cert(ca, "elsewhere", server_names=("elsewhere.example",))
    )
    acl = camera_acl("anpr/v1", ("backoffice",), uplink=("reads",))
    with Broker(tmp_path / "broker", ca=pki.path("police-ca.crt"), cert=crt, key=key, acl=acl) as b:
        line = _refused(kit, pki, b.url, lambda: device_context(pki), caplog)
    assert "broker certificate refused: IP address mismatch" in line


def test_tls_1_1_is_refused(
    tls11_server: str, pki: DevPki, kit: JournalKit, caplog: pytest.LogCaptureFixture
) -> None:
    line = _refused(kit, pki, tls11_server, lambda: device_context(pki), caplog)
    assert "TLS handshake failed" in line
    assert "PROTOCOL_VERSION" in line.upper()
