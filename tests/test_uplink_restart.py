"""An agent SIGKILLed in the middle of a drain finishes it after a restart, losing nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import make_read
from cryptography.hazmat.primitives import serialization
from uplink_rig import make_backoffice, uplink_config, wait_until

if TYPE_CHECKING:
    from conftest import JournalKit

    from simulator.backoffice import CameraFeed
    from simulator.broker import Broker
    from simulator.pki import DevPki

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import sys, threading
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from agent.core.clock import SystemClock
from agent.config.schema import JournalConfig, UplinkConfig
from agent.security.crypto import Sealer, Signer
from agent.journal.store import Journal
from agent.security.tls import build_client_context
from agent.uplink.client import Uplink

path, sign_pem, seal_pem, cfg_json = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
signer = Signer(serialization.load_pem_private_key(Path(sign_pem).read_bytes(), None))
sealer = Sealer(serialization.load_pem_public_key(Path(seal_pem).read_bytes()))
journal = Journal(path, camera="cam-01", signer=signer, sealer=sealer,
                  config=JournalConfig(path=path, checkpoint_every=1000), clock=SystemClock())
cfg = UplinkConfig.model_validate_json(cfg_json)
uplink = Uplink("police", cfg, camera_id="cam-01", journal=journal, stream="reads",
                leaf="reads", context=lambda: build_client_context(cfg), clock=SystemClock())
uplink.start()
print("started", flush=True)
threading.Event().wait()
"""


def _spawn(kit: JournalKit, tmp_path: Path, cfg_json: str) -> subprocess.Popen[bytes]:
    sign_pem, seal_pem = tmp_path / "sign.pem", tmp_path / "seal.pub"
    if not sign_pem.exists():
        sign_pem.write_bytes(
            kit.sign_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        seal_pem.write_bytes(
            kit.seal_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(kit.path), str(sign_pem), str(seal_pem), cfg_json],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None
    assert child.stdout.readline() == b"started\n"
    return child


def _end(child: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    child.send_signal(sig)
    child.wait()
    if child.stdout is not None:
        child.stdout.close()


def test_sigkill_mid_drain_then_restart_delivers_everything(
    police: Broker, pki: DevPki, kit: JournalKit, tmp_path: Path
) -> None:
    journal = kit.open()
    futures = [journal.submit_read(make_read()) for _ in range(8000)]
    assert futures[-1].result() == 8007  # and 7 checkpoints
    kit.close()
    office = make_backoffice(police.url, pki, kit)
    office.start()
    cfg_json = uplink_config(pki, [police.url], inflight=100).model_dump_json()
    try:
        child = _spawn(kit, tmp_path, cfg_json)

        def feed() -> CameraFeed | None:
            return office.feed("cam-01")

        assert wait_until(lambda: (f := feed()) is not None and f.received > 1000, 60)
        _end(child, signal.SIGKILL)
        got = feed()
        assert got is not None
        assert got.contiguous_through() < 8000  # killed mid-drain
        child = _spawn(kit, tmp_path, cfg_json)
        assert office.wait_complete("cam-01", 8008, timeout=120)
        _end(child, signal.SIGTERM)
    finally:
        office.stop()
    assert office.problems == []
    got = feed()
    assert got is not None
    assert len(got.opened) == 8000
