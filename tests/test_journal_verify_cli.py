"""``anpr-agent journal verify`` on intact and tampered journals: checkpoints, heads, keys."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from conftest import make_read, pki_config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.cli.main import main
from agent.config.load import load_config
from agent.core.clock import SystemClock
from agent.journal.store import Journal
from agent.journal.verify import Checkpoint, verify_records
from agent.security.crypto import Sealer, Signer
from agent.security.keyfiles import load_sealing_public_key, load_signing_key

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from simulator.pki import DevPki


def _journal(config: Path, key: ed25519.Ed25519PrivateKey | None = None) -> Journal:
    cfg = load_config(config, {}).config
    return Journal(
        cfg.journal.path,
        camera="cam-01",
        signer=Signer(key or load_signing_key(cfg.keys.signing_key)),
        sealer=Sealer(load_sealing_public_key(cfg.keys.sealing_public_key)),
        config=cfg.journal.model_copy(update={"checkpoint_every": 10}),
        clock=SystemClock(),
    )


def _setup(tmp_path: Path, pki: DevPki) -> tuple[Path, Path]:
    """A journal with 30 reads and 12 count windows, a checkpoint every 10 records."""
    path = tmp_path / "journal.sqlite"
    config = tmp_path / "agent.toml"
    config.write_text(pki_config(pki, path), encoding="utf-8")
    journal = _journal(config)
    for i in range(30):
        journal.append_read(make_read())
        if i < 12:
            journal.append_count({"window_start": i * 60})
    journal.close()
    return config, path


def _checkpoints(path: Path, out: Path) -> Path:
    """What a back office kept: every checkpoint of both streams, in one file."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT wire FROM records WHERE type = 'checkpoint'").fetchall()
    out.write_bytes(b"\n".join(r[0] for r in rows) + b"\n")
    return out


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["journal", "verify", *args])
    return code, capsys.readouterr().out.splitlines()


def test_checkpoints_of_both_streams_in_one_file_verify_an_intact_journal(
    tmp_path: Path, pki: DevPki, capsys: pytest.CaptureFixture[str]
) -> None:
    config, path = _setup(tmp_path, pki)
    seen = _checkpoints(path, tmp_path / "seen.jsonl")
    code, lines = _verify(capsys, "--config", str(config), "--checkpoints", str(seen))
    assert code == 0, lines
    assert lines[0].startswith("journal intact: reads 33 records through seq 33; counts 13")
    # Tampered: the reads tail is cut; only that is reported, no stream mix-up.
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM records WHERE stream = 'reads' AND seq > 25")
    code, lines = _verify(capsys, "--config", str(config), "--checkpoints", str(seen))
    assert code == 1
    assert lines
    assert all(line.startswith("reads: seq 25: truncation:") for line in lines), lines
    assert not any("wrong-stream" in line for line in lines)


def test_a_tail_cut_after_the_last_checkpoint_shows_against_the_heads_table(
    tmp_path: Path, pki: DevPki, capsys: pytest.CaptureFixture[str]
) -> None:
    config, path = _setup(tmp_path, pki)
    journal = _journal(config)
    for _ in range(3):  # seqs 34..36, after the last checkpoint (seq 33, vouching for 32)
        journal.append_read(make_read())
    journal.close()
    seen = _checkpoints(path, tmp_path / "seen.jsonl")
    args = ("--config", str(config), "--stream", "reads", "--checkpoints", str(seen))
    code, _ = _verify(capsys, *args)
    assert code == 0
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM records WHERE stream = 'reads' AND seq > 33")
    code, lines = _verify(capsys, *args)
    assert code == 1
    assert lines == [
        (
            "reads: seq 33: truncation: the journal's heads table names seq 36 as the head; "
            "records end at 33"
        )
    ]
    # A heads table moved back to hide the records after it is caught too.
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE heads SET seq = 30 WHERE stream = 'reads'")
    code, lines = _verify(capsys, *args)
    assert code == 1
    assert lines == [
        (
            "reads: seq 30: rollback: the journal's heads table names seq 30 as the head; "
            "records run to 33"
        )
    ]


def test_a_change_of_signing_key_without_a_key_record_is_refused_with_both_keys_given(
    tmp_path: Path, pki: DevPki, capsys: pytest.CaptureFixture[str]
) -> None:
    config, path = _setup(tmp_path, pki)
    other = ed25519.Ed25519PrivateKey.generate()
    keys = tmp_path / "keys"
    keys.mkdir()
    pubs = []
    for name, key in (("old", load_signing_key(pki.path("device-sign.key"))), ("new", other)):
        pub = keys / f"{name}.pub"
        pub.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        pubs += ["--pubkey", str(pub)]
    code, _ = _verify(capsys, "--config", str(config), "--stream", "reads", *pubs)
    assert code == 0  # intact: one key throughout; trusting a second changes nothing
    journal = _journal(config, other)  # the chain goes on under a key nobody announced
    journal.append_read(make_read())
    journal.close()
    code, lines = _verify(capsys, "--config", str(config), "--stream", "reads", *pubs)
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith("reads: seq 34: unknown-key: signed by key ")
    assert "no key record between" in lines[0]
    # A back office fed in any order sees the same.
    with sqlite3.connect(path) as conn:
        wires = [r[0] for r in conn.execute("SELECT wire FROM records WHERE stream = 'reads'")]
    trusted = {
        Signer(k).key_id: k.public_key()
        for k in (load_signing_key(pki.path("device-sign.key")), other)
    }
    _, problems = verify_records("cam-01", "reads", trusted, reversed(wires), ordered=False)
    assert [(p.seq, p.kind) for p in problems] == [(34, "unknown-key")]


def test_a_truncation_message_names_the_checkpoint_and_the_seq_it_vouched_for(
    tmp_path: Path, pki: DevPki
) -> None:
    _, path = _setup(tmp_path, pki)
    with sqlite3.connect(path) as conn:
        wires = [
            r[0]
            for r in conn.execute("SELECT wire FROM records WHERE stream = 'reads' ORDER BY seq")
        ]
    keys = {
        Signer(k).key_id: k.public_key() for k in [load_signing_key(pki.path("device-sign.key"))]
    }
    _, problems = verify_records("cam-01", "reads", keys, wires)
    assert problems == []  # intact
    # The checkpoint at seq 11 vouches for seq 10; the stream is cut right before it.
    _, problems = verify_records(
        "cam-01", "reads", keys, wires[:10], known_checkpoints=[Checkpoint(11, 10, "0" * 64)]
    )
    assert [str(p) for p in problems] == [
        (
            "seq 10: truncation: the stream ends at seq 10 but a checkpoint seen earlier is "
            "seq 11 (vouching for seq 10)"
        )
    ]
