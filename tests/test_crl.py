"""Revocation: police.crl / civil.crl refuse a revoked broker; brokers refuse revoked cameras."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from typing import TYPE_CHECKING

import pytest
from conftest import pki_config
from cryptography import x509
from service_rig import write_config
from uplink_rig import uplink_config, wait_until

from agent.cli.main import main as agent_main
from agent.config.load import load_config
from agent.security.tls import build_client_context
from agent.service import Service, ServiceOptions
from agent.uplink.probe import probe_broker
from simulator.mqttc import ConnectError, client_context, connect
from simulator.pki import load_issued, new_ca, write_crl

if TYPE_CHECKING:
    from pathlib import Path

    from simulator.broker import Broker
    from simulator.pki import DevPki


def _broker_cert(pki: DevPki, side: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pki.path(f"{side}-broker.crt").read_bytes())


def _revoking_the_broker(pki: DevPki, side: str, path: Path) -> Path:
    ca = load_issued(pki.path(f"{side}-ca.crt"), pki.path(f"{side}-ca.key"))
    write_crl(path, ca, (_broker_cert(pki, side),))
    return path


@pytest.mark.broker
def test_a_revoked_broker_certificate_is_refused_at_connect(
    police: Broker, pki: DevPki, tmp_path: Path
) -> None:
    # The dev CA's own CRL revokes a camera certificate, not the broker: connect.
    cfg = uplink_config(pki, [police.url], crl=pki.path("police-ca.crl"))
    result = probe_broker(police.url, build_client_context(cfg), "cam-01-probe", timeout=5)
    assert result.ok, result.detail
    # The CA revokes the broker's certificate: the handshake fails, and says why.
    revoked = _revoking_the_broker(pki, "police", tmp_path / "police.crl")
    cfg = uplink_config(pki, [police.url], crl=revoked)
    result = probe_broker(police.url, build_client_context(cfg), "cam-01-probe", timeout=5)
    assert not result.ok
    assert "revoked" in result.detail


@pytest.mark.broker
def test_the_simulator_brokers_refuse_a_revoked_camera_certificate(
    police: Broker, civil: Broker, pki: DevPki
) -> None:
    for broker, side, good in ((police, "police", "device"), (civil, "civil", "civil-device")):
        ca = pki.path(f"{side}-ca.crt")
        client = connect(
            broker.url,
            client_context(ca, pki.path(f"{good}.crt"), pki.path(f"{good}.key")),
            "cam-01",
        )
        client.disconnect()
        client.loop_stop()
        revoked = client_context(
            ca, pki.path(f"{side}-revoked.crt"), pki.path(f"{side}-revoked.key")
        )
        with pytest.raises((ConnectError, OSError)):
            connect(broker.url, revoked, "cam-01")
        assert "certificate verify failed" in broker.log_text()  # the CRL lists it


def test_check_config_refuses_a_crl_of_another_ca_or_an_expired_one(
    pki: DevPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(pki_config(pki, tmp_path / "journal.sqlite"), encoding="utf-8")
    assert agent_main(["check-config", str(config)]) == 0  # the dev PKI's CRLs
    capsys.readouterr()
    stranger = tmp_path / "stranger.crl"
    write_crl(stranger, new_ca("someone else's CA"), ())
    stale = tmp_path / "stale.crl"
    ca = load_issued(pki.path("civil-ca.crt"), pki.path("civil-ca.key"))
    write_crl(stale, ca, (), now=dt.datetime.now(dt.UTC) - dt.timedelta(days=3660))
    text = config.read_text(encoding="utf-8")
    text = text.replace(str(pki.path("police-ca.crl")), str(stranger))
    text = text.replace(str(pki.path("civil-ca.crl")), str(stale))
    config.write_text(text, encoding="utf-8")
    assert agent_main(["check-config", str(config)]) == 2
    lines = [line.split(": ", 2)[2] for line in capsys.readouterr().err.splitlines()]
    assert f"police.crl: {stranger} is not signed by the configured CA" in lines
    assert any(line.startswith(f"civil.crl: {stale} expired on ") for line in lines)
    assert len(lines) == 2


@pytest.mark.broker
def test_a_crl_renewed_on_disk_applies_on_sighup(
    police: Broker, civil: Broker, pki: DevPki, tmp_path: Path
) -> None:
    crl = tmp_path / "police.crl"
    shutil.copy(pki.path("police-ca.crl"), crl)
    config = write_config(tmp_path / "agent.toml", pki, police=police.url, civil=civil.url)
    config.write_text(
        config.read_text(encoding="utf-8").replace(str(pki.path("police-ca.crl")), str(crl)),
        encoding="utf-8",
    )
    service = Service(
        load_config(config, {}), options=ServiceOptions(drain_only=True, serve_metrics=False)
    )
    thread = threading.Thread(target=service.run, name="service-under-test")
    thread.start()
    try:
        uplink = service.police_uplink
        assert wait_until(lambda: uplink.stats.connected, 30)
        failures = uplink.stats.connect_failures
        _revoking_the_broker(pki, "police", crl)  # the CA revoked the broker meanwhile
        service.request_reload()
        assert wait_until(lambda: uplink.stats.connect_failures > failures, 30)
        assert not uplink.stats.connected
        assert any("revoked" in alarm for alarm in uplink.alarms)
        assert service.civil_uplink.stats.connected  # the civil CRL did not change
    finally:
        service.request_stop()
        thread.join(60)
