"""Trustworthy time: kernel sync state and wall-clock steps reach alarms, metrics, records."""

from __future__ import annotations

import dataclasses
import threading
import urllib.request
from typing import TYPE_CHECKING

import pytest
from conftest import make_read
from service_rig import backoffice, write_config
from uplink_rig import wait_until

from agent.cli.main import main
from agent.config.load import load_config
from agent.core.timesync import TIME_ERROR, AdjtimexClock, ClockReading, TimeWatch
from agent.journal.db import open_readonly
from agent.journal.records import parse_record
from agent.journal.verify import verify_records
from agent.service import Service, ServiceOptions, status_fields
from simulator.fakes import FakeClock, FakeKernelClock, FakeReadSource

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import JournalKit

    from simulator.broker import Broker
    from simulator.pki import DevPki


def test_the_real_kernel_answers_with_sane_values() -> None:
    state = AdjtimexClock().read()
    assert 0 <= state.state <= TIME_ERROR
    # maxerror is capped by the kernel at NTP_PHASE_LIMIT (16 s) and grows from 0.
    assert 0 <= state.maxerror_us <= 16_000_000
    assert 0 <= state.esterror_us <= 16_000_000
    assert state.synced == (state.state != TIME_ERROR)


def test_an_unsynchronised_clock_raises_an_alarm_until_it_is_synchronised() -> None:
    kernel = FakeKernelClock(synced=False, maxerror_us=16_000_000)
    watch = TimeWatch(kernel, FakeClock(), step_bound_ms=1000)
    watch.sample()
    assert any("clock not synchronised" in a and "16 s" in a for a in watch.alarms)
    assert watch.reading() == ClockReading(synced=False, maxerror_us=16_000_000, step_ms=0)
    kernel.synced, kernel.maxerror_us = True, 1_500
    watch.sample()
    assert watch.alarms == ()
    assert watch.reading() == ClockReading(synced=True, maxerror_us=1_500, step_ms=0)


def test_a_step_above_the_bound_is_an_alarm_and_marks_the_next_read_only() -> None:
    clock = FakeClock()
    watch = TimeWatch(FakeKernelClock(), clock, step_bound_ms=1000)
    watch.sample()
    clock.advance(1.0)
    clock.step_wall(0.4)  # under the bound: a slew, not a step
    watch.sample()
    assert not watch.alarms
    clock.advance(1.0)
    clock.step_wall(-3.25)
    watch.sample()
    assert any("clock stepped by -3.250 s" in a for a in watch.alarms)
    assert watch.steps == 1
    assert watch.reading().step_ms == -3250  # the read after the step says so
    assert watch.reading().step_ms == 0  # and only that one
    clock.advance(3601.0)
    watch.sample()
    assert watch.alarms == ()  # the alarm holds an hour


def test_an_unreadable_kernel_state_is_an_alarm_and_reads_say_unknown() -> None:
    kernel = FakeKernelClock()
    kernel.refuse = PermissionError(1, "Operation not permitted")
    watch = TimeWatch(kernel, FakeClock(), step_bound_ms=1000)
    assert watch.reading() == ClockReading(synced=None, maxerror_us=None, step_ms=0)
    assert any("clock state unreadable" in a for a in watch.alarms)


def test_the_clock_state_is_in_the_signed_body_of_a_read(kit: JournalKit) -> None:
    journal = kit.open()
    clock = ClockReading(synced=False, maxerror_us=250_000, step_ms=-3250)
    journal.append_read(dataclasses.replace(make_read(), clock=clock))
    journal.append_read(make_read())  # a source that says nothing: no field
    kit.close()
    with open_readonly(kit.path, "cam-01") as store:
        wires = [r.wire for r in store.iter_records("reads")]
    first, second = parse_record(wires[0]), parse_record(wires[1])
    assert first.body["clock"] == {"synced": False, "maxerror_us": 250_000, "step_ms": -3250}
    assert "clock" not in second.body
    verifier, problems = verify_records("cam-01", "reads", kit.keys, wires)
    assert problems == []
    assert verifier.verified == len(wires)
    # Changing the clock field breaks the signature: it is evidence, not decoration.
    forged = wires[0].replace(b'"synced":false', b'"synced":true')
    _, problems = verify_records("cam-01", "reads", kit.keys, [forged, *wires[1:]])
    assert problems


@pytest.mark.broker
def test_the_agent_marks_reads_alarms_metrics_and_status_when_unsynchronised(
    police: Broker,
    civil: Broker,
    pki: DevPki,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path / "agent.toml", pki, police=police.url, civil=civil.url)
    loaded = load_config(config, {})
    source = FakeReadSource([make_read(f"1ABC{i:03d}") for i in range(5)])
    office = backoffice(pki, police.url)
    office.start()
    kernel = FakeKernelClock(synced=False, maxerror_us=3_000_000)
    service = Service(
        loaded, source, options=ServiceOptions(tick_s=0.1, stall_after_s=60), kernel_clock=kernel
    )
    thread = threading.Thread(target=service.run)
    thread.start()
    try:
        assert source.finished.wait(30)
        assert office.wait_complete("cam-01", 5, timeout=30)
        snap = service.snapshot()
        address = loaded.config.service.metrics_address
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert wait_until(lambda: office.status.get("cam-01", {}).get("clock_synced") is False, 30)
        capsys.readouterr()
        assert main(["status", "--config", str(config)]) == 1  # an alarm
        console = capsys.readouterr().out
    finally:
        service.request_stop()
        thread.join(60)
        office.stop()
    assert any("clock not synchronised" in a for a in snap.alarms)
    assert "clock    NOT synchronised, kernel max error 3000 ms, 0 step(s)" in console
    assert "clock not synchronised" in console
    assert "anpr_clock_synced 0.0" in metrics
    assert "anpr_clock_maxerror_seconds 3.0" in metrics
    assert 'line="clock not synchronised' in metrics
    police_status = status_fields(snap, "police")
    assert police_status["clock_maxerror_us"] == 3_000_000
    assert any("clock not synchronised" in str(a) for a in police_status["alarms"])  # type: ignore[attr-defined]
    assert "clock_synced" not in status_fields(snap, "civil")
    with open_readonly(loaded.config.journal.path, "cam-01") as store:
        bodies = [parse_record(r.wire).body for r in store.iter_records("reads")]
    reads = [b for b in bodies if b["type"] == "read"]
    assert len(reads) == 5
    assert all(
        b["clock"] == {"synced": False, "maxerror_us": 3_000_000, "step_ms": 0} for b in reads
    )
