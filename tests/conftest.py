"""Shared fixtures: a dev PKI per session, real mosquitto brokers per test."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from wire_schemas import tapped

from agent.cli.main import main as agent_main
from agent.config.schema import JournalConfig
from agent.core.events import PlateRead
from agent.journal.store import Journal
from agent.security.crypto import Sealer, Signer
from simulator.demo import civil_broker, police_broker
from simulator.fakes import FakeClock
from simulator.pki import DevPki, agent_config_toml, init_pki

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from simulator.broker import Broker

REPO = Path(__file__).resolve().parents[1]


def pki_config(pki: DevPki, journal: Path | None = None) -> str:
    """A config using the dev PKI by absolute paths."""
    return agent_config_toml(pki, journal=journal or pki.root / "journal.sqlite")


def read_cli(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``anpr-agent read --json ARGS``: exit status, one parsed object per line, stderr."""
    rc = agent_main(["read", "--json", *args])
    out = capsys.readouterr()
    return rc, [json.loads(line) for line in out.out.splitlines()], out.err


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return init_pki(tmp_path_factory.mktemp("pki"), "cam-01")


# Every message on these brokers is checked against docs/schemas/ (tests/wire_schemas.py).
@pytest.fixture
def police(tmp_path: Path, pki: DevPki) -> Iterator[Broker]:
    with police_broker(tmp_path / "police-broker", pki) as broker, tapped(broker, pki, "police"):
        yield broker


@pytest.fixture
def civil(tmp_path: Path, pki: DevPki) -> Iterator[Broker]:
    with civil_broker(tmp_path / "civil-broker", pki) as broker, tapped(broker, pki, "civil"):
        yield broker


# ---------------------------------------------------------------- journal fixtures


def make_read(text: str = "1ABC123", *, crop: bytes = b"\xff\xd8fakejpeg\xff\xd9") -> PlateRead:
    return PlateRead(
        text=text,
        char_conf=tuple(990 - i for i in range(len(text))),
        country="B",
        lane=1,
        direction="approaching",
        vehicle_class=None,
        wall_ms=1_800_000_000_000,
        frames=7,
        crop_jpeg=crop,
    )


class JournalKit:
    """A journal under test with its keys and fake clock."""

    def __init__(self, path: Path, **overrides: object) -> None:
        self.path = path
        self.sign_key = ed25519.Ed25519PrivateKey.generate()
        self.seal_key = x25519.X25519PrivateKey.generate()
        self.signer = Signer(self.sign_key)
        self.clock = FakeClock()
        settings: dict[str, object] = {"path": path, "checkpoint_every": 1000}
        settings.update(overrides)
        self.config = JournalConfig.model_validate(settings)
        self.journal: Journal | None = None

    @property
    def keys(self) -> dict[str, ed25519.Ed25519PublicKey]:
        return {self.signer.key_id: self.sign_key.public_key()}

    def open(self) -> Journal:
        self.journal = Journal(
            self.path,
            camera="cam-01",
            signer=self.signer,
            sealer=Sealer(self.seal_key.public_key()),
            config=self.config,
            clock=self.clock,
        )
        return self.journal

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[JournalKit]:
    k = JournalKit(tmp_path / "journal.sqlite")
    yield k
    k.close()


def mount_tmpfs(tmp_path: Path, size: str) -> Iterator[Path]:
    """A small real filesystem (tmpfs of ``size``, e.g. "2m") for full-disk tests; root only.

    Skips the test with the reason when this machine cannot mount one.
    """
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],  # noqa: S607
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)  # noqa: S607


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``anpr-agent run`` and the service in-process install root handlers: take them away."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
