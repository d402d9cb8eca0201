"""Small mends: reload of the pass timeout, check-connect on every broker, the sealed length
prefix, no ``assert`` doing real work in the agent, and the agent's own TLS context refusing."""

from __future__ import annotations

import ast
import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from conftest import make_read
from uplink_rig import tls_listener, uplink_config

from agent.core.events import Frame, PlateBox, PlateRead, PlateText, Sighting
from agent.journal.records import parse_record
from agent.recognition.pipeline import Passes
from agent.security.crypto import SealError, seal_info
from agent.security.tls import build_client_context
from agent.uplink.probe import tls_preflight, tls_reason
from simulator.broker import free_port
from simulator.demo import agent_env
from simulator.pki import issue_cert, load_issued, save_issued

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import JournalKit

    from simulator.broker import Broker
    from simulator.pki import DevPki

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------ pass timeout on reload


class _OnePlate:
    """Our recognizer seam: the same plate, in the same place, while ``seen`` is set."""

    def __init__(self) -> None:
        self.seen = True

    def recognise(self, _image: object) -> list[Sighting]:
        if not self.seen:
            return []
        box = PlateBox(((100, 100), (200, 100), (200, 120), (100, 120)), 0.9)
        return [Sighting(box, PlateText("1ABC123", (900,) * 7, "B"))]


def _frame(mono: float) -> Frame:
    return Frame(0, int(mono * 1000), mono, np.zeros((480, 640, 3), np.uint8))


def test_a_reloaded_pass_timeout_applies_to_the_running_tracker() -> None:
    fake = _OnePlate()
    passes = Passes(fake, pass_timeout_s=2.0)  # type: ignore[arg-type]
    for i in range(3):
        assert passes.feed(_frame(i * 0.1)) == []
    passes.timeout_s = 10.0  # what Pipeline.reconfigure does on SIGHUP
    fake.seen = False
    # 3 s unseen: the old 2 s would close the pass, the reloaded 10 s must not.
    assert passes.feed(_frame(3.2)) == []
    ended = passes.feed(_frame(10.3))
    assert [r.text for r in ended if isinstance(r, PlateRead)] == ["1ABC123"]


# ------------------------------------------------------------ check-connect


@pytest.mark.broker
def test_check_connect_fails_when_any_broker_of_a_list_refuses(
    tmp_path: Path, pki: DevPki, police: Broker, civil: Broker
) -> None:
    env = agent_env(tmp_path, pki, police, civil)
    # The first broker answers; the failover target does not: the box is not ready.
    env["ANPR_POLICE__BROKERS"] = json.dumps([police.url, f"mqtts://127.0.0.1:{free_port()}"])
    res = subprocess.run(
        [sys.executable, "-m", "agent", "check-connect", "--config", "config/simulator.toml"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"police {police.url}: ok" in res.stdout
    assert "FAILED: connection refused" in res.stdout


# ------------------------------------------------------------ sealed length prefix


def _sealed_with(kit: JournalKit, plain: bytes) -> dict[str, object]:
    """A read record whose sealed content is ``plain`` (as a broken encoder would make)."""
    journal = kit.open()
    seq = journal.append_read(make_read())
    record = parse_record(journal.records("reads", seq, seq)[0].wire)
    sealer_blob = journal._sealer.seal(plain, seal_info("cam-01", "reads", seq))
    from agent.core.canonical import b64  # noqa: PLC0415

    return {**record.body, "sealed": b64(sealer_blob)}


@pytest.mark.parametrize(
    "plain",
    [b"\x00\x00\x01\x00" + b'{"text":"1ABC123"}', b"\x00\x00"],
    ids=["prefix-beyond-content", "shorter-than-prefix"],
)
def test_a_sealed_read_whose_length_prefix_lies_is_refused(kit: JournalKit, plain: bytes) -> None:
    from agent.journal.records import ParsedRecord, open_read  # noqa: PLC0415

    body = _sealed_with(kit, plain)
    record = ParsedRecord(body, b"", b"", "", canonical=True)
    with pytest.raises(SealError, match="prefix"):
        open_read(record, kit.seal_key)


# ------------------------------------------------------------ no assert doing work


def test_the_agent_narrows_types_without_assert() -> None:
    """``python -O`` strips ``assert``: a check the code relies on must be a real one."""
    found = []
    for path in sorted((REPO / "agent").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [
            f"{path.relative_to(REPO)}:{n.lineno}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Assert)
        ]
    assert found == []


def test_status_prints_under_python_optimised(tmp_path: Path, pki: DevPki) -> None:
    from conftest import pki_config  # noqa: PLC0415

    config = tmp_path / "agent.toml"
    config.write_text(
        pki_config(pki, tmp_path / "journal.sqlite")
        + f'\n[service]\nmetrics_address = "127.0.0.1:{free_port()}"\n',
        encoding="utf-8",
    )
    # A journal to read: the status falls back to it when no agent answers.
    kit_journal = tmp_path / "journal.sqlite"
    from agent.config.load import load_config  # noqa: PLC0415
    from agent.journal.store import Journal  # noqa: PLC0415
    from agent.security.crypto import Sealer, Signer  # noqa: PLC0415
    from agent.security.keyfiles import load_sealing_public_key, load_signing_key  # noqa: PLC0415
    from simulator.fakes import FakeClock  # noqa: PLC0415

    cfg = load_config(config, {}).config
    journal = Journal(
        kit_journal,
        camera=cfg.camera.id,
        signer=Signer(load_signing_key(cfg.keys.signing_key)),
        sealer=Sealer(load_sealing_public_key(cfg.keys.sealing_public_key)),
        config=cfg.journal,
        clock=FakeClock(),
    )
    journal.close()
    res = subprocess.run(
        [
            sys.executable,
            "-O",
            "-m",
            "agent",
            "status",
            "--config",
            str(config),
            "--timeout",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert res.returncode == 1, res.stderr
    assert "NOT RUNNING" in res.stdout
    assert "reads" in res.stdout
    assert "Traceback" not in res.stderr


# ------------------------------------------------------------ the agent's own TLS context


@pytest.fixture
def tls12_only(pki: DevPki) -> Iterator[int]:
    """A listener that speaks TLS 1.2 at most, with the real broker certificate."""
    yield from tls_listener(pki, "police-broker", ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)


@pytest.fixture
def tls11_only(pki: DevPki) -> Iterator[int]:
    yield from tls_listener(pki, "police-broker", ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1)


def _handshake(pki: DevPki, port: int, **overrides: object) -> str | None:
    cfg = uplink_config(pki, [f"mqtts://127.0.0.1:{port}"], **overrides)
    try:
        tls_preflight("127.0.0.1", port, build_client_context(cfg), 5.0)
    except (OSError, ssl.SSLError) as exc:
        return tls_reason(exc)
    return None


def test_the_agent_context_accepts_tls_1_2_by_default(pki: DevPki, tls12_only: int) -> None:
    assert _handshake(pki, tls12_only) is None  # the control: this server is otherwise fine


def test_the_agent_context_refuses_below_its_minimum(pki: DevPki, tls12_only: int) -> None:
    reason = _handshake(pki, tls12_only, tls_min_version="1.3")
    assert reason is not None
    assert "TLS handshake failed" in reason


def test_the_agent_context_refuses_tls_1_1(pki: DevPki, tls11_only: int) -> None:
    reason = _handshake(pki, tls11_only)
    assert reason is not None
    assert "TLS handshake failed" in reason


def test_the_agent_context_checks_the_broker_host_name(pki: DevPki, tmp_path: Path) -> None:
    ca = load_issued(pki.path("police-ca.crt"), pki.path("police-ca.key"))
    crt, _ = save_issued(
        tmp_path, "elsewhere", issue_cert(ca, "elsewhere", server_names=("elsewhere.example",))
    )
    server = tls_listener(pki, "", ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, cert=crt)
    port = next(server)
    try:
        reason = _handshake(pki, port)
    finally:
        next(server, None)
    assert reason is not None
    assert "broker certificate refused: IP address mismatch" in reason


def test_the_agent_context_trusts_only_the_configured_ca(pki: DevPki, tls12_only: int) -> None:
    reason = _handshake(pki, tls12_only, ca=pki.path("civil-ca.crt"))
    assert reason is not None
    assert reason.startswith("broker certificate refused")
