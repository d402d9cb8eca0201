"""Dev PKI, ``anpr-agent check-connect`` against real brokers, and the demo end to end."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser import chromium, render
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from simulator.demo import agent_env
from simulator.pki import init_pki, load_issued, write_crl

if TYPE_CHECKING:
    from simulator.broker import Broker
    from simulator.pki import DevPki

REPO = Path(__file__).resolve().parents[1]


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_private_files_are_owner_only(pki: DevPki) -> None:
    for path in pki.root.iterdir():
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.suffix == ".key":
            assert mode == 0o600, path
        else:
            assert not mode & 0o022, path


def test_certificates_have_the_right_names_and_issuers(pki: DevPki) -> None:
    device = _cert(pki.path("device.crt"))
    cn = device.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "cam-01"
    device.verify_directly_issued_by(_cert(pki.path("police-ca.crt")))
    civil = _cert(pki.path("civil-device.crt"))
    civil.verify_directly_issued_by(_cert(pki.path("civil-ca.crt")))
    with pytest.raises((ValueError, TypeError, InvalidSignature)):
        civil.verify_directly_issued_by(_cert(pki.path("police-ca.crt")))
    san = _cert(pki.path("police-broker.crt")).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "localhost" in san.value.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "::1",
    ]


def test_pki_init_reuses_and_refuses_to_clobber(pki: DevPki) -> None:
    before = pki.path("device.crt").read_bytes()
    assert init_pki(pki.root, "cam-01").path("device.crt").read_bytes() == before
    with pytest.raises(FileExistsError, match="holds a PKI for camera 'cam-01'"):
        init_pki(pki.root, "cam-99")


def _agent(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.broker
def test_check_connect_reaches_both_brokers(
    tmp_path: Path, pki: DevPki, police: Broker, civil: Broker
) -> None:
    env = agent_env(tmp_path, pki, police, civil)
    res = _agent(env, "check-connect", "--config", str(REPO / "config" / "simulator.toml"))
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines == [
        f"police {police.url}: ok: connected (mutual TLS, MQTT 5)",
        f"civil {civil.url}: ok: connected (mutual TLS, MQTT 5)",
    ]


@pytest.mark.broker
def test_check_connect_reports_a_refusing_broker(
    tmp_path: Path, pki: DevPki, police: Broker, civil: Broker
) -> None:
    env = agent_env(tmp_path, pki, police, civil)
    # The police CA revoked its broker's certificate: the client must refuse it. (A wrong
    # CA no longer gets this far: check-config refuses a client cert it did not issue.)
    crl = tmp_path / "police.crl"
    police_ca = load_issued(pki.path("police-ca.crt"), pki.path("police-ca.key"))
    broker = load_issued(pki.path("police-broker.crt"), pki.path("police-broker.key"))
    write_crl(crl, police_ca, (broker.cert,))
    env["ANPR_POLICE__CRL"] = str(crl)
    res = _agent(env, "check-connect", "--config", str(REPO / "config" / "simulator.toml"))
    assert res.returncode == 1
    assert "police" in res.stdout
    assert "FAILED: broker certificate refused: certificate revoked" in res.stdout
    assert "Traceback" not in res.stderr


@pytest.mark.broker
@pytest.mark.skipif(
    not (REPO / "agent" / "recognition" / "models" / "detector.card.json").exists()
    or not (REPO / "agent" / "recognition" / "models" / "reader.card.json").exists(),
    reason="detector or reader not shipped",
)
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "demo",
            "--out",
            str(tmp_path),
            "--seconds",
            "15",
            "--rate",
            "30",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    summary = json.loads(res.stdout)
    assert summary["ok"] is True
    assert summary["lost"] == 0
    assert summary["civil_privacy_violations"] == 0
    assert summary["passes"] > 0
    for key in (
        "reads_sent",
        "reads_received",
        "reads_verified",
        "recall",
        "exact_rate",
        "civil_windows",
        "p95_latency_ms",
    ):
        assert key in summary
    names = [s["step"] for s in summary["steps"]]
    assert "police broker refuses the other flux's identity" in names
    for name in ("truth.jsonl", "police.jsonl", "civil.jsonl", "report.html", "summary.json"):
        assert (tmp_path / name).exists(), name
    if chromium() is not None:  # the run's own report, drawn (tests/test_report_browser.py)
        page = render(tmp_path / "report.html", {"svgs": "document.querySelectorAll('svg').length"})
        assert page.errors == []
        assert page.values["svgs"] >= 2  # the timeline and the backlog at least
