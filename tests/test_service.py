"""The daemon: reads reach the back office, systemd hears from it, no plate in logs or metrics."""

from __future__ import annotations

import os
import re
import threading
import urllib.request
from typing import TYPE_CHECKING

import pytest
from conftest import make_read
from service_rig import LogCapture, NotifyListener, backoffice, plates, write_config
from uplink_rig import wait_until

from agent.cli.main import main
from agent.config.load import load_config
from agent.service import Notifier, Service, ServiceOptions, status_fields
from simulator.fakes import FakeKernelClock, FakeReadSource
from simulator.pki import issue_cert, load_issued, save_issued

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from simulator.broker import Broker
    from simulator.pki import DevPki


pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    yield capture
    capture.close()


def _fragments(plate: str) -> list[str]:
    return [plate[i : i + n] for n in range(4, len(plate) + 1) for i in range(len(plate) - n + 1)]


def _start(service: Service) -> threading.Thread:
    thread = threading.Thread(target=service.run, name="service-under-test")
    thread.start()
    return thread


@pytest.mark.broker
def test_a_run_delivers_every_read_and_leaks_no_plate(  # noqa: PLR0913, PLR0915, PLR0917
    police: Broker,
    civil: Broker,
    pki: DevPki,
    tmp_path: Path,
    logs: LogCapture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path / "agent.toml", pki, police=police.url, civil=civil.url)
    loaded = load_config(config, {})
    truth = plates(150)
    source = FakeReadSource([make_read(p) for p in truth], rate=300)
    notify = NotifyListener()
    office = backoffice(pki, police.url)
    office.start()
    service = Service(
        loaded,
        source,
        options=ServiceOptions(tick_s=0.1),
        notifier=Notifier({"NOTIFY_SOCKET": notify.address}),
        kernel_clock=FakeKernelClock(),  # a synchronised clock: `status` expects no alarm
    )
    thread = _start(service)
    try:
        assert source.finished.wait(30)
        head = service.journal.stats().streams[1].head_seq
        assert office.wait_complete("cam-01", head, timeout=30)
        assert office.problems == []
        feed = office.feed("cam-01")
        assert feed is not None
        assert sorted(str(m["text"]) for m in feed.opened.values()) == truth
        # The retained heartbeat (every 5 s here) catches up with the run.
        assert wait_until(lambda: office.status.get("cam-01", {}).get("reads") == 150, 30)
        status = office.status["cam-01"]
        assert status["cert_expiry_days"] > 300  # type: ignore[operator]
        address = loaded.config.service.metrics_address
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert "anpr_reads_total 150.0" in metrics
        assert 'anpr_uplink_connected{uplink="police"} 1.0' in metrics
        assert "anpr_inference_ms_bucket" in metrics
        assert "anpr_process_rss_bytes" in metrics
        capsys.readouterr()
        assert main(["status", "--config", str(config)]) == 0
        console = capsys.readouterr().out
        assert "police   connected" in console
        assert "150 reads" in console
        assert "MiB resident" in console
    finally:
        service.request_stop()
        thread.join(60)
        office.stop()
        notify.close()
    assert service.exit_code == 0
    lines = notify.lines()
    assert lines[0] == "READY=1"
    assert "WATCHDOG=1" in lines
    assert "STOPPING=1" in lines
    assert lines.index("STOPPING=1") > lines.index("READY=1")
    captured = logs.text()
    assert '"stream": "reads", "seq": 150' in captured or '"seq": 150' in captured
    published = captured + metrics + repr(status) + console + "\n".join(lines)
    for plate in truth:
        for part in _fragments(plate):
            assert part not in published, "a plate fragment reached logs, metrics or status"
    assert main(["status", "--config", str(config)]) == 1
    assert "NOT RUNNING" in capsys.readouterr().out


def test_a_hung_source_stops_the_watchdog_pings(
    pki: DevPki, tmp_path: Path, logs: LogCapture
) -> None:
    config = write_config(tmp_path / "agent.toml", pki)
    source = FakeReadSource([make_read(p) for p in plates(5)], rate=50)
    notify = NotifyListener()
    service = Service(
        load_config(config, {}),
        source,
        options=ServiceOptions(tick_s=0.05, stall_after_s=0.5, serve_metrics=False),
        notifier=Notifier({"NOTIFY_SOCKET": notify.address}),
    )
    thread = _start(service)
    try:
        assert wait_until(lambda: "WATCHDOG=1" in notify.lines(), 20)
        source.hang()
        assert wait_until(lambda: any(x.startswith("STATUS=stalled") for x in notify.lines()), 20)
        stalled_at = next(i for i, x in enumerate(notify.lines()) if x.startswith("STATUS=stalled"))
        # Ticks go on every 50 ms; none of them may ping while the source is hung.
        assert not wait_until(lambda: "WATCHDOG=1" in notify.lines()[stalled_at:], 1.5)
        assert logs.text().count("pipeline stalled") == 1  # once per stall, not per tick
        source.release()
        assert wait_until(lambda: "WATCHDOG=1" in notify.lines()[stalled_at:], 20)
    finally:
        service.request_stop()
        thread.join(60)
        notify.close()
    assert "STOPPING=1" in notify.lines()


def _run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip().splitlines()


def test_startup_problems_give_exit_2_and_one_line_each(
    pki: DevPki,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = str(write_config(tmp_path / "agent.toml", pki))
    # The detector the config names is not there: say so, do not pretend to read.
    monkeypatch.setenv("ANPR_RECOGNITION__DETECTOR_CARD", str(tmp_path / "gone.card.json"))
    code, lines = _run_main(["run", "--config", config], capsys)
    assert code == 2
    assert len(lines) == 1
    assert "recognition.detector_card" in lines[0]
    monkeypatch.delenv("ANPR_RECOGNITION__DETECTOR_CARD")
    # A signing key others can read.
    loose = tmp_path / "loose.key"
    loose.write_bytes(pki.path("device-sign.key").read_bytes())
    loose.chmod(0o644)
    monkeypatch.setenv("ANPR_KEYS__SIGNING_KEY", str(loose))
    code, lines = _run_main(["run", "--config", config, "--drain-only"], capsys)
    assert code == 2
    assert len(lines) == 1
    assert "chmod 600" in lines[0]
    # A key named as a systemd credential outside systemd.
    monkeypatch.setenv("ANPR_KEYS__SIGNING_KEY", "credential:device-sign.key")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    code, lines = _run_main(["run", "--config", config, "--drain-only"], capsys)
    assert code == 2
    assert len(lines) == 1
    assert "CREDENTIALS_DIRECTORY" in lines[0]
    monkeypatch.delenv("ANPR_KEYS__SIGNING_KEY")
    # A journal file that is not ours.
    foreign = tmp_path / "foreign.sqlite"
    foreign.write_bytes(b"not a database at all, but an operator's notes\n")
    monkeypatch.setenv("ANPR_JOURNAL__PATH", str(foreign))
    code, lines = _run_main(["run", "--config", config, "--drain-only"], capsys)
    assert code == 2
    assert len(lines) == 1
    assert "not a SQLite database" in lines[0]
    assert foreign.read_bytes().startswith(b"not a database")
    monkeypatch.delenv("ANPR_JOURNAL__PATH")
    # A value out of range.
    monkeypatch.setenv("ANPR_SERVICE__HEARTBEAT_S", "1")
    code, lines = _run_main(["run", "--config", config, "--drain-only"], capsys)
    assert code == 2
    assert len(lines) == 1
    assert "service.heartbeat_s" in lines[0]


def test_a_second_agent_on_the_same_journal_is_refused(
    pki: DevPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "agent.toml", pki)
    service = Service(
        load_config(config, {}), options=ServiceOptions(drain_only=True, serve_metrics=False)
    )
    thread = _start(service)
    try:
        env_free = ["run", "--config", str(config), "--drain-only"]
        code, lines = _run_main(env_free, capsys)
        assert code == 2
        assert len(lines) == 1
        assert "in use by another anpr-agent" in lines[0] or "cannot listen" in lines[0]
    finally:
        service.request_stop()
        thread.join(60)
    assert service.exit_code == 0


def test_a_client_cert_near_expiry_warns_in_log_metric_status_and_alarm(
    pki: DevPki, tmp_path: Path, logs: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = load_issued(pki.path("civil-ca.crt"), pki.path("civil-ca.key"))
    crt, key = save_issued(tmp_path, "civil-short", issue_cert(ca, "cam-01", days=11))
    config = write_config(tmp_path / "agent.toml", pki)
    monkeypatch.setenv("ANPR_CIVIL__CERT", str(crt))
    monkeypatch.setenv("ANPR_CIVIL__KEY", str(key))
    loaded = load_config(config, dict(os.environ))
    service = Service(loaded, options=ServiceOptions(drain_only=True))
    thread = _start(service)
    try:
        address = loaded.config.service.metrics_address
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        snap = service.snapshot()
    finally:
        service.request_stop()
        thread.join(60)
    assert re.search(r'anpr_cert_expiry_days\{uplink="civil"\} (9|10)\.0', metrics)
    assert any("civil: client certificate" in a and "renew it" in a for a in snap.alarms)
    assert "expires in" in logs.text()
    civil = status_fields(snap, "civil")
    police = status_fields(snap, "police")
    assert civil["cert_expiry_days"] in {9, 10}
    assert civil["alarms"] == [a for a in snap.alarms if a.startswith("civil")]
    assert int(str(police["cert_expiry_days"])) > 300
    # The civil heartbeat carries no traffic figure that bypasses disclosure control.
    assert not {"reads", "frames", "frames_dropped", "fps"} & set(civil)
