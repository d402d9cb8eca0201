"""``anpr-agent journal stats|verify`` and ``keys init|show``: exit codes and one-line errors."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from typing import TYPE_CHECKING

from conftest import make_read, pki_config

from agent.config.load import load_config
from agent.core.clock import SystemClock
from agent.journal.store import Journal
from agent.security.crypto import Sealer, Signer
from agent.security.keyfiles import load_sealing_public_key, load_signing_key

if TYPE_CHECKING:
    from pathlib import Path

    from simulator.pki import DevPki


def _agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _setup(tmp_path: Path, pki: DevPki, reads: int = 30) -> tuple[Path, Path]:
    journal_path = tmp_path / "journal.sqlite"
    config = tmp_path / "agent.toml"
    config.write_text(pki_config(pki, journal_path), encoding="utf-8")
    cfg = load_config(config, {}).config
    journal = Journal(
        journal_path,
        camera="cam-01",
        signer=Signer(load_signing_key(cfg.keys.signing_key)),
        sealer=Sealer(load_sealing_public_key(cfg.keys.sealing_public_key)),
        config=cfg.journal.model_copy(update={"checkpoint_every": 10}),
        clock=SystemClock(),
    )
    for _ in range(reads):
        journal.append_read(make_read())
    journal.mark_confirmed("reads", 12).result()
    journal.close()
    return config, journal_path


def test_verify_and_stats_of_an_intact_journal(tmp_path: Path, pki: DevPki) -> None:
    config, _ = _setup(tmp_path, pki)
    res = _agent("journal", "verify", "--config", str(config))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("journal intact: reads 33 records through seq 33")
    # An auditor with only the public key gets the same answer.
    pub = str(pki.path("device-sign.pub"))
    assert _agent("journal", "verify", "--config", str(config), "--pubkey", pub).returncode == 0
    res = _agent("journal", "stats", "--config", str(config), "--json")
    stats = json.loads(res.stdout)
    reads = next(s for s in stats["streams"] if s["stream"] == "reads")
    assert (reads["head_seq"], reads["confirmed"], reads["pending"]) == (33, 12, 21)


def test_verify_reports_each_problem_and_exits_1(tmp_path: Path, pki: DevPki) -> None:
    config, journal_path = _setup(tmp_path, pki)
    checkpoints = tmp_path / "seen.jsonl"
    conn = sqlite3.connect(journal_path)
    rows = conn.execute("SELECT wire FROM records WHERE type = 'checkpoint'").fetchall()
    checkpoints.write_bytes(b"\n".join(r[0] for r in rows) + b"\n")
    with conn:
        conn.execute("DELETE FROM records WHERE seq = 5")
        conn.execute("DELETE FROM records WHERE seq > 25")
    conn.close()
    res = _agent("journal", "verify", "--config", str(config), "--checkpoints", str(checkpoints))
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert "reads: seq 5: gap: seqs 5..5" in lines
    assert any(line.startswith("reads: seq 25: truncation:") for line in lines)
    assert "Traceback" not in res.stderr


def test_bad_journal_file_is_exit_2_and_untouched(tmp_path: Path, pki: DevPki) -> None:
    config = tmp_path / "agent.toml"
    journal_path = tmp_path / "journal.sqlite"
    config.write_text(pki_config(pki, journal_path), encoding="utf-8")
    res = _agent("journal", "verify", "--config", str(config))
    assert res.returncode == 2
    assert res.stderr.strip() == f"anpr-agent: journal {journal_path} does not exist"
    journal_path.write_bytes(b"garbage" * 1000)
    res = _agent("journal", "stats", "--config", str(config))
    assert res.returncode == 2
    assert len(res.stderr.splitlines()) == 1
    assert "not a SQLite database" in res.stderr
    assert journal_path.read_bytes() == b"garbage" * 1000


def test_keys_init_creates_a_private_key_once_and_show_prints_fingerprints(
    tmp_path: Path, pki: DevPki
) -> None:
    key = tmp_path / "sign.key"
    config = tmp_path / "agent.toml"
    text = pki_config(pki).replace(str(pki.path("device-sign.key")), str(key))
    config.write_text(text, encoding="utf-8")
    res = _agent("keys", "init", "--config", str(config))
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "sign.key.pub").exists()
    again = _agent("keys", "init", "--config", str(config))
    assert again.returncode == 2
    assert "exists: refusing to replace it" in again.stderr
    show = _agent("keys", "show", "--config", str(config))
    assert show.returncode == 0, show.stderr
    assert show.stdout.splitlines()[0].startswith("signing key id ")
    assert "police client cert sha256 " in show.stdout
    key.chmod(0o644)
    refused = _agent("keys", "show", "--config", str(config))
    assert refused.returncode == 2
    assert "accessible by others (mode 0644)" in refused.stderr


def test_journal_benchmark_runs_and_verifies(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "simulator", "bench", "journal", "--records", "300", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["records"] == 300
    assert result["verified"] == 303  # and a checkpoint every 100
    assert result["problems"] == 0
    assert result["synchronous"] == "FULL"
    assert {"appends_per_s", "verify_per_s", "bytes_per_record"} <= set(result)
