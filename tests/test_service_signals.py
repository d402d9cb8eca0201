"""A real agent process: SIGTERM mid-run loses nothing, SIGHUP reloads what it safely can."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from service_rig import backoffice, write_config
from uplink_rig import wait_until

from agent.cli.run import fetch_metrics
from agent.journal.db import open_readonly
from agent.journal.records import parse_record
from agent.journal.verify import verify_records
from agent.security.crypto import key_id
from agent.security.keyfiles import load_signing_key

if TYPE_CHECKING:
    from simulator.broker import Broker
    from simulator.pki import DevPki

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[1]


class Process:
    """A child process whose output lines are collected as they come."""

    def __init__(self, argv: list[str], **overrides: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANPR_", "NOTIFY_"))}
        env["PYTHONPATH"] = str(REPO)
        env.update(overrides)
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def _reads_total(address: str) -> float:
    try:
        samples = fetch_metrics(address, 1.0)
    except OSError:
        return 0.0
    return samples.get("anpr_reads_total", [({}, 0.0)])[0][1]


def test_sigterm_mid_run_loses_nothing_and_sighup_reloads(
    police: Broker, civil: Broker, pki: DevPki, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "agent.toml", pki, police=police.url, civil=civil.url)
    address = next(
        line.split('"')[1] for line in config.read_text().splitlines() if "metrics_address" in line
    )
    # The police broker is out of reach during the busy run: every read stays in the journal.
    harness = Process(
        [sys.executable, "tests/agent_harness.py", str(config), "3000", "400"],
        ANPR_POLICE__BROKERS='["mqtts://127.0.0.1:1"]',
    )
    try:
        assert wait_until(lambda: _reads_total(address) >= 200, 60), harness.lines[-5:]
    finally:
        code = harness.stop(signal.SIGTERM)
    assert code == 0, harness.lines[-10:]
    emitted = int(harness.lines[-1].removeprefix("emitted "))
    assert 200 <= emitted < 3000  # stopped mid-run
    assert harness.saw("stopping: flushing reads")

    sign = load_signing_key(pki.path("device-sign.key")).public_key()
    with open_readonly(tmp_path / "journal.sqlite", "cam-01") as store:
        wires = [r.wire for r in store.iter_records("reads")]
    _, problems = verify_records("cam-01", "reads", {key_id(sign): sign}, wires)
    assert problems == []
    assert sum(parse_record(w).kind == "read" for w in wires) == emitted

    # Restarted without a camera, the agent delivers the whole journal.
    office = backoffice(pki, police.url)
    office.start()
    agent = Process([sys.executable, "-m", "agent", "run", "--config", str(config), "--drain-only"])
    try:
        assert office.wait_complete("cam-01", len(wires), timeout=60), agent.lines[-5:]
        assert office.problems == []
        feed = office.feed("cam-01")
        assert feed is not None
        assert len(feed.opened) == emitted
        # SIGHUP: the log level changes live; an identity change is refused, loudly.
        assert not agent.saw('"level": "DEBUG"')
        text = config.read_text()
        text = text.replace('site = "test site"', 'site = "elsewhere"')
        config.write_text(text + 'log_level = "DEBUG"\n')
        agent.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: agent.saw("reload: applied service.log_level"), 30)
        assert agent.saw("camera.site changed")
        assert wait_until(lambda: agent.saw('"level": "DEBUG"'), 30), agent.lines[-5:]
        assert agent.proc.poll() is None  # still the same process
    finally:
        code = agent.stop(signal.SIGTERM)
        office.stop()
    assert code == 0, agent.lines[-10:]
