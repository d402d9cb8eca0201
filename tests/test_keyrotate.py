"""Signing key rotation: announced under the old key, followed by the verifier, else refused."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest
from conftest import make_read
from service_rig import write_config

from agent.cli.main import main
from agent.config.load import load_config
from agent.core.clock import SystemClock
from agent.journal.db import open_readonly
from agent.journal.lock import JournalLock
from agent.journal.records import parse_record
from agent.journal.store import Journal
from agent.journal.verify import verify_records
from agent.security.crypto import Sealer, Signer, key_id
from agent.security.keyfiles import load_sealing_public_key, load_signing_key

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric import ed25519

    from simulator.pki import DevPki


def _journal(config: Path, key: ed25519.Ed25519PrivateKey) -> Journal:
    cfg = load_config(config, {}).config
    return Journal(
        cfg.journal.path,
        camera="cam-01",
        signer=Signer(key),
        sealer=Sealer(load_sealing_public_key(cfg.keys.sealing_public_key)),
        config=cfg.journal,
        clock=SystemClock(),
    )


def _wires(path: Path, stream: str = "reads") -> list[bytes]:
    with open_readonly(path, "cam-01") as store:
        return [r.wire for r in store.iter_records(stream)]


@pytest.fixture
def setup(
    pki: DevPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path, ed25519.Ed25519PrivateKey]:
    key = tmp_path / "keys" / "device-sign.key"
    key.parent.mkdir()
    shutil.copy(pki.path("device-sign.key"), key)
    key.chmod(0o600)
    monkeypatch.setenv("ANPR_KEYS__SIGNING_KEY", str(key))
    config = write_config(tmp_path / "agent.toml", pki)
    return config, key, load_signing_key(key)


def test_rotation_is_followed_by_the_verifier_and_the_cli(
    setup: tuple[Path, Path, ed25519.Ed25519PrivateKey],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, key_path, old = setup
    journal = _journal(config, old)
    for i in range(5):
        journal.append_read(make_read(f"1ROT{i:03d}"))
    journal.close()

    assert main(["keys", "rotate", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    new = load_signing_key(key_path)
    old_kid, new_kid = key_id(old.public_key()), key_id(new.public_key())
    assert f"{old_kid} -> {new_kid}" in out
    assert not key_path.with_name(key_path.name + ".new").exists()
    assert key_path.with_name(f"{key_path.name}.{old_kid}.pub").exists()
    assert key_path.stat().st_mode & 0o077 == 0

    journal = _journal(config, new)
    for i in range(5):
        journal.append_read(make_read(f"1ROT{i + 5:03d}"))
    journal.close()

    wires = _wires(tmp_path / "journal.sqlite")
    records = [parse_record(w) for w in wires]
    announce = next(r for r in records if r.kind == "key")
    assert announce.text("kid") == old_kid  # signed by the key it retires
    assert announce.text("new_kid") == new_kid
    assert {r.text("kid") for r in records if r.seq > announce.seq} == {new_kid}
    # Trusting only the original key, the whole chain verifies through the rotation.
    verifier, problems = verify_records("cam-01", "reads", {old_kid: old.public_key()}, wires)
    assert problems == []
    assert verifier.verified == len(wires)
    _, problems = verify_records(
        "cam-01",
        "counts",
        {old_kid: old.public_key()},
        _wires(tmp_path / "journal.sqlite", "counts"),
    )
    assert problems == []
    # The CLI trusts the current key and the keys rotations retired.
    assert main(["journal", "verify", "--config", str(config)]) == 0
    assert "journal intact" in capsys.readouterr().out


def test_an_unannounced_key_and_a_retired_key_are_refused(
    setup: tuple[Path, Path, ed25519.Ed25519PrivateKey],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    config, _, old = setup
    old_kid = key_id(old.public_key())
    assert main(["keys", "rotate", "--config", str(config)]) == 0
    capsys.readouterr()
    # The old key goes on signing after its retirement (a stolen copy, say).
    journal = _journal(config, old)
    journal.append_read(make_read("1OLD001"))
    journal.close()
    # A key nobody announced signs the next record.
    journal = _journal(config, ed25519.Ed25519PrivateKey.generate())
    journal.append_read(make_read("1NEW001"))
    journal.close()
    _, problems = verify_records(
        "cam-01", "reads", {old_kid: old.public_key()}, _wires(tmp_path / "journal.sqlite")
    )
    assert [p.kind for p in problems] == ["retired-key", "unknown-key"]


def test_rotation_is_refused_while_the_agent_holds_the_journal(
    setup: tuple[Path, Path, ed25519.Ed25519PrivateKey],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, key_path, old = setup
    with JournalLock(tmp_path / "journal.sqlite"):
        assert main(["keys", "rotate", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "in use by another anpr-agent" in err[0]
    assert load_signing_key(key_path).private_bytes_raw() == old.private_bytes_raw()
